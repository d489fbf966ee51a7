import { readFileSync } from 'node:fs';

/**
 * The tool's version, from package.json (one place: --version, emitted SQL headers). Two levels up
 * from dist/core/ (tsc) and from dist/bundle/ (the CLI bundle) alike.
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
