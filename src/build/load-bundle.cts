import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';

/**
 * Loads the CLI bundle (dist/bundle, written by src/build/bundle.ts) the way Node loads a CommonJS
 * file, but compiled with a V8 code cache: `<file>.cache` beside each file, written by the build.
 * Node 20 keeps no compile cache of its own, and compiling the bundle was about a fifth of
 * `--version`'s time. A cache V8 rejects (another Node or V8 flags; the file changed) only costs
 * the compile it would have saved. bin/coupon-audit uses this; so does the build, to write the caches.
 */

/** How a loaded file was compiled. */
export type CacheUse = 'accepted' | 'rejected' | 'absent';

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

/** A require of another file of the bundle (`./mysql2.cjs`); anything else is Node's require. */
const BUNDLE_FILE = /^\.\/[\w.-]+\.cjs$/;

export function bundleLoader(dir: string): BundleLoader {
  const loaded: LoadedFile[] = [];
  const exportsByName = new Map<string, unknown>();

  function load(name: string): unknown {
    if (exportsByName.has(name)) return exportsByName.get(name);
    const file = join(dir, name);
    const source = readFileSync(file, 'utf8');
    const cachedData = readCache(`${file}.cache`);
    // Node's own CommonJS wrapper, on the first line so that line numbers in stack traces hold.
    const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, {
      filename: file,
      ...(cachedData === undefined ? {} : { cachedData }),
    });
    loaded.push({ name, script, cache: cachedData === undefined ? 'absent' : script.cachedDataRejected === true ? 'rejected' : 'accepted' });
    const module = { exports: {} as unknown };
    // Set before running, as Node does, so that two files requiring each other get the partial exports.
    exportsByName.set(name, module.exports);
    const nodeRequire = createRequire(file);
    const bundleRequire = Object.assign((id: string): unknown => (BUNDLE_FILE.test(id) ? load(id.slice(2)) : nodeRequire(id)), {
      resolve: nodeRequire.resolve,
      cache: nodeRequire.cache,
    });
    const wrapper = script.runInThisContext() as (exports: unknown, require: unknown, module: unknown, filename: string, dirname: string) => void;
    wrapper.call(module.exports, module.exports, bundleRequire, module, file, dir);
    exportsByName.set(name, module.exports);
    return module.exports;
  }

  return {
    load,
    loaded,
    writeCaches() {
      for (const { name, script } of loaded) writeFileSync(join(dir, `${name}.cache`), script.createCachedData());
    },
  };
}

function readCache(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined; // no cache (a build without one): compile as Node would
  }
}
