import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from './helpers/cli.js';
import { ROOT, SERVER_URL } from './helpers/database.js';

/**
 * The CLI bundle as bin/coupon-audit loads it (src/build/bundle.ts, src/build/load-bundle.cts):
 * CommonJS files compiled with the build's V8 code caches, and mysql2's rarely used dependencies
 * in files of their own, loaded when first used. Each check runs in a plain `node` (no vitest
 * flags), as the CLI runs.
 */

const BUNDLE = join(ROOT, 'dist/bundle');
const LOADER = join(ROOT, 'dist/build/load-bundle.cjs');

const { cacheContents } = createRequire(import.meta.url)(LOADER) as { cacheContents: (source: Buffer, data: Buffer) => Buffer };

/**
 * Runs `script` (CommonJS) in a plain node and returns what it prints (JSON). Defined for it:
 * `loader` (over `bundle`); `names()` and `uses()`, the files loaded so far and how each was
 * compiled; `runMain(argv)`, main.cjs's main() off a terminal, resolving to its code and output.
 */
function inNode(script: string, env: Record<string, string> = {}, bundle = BUNDLE): unknown {
  const prelude = `
    const { bundleLoader } = require(${JSON.stringify(LOADER)});
    const loader = bundleLoader(${JSON.stringify(bundle)});
    const names = () => loader.loaded.map((f) => f.name);
    const uses = () => Object.fromEntries(loader.loaded.map((f) => [f.name, f.cache]));
    const runMain = (argv) => {
      const out = [];
      const sink = { write: (text) => (out.push(text), true), isTTY: false };
      return loader.load('main.cjs').main(argv, { stdout: sink, stderr: sink, stdin: { isTTY: false }, env: {} }).then((code) => ({ code, out: out.join('') }));
    };
`;
  const out = execFileSync(process.execPath, ['-e', prelude + script], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' });
  return JSON.parse(out);
}

describe('the CLI bundle', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const scratch = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'coupon-audit-bundle-'));
    dirs.push(dir);
    return dir;
  };
  /** A copy of dist/bundle, with package.json two levels up where --version reads it; its bundle directory. */
  const bundleCopy = (): string => {
    const root = scratch();
    cpSync(BUNDLE, join(root, 'dist/bundle'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(root, 'package.json'));
    return join(root, 'dist/bundle');
  };

  it('is compiled with the code caches the build wrote, and --version answers through it', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(execFileSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' }).trim()).toBe(version);
    const used = inNode(`loader.load('main.cjs'); loader.load('mysql2.cjs'); console.log(JSON.stringify(uses()));`);
    expect(used).toEqual({ 'main.cjs': 'accepted', 'mysql2.cjs': 'accepted' });
  });

  it('starts with main.cjs alone; a command loads run.cjs, whose errors main.cjs maps as its own', () => {
    const script = `
      (async () => {
        const version = await runMain(['--version']);
        const atStart = names();
        // Nothing listens on port 9: the driver's refusal becomes the tool's connection error, exit 3.
        const check = await runMain(['check', '--url', 'mysql://root@127.0.0.1:9/none']);
        console.log(JSON.stringify({ version: version.code, atStart, check: check.code, after: names().sort(), said: check.out }));
      })();`;
    const result = inNode(script) as { version: number; atStart: string[]; check: number; after: string[]; said: string };
    expect(result.version).toBe(0);
    expect(result.atStart).toEqual(['main.cjs']);
    expect(result.check).toBe(3);
    expect(result.said).toMatch(/^coupon-audit: /);
    expect(result.said).not.toContain('internal error');
    expect(result.after).toEqual(['chalk.cjs', 'cli-table3.cjs', 'main.cjs', 'mysql2.cjs', 'run.cjs']);
  });

  it('leaves stdin alone unless a prompt needs it: --version off a terminal loads no file stream or readline', () => {
    // Node builds process.stdin on first access; for /dev/null (cron, a spawn with stdin ignored)
    // that loads fs streams, fs/promises and readline: milliseconds of every run that never reads it.
    const list = join(scratch(), 'modules.json');
    const hook = join(scratch(), 'hook.cjs');
    writeFileSync(hook, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, JSON.stringify(process.moduleLoadList)));`);
    execFileSync(process.execPath, ['-r', hook, BIN, '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const loaded = JSON.parse(readFileSync(list, 'utf8')) as string[];
    expect(loaded).toContain('NativeModule vm'); // the list is the run's (the loader compiles with vm)
    expect(loaded.filter((name) => /internal\/fs\/streams|readline/.test(name))).toEqual([]);
  });

  it('a reader that closes the pipe early ends no run with a crash: the run keeps its own exit code', async () => {
    for (const argv of [['sql'], ['--help']]) {
      const child = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '' } });
      child.stdout.destroy(); // as `| head -0` would: nothing read, the pipe closed
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect({ argv, code, stderr }).toEqual({ argv, code: 0, stderr: '' });
    }
  });

  it('compiles from source when a cache is missing or not V8 data, and runs the same', () => {
    const copy = bundleCopy();
    // A cache made from main.cjs as it is, holding what V8 cannot use.
    writeFileSync(join(copy, 'main.cjs.cache'), cacheContents(readFileSync(join(copy, 'main.cjs')), Buffer.from('not a code cache')));
    rmSync(join(copy, 'chalk.cjs.cache'));
    const script = `
      runMain(['--version']).then(({ code, out }) => {
        loader.load('chalk.cjs');
        console.log(JSON.stringify({ code, out, uses: uses() }));
      });`;
    const result = inNode(script, {}, copy) as { code: number; out: string; uses: Record<string, string> };
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(result.uses).toEqual({ 'main.cjs': 'rejected', 'chalk.cjs': 'absent' });
  });

  it('has no default export in the tool: across main.cjs and run.cjs an import would get the whole module', () => {
    // esbuild gives an ES module's require of another file Node's meaning (default = module.exports),
    // so a default import across the split would not see the default export (src/build/bundle.ts crossFile).
    const src = join(ROOT, 'src');
    const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((file) => /\.c?ts$/.test(file));
    expect(files.length).toBeGreaterThan(50);
    const withDefault = files.filter((file) => /^export default\b|^export \{[^}]*\bdefault\b/m.test(readFileSync(join(src, file), 'utf8')));
    expect(withDefault).toEqual([]);
  });

  it('gives a file required while it is still running its module.exports as they stand, as Node does', () => {
    const dir = scratch();
    // a.cjs replaces module.exports (as esbuild's output does), then requires b.cjs, which asks a.cjs for a module.
    writeFileSync(join(dir, 'a.cjs'), "module.exports = { modules: { k: () => 'from a' } };\nmodule.exports.b = require('./b.cjs');\n");
    writeFileSync(join(dir, 'b.cjs'), "module.exports = require('./a.cjs#k');\n");
    expect(inNode(`console.log(JSON.stringify(loader.load('a.cjs').b));`, {}, dir)).toBe('from a');
  });

  it('compiles a file changed after the build from its source, not from the cache made from the old one', () => {
    const copy = bundleCopy();
    // The same length: V8's own check of a cache (the source's length) would accept it.
    const main = join(copy, 'main.cjs');
    const source = readFileSync(main, 'utf8');
    expect(source).toContain('USAGE: 2,');
    writeFileSync(main, source.replace('USAGE: 2,', 'USAGE: 9,'));
    const script = `runMain(['--no-such-option']).then(({ code }) => console.log(JSON.stringify({ code, uses: uses() })));`;
    expect(inNode(script, {}, copy)).toEqual({ code: 9, uses: { 'main.cjs': 'stale' } });
  });

  it('loads the driver without its error names, and names a server error when one comes', () => {
    const script = `
      (async () => {
        const mysql = loader.load('mysql2.cjs');
        const connection = await mysql.createConnection(process.env.URL);
        const before = names();
        const error = await connection.query('SELEKT 1').catch((caught) => caught);
        await connection.end();
        console.log(JSON.stringify({ code: error.code, errno: error.errno, before, after: names() }));
      })();`;
    expect(inNode(script, { URL: SERVER_URL })).toEqual({
      code: 'ER_PARSE_ERROR',
      errno: 1064,
      before: ['mysql2.cjs'],
      after: ['mysql2.cjs', 'mysql2-errors.cjs'],
    });
  });

  it("loads iconv-lite only when the server sends a charset Node cannot decode, and decodes it", () => {
    // character_set_results cp1251: mysql2 decodes the text as cp1251, which only iconv-lite knows.
    const script = `
      (async () => {
        const mysql = loader.load('mysql2.cjs');
        const connection = await mysql.createConnection(process.env.URL);
        const [[utf8]] = await connection.query("SELECT '\\u0416\\u0443\\u043a' AS s");
        const before = names();
        await connection.query('SET character_set_results = cp1251');
        const [[cp1251]] = await connection.query("SELECT '\\u0416\\u0443\\u043a' AS s");
        await connection.end();
        console.log(JSON.stringify({ utf8: utf8.s, cp1251: cp1251.s, before, after: names() }));
      })();`;
    const result = inNode(script, { URL: SERVER_URL });
    expect(result).toEqual({
      utf8: 'Жук',
      cp1251: 'Жук',
      before: ['mysql2.cjs'],
      after: ['mysql2.cjs', 'iconv-lite.cjs'],
    });
  });
});
