import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';

/**
 * Loads the CLI bundle (dist/bundle, written by src/build/bundle.ts) the way Node loads a CommonJS
 * file, but compiled with a V8 code cache: `<file>.cache` beside each file, written by the build.
 * Node 20 keeps no compile cache of its own, and compiling the bundle was about a fifth of
 * `--version`'s time. A cache V8 rejects (another Node, other V8 flags) only costs the compile it
 * would have saved. bin/coupon-audit uses this; so does the build, to write the caches.
 *
 * V8 checks a cache against the source's length only, so a file edited after the build without
 * changing its length would still run the cached code. Each cache therefore starts with the file
 * it was made from, compared byte for byte before it is used (about 0.5 ms for main.cjs: loading
 * node:crypto for a digest cost 5 ms, node:zlib for a CRC 2 ms, a hash in JavaScript 4 ms; file
 * times cannot tell, as npm extracts a package's files in no set order).
 */

/** How a loaded file was compiled: with its cache, or without (V8 rejected it; made from other contents; none). */
export type CacheUse = 'accepted' | 'rejected' | 'stale' | 'absent';

export interface LoadedFile {
  name: string;
  cache: CacheUse;
  script: Script;
}

export interface BundleLoader {
  /** Loads `name` (a file in the bundle's directory) once, and returns its exports. */
  load(name: string): unknown;
  /** The files loaded so far, in load order. */
  readonly loaded: readonly LoadedFile[];
  /** Writes `<file>.cache` for every file loaded so far, from what V8 has compiled of it by now. */
  writeCaches(): void;
}

/**
 * A require of another file of the bundle (`./mysql2.cjs`), or of one module in it
 * (`./run.cjs#dist/core/run.js`: src/build/bundle.ts crossFile); anything else is Node's require.
 */
const BUNDLE_FILE = /^\.\/([\w.-]+\.cjs)(?:#(.+))?$/;

export function bundleLoader(dir: string): BundleLoader {
  const loaded: LoadedFile[] = [];
  const modules = new Map<string, { exports: unknown }>();

  function load(name: string): unknown {
    const known = modules.get(name);
    if (known !== undefined) return known.exports;
    const file = join(dir, name);
    const bytes = readFileSync(file);
    const source = bytes.toString('utf8');
    const cache = readCache(file, bytes);
    // Node's own CommonJS wrapper, on the first line so that line numbers in stack traces hold. The
    // name stack traces show is the same wherever the package is: V8 keeps the one a cache was
    // made with (the build's path) over the one given here.
    const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, {
      filename: `coupon-audit/dist/bundle/${name}`,
      ...(cache.data === undefined ? {} : { cachedData: cache.data }),
    });
    loaded.push({ name, script, cache: cache.data === undefined ? cache.use : script.cachedDataRejected === true ? 'rejected' : 'accepted' });
    const module = { exports: {} as unknown };
    // Known before it runs, as in Node: a file required while it is still running (two files
    // requiring each other) gives its module.exports as they stand then, replaced or not.
    modules.set(name, module);
    const nodeRequire = createRequire(file);
    const bundleRequire = Object.assign((id: string): unknown => (BUNDLE_FILE.test(id) ? requireBundled(id) : nodeRequire(id)), {
      resolve: nodeRequire.resolve,
      cache: nodeRequire.cache,
    });
    const wrapper = script.runInThisContext() as (exports: unknown, require: unknown, module: unknown, filename: string, dirname: string) => void;
    wrapper.call(module.exports, module.exports, bundleRequire, module, file, dir);
    return module.exports;
  }

  function requireBundled(id: string): unknown {
    const [, name, key] = BUNDLE_FILE.exec(id) as RegExpExecArray;
    const exported = load(name as string);
    if (key === undefined) return exported;
    const get = (exported as { modules?: Record<string, () => unknown> }).modules?.[key];
    if (get === undefined) throw new Error(`${name} has no module ${key}: the bundle is inconsistent; rebuild it (npm run build)`);
    return get();
  }

  return {
    load,
    loaded,
    writeCaches() {
      for (const { name, script } of loaded) {
        const file = join(dir, name);
        writeFileSync(`${file}.cache`, cacheContents(readFileSync(file), script.createCachedData()));
      }
    },
  };
}

/** `<file>.cache`: the length (u32 LE) and bytes of the file it was made from, then V8's data. */
export function cacheContents(source: Buffer, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32LE(source.length);
  return Buffer.concat([length, source, data]);
}

/** The V8 data of `<file>.cache` (cacheContents) when it was made from `bytes`. */
function readCache(file: string, bytes: Buffer): { data?: Buffer; use: CacheUse } {
  let cache: Buffer;
  try {
    cache = readFileSync(`${file}.cache`);
  } catch {
    return { use: 'absent' }; // a build without caches: compile as Node would
  }
  const end = 4 + bytes.length;
  const same = cache.length > end && cache.readUInt32LE(0) === bytes.length && bytes.equals(cache.subarray(4, end));
  return same ? { data: cache.subarray(end), use: 'accepted' } : { use: 'stale' };
}
