import { readFileSync } from 'node:fs';

/** The project's sql/ directory, beside dist/ (and src/) in the package. */
export const SQL_DIR = new URL('../../sql/', import.meta.url);

/** A file from sql/, split into statements. */
export function readSqlScript(name: string): string[] {
  return splitSqlScript(readFileSync(new URL(name, SQL_DIR), 'utf8'));
}

/**
 * Splits our own SQL files into statements: `--` comment lines dropped, `;` at the end of a line
 * ends a statement. Enough for sql/ (no procedures, no `;` inside strings at a line end); not a parser.
 */
export function splitSqlScript(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n')
    .split(/;\s*$/m)
    .map((statement) => statement.trim())
    .filter((statement) => statement !== '');
}
