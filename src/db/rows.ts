import { DatabaseError } from '../errors.js';

/** Rows as the core sees them: every integer exact (bigint), whatever the column type. */

export interface SettingRow {
  id: bigint;
  status: string | null;
  /**
   * Whether the status is the deleted one, as the server compares it (db/builder.ts deletedTest,
   * under the column's collation: case, trailing spaces and accents as it treats them).
   */
  deleted: boolean;
  /** The cached value of each audited counter, by counter name; null for a NULL cache. */
  cached: Record<string, bigint | null>;
}

export interface ChildCount {
  /** null for child rows whose setting id is NULL (never any setting's). */
  settingId: bigint | null;
  count: bigint;
}

/**
 * Which settings a statement covers: a half-open id range (after, upTo], or a list of ids. A range
 * may carry `points`: ids in it (ascending; settings or not) whose children a branch in the
 * 'points' form (db/builder.ts BranchForm) counts one id at a time.
 */
export type IdScope =
  | { kind: 'range'; after: bigint | null; upTo: bigint | null; points?: readonly bigint[] | undefined }
  | { kind: 'ids'; ids: readonly bigint[] };

/** An integer as the server writes one: digits, a sign for a negative, no leading zero. */
const INTEGER_TEXT = /^(?:0|-?[1-9][0-9]*)$/;

/** Whether `text` is an integer as the server writes one (toBigInt takes it). */
export function isIntegerText(text: string): boolean {
  return INTEGER_TEXT.test(text);
}

/**
 * An integer the server returned (an id, a count, a cached counter). Anything else is the data's
 * problem, not a bug: a text key holding '010' or '10.0' where a setting's id is read, a counter
 * column holding '5.00'. BigInt() would take ' 10' and '010' as 10, and throw on the rest (exit 70).
 */
export function toBigInt(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && INTEGER_TEXT.test(value)) return BigInt(value);
  if (typeof value !== 'string' && typeof value !== 'number') throw new TypeError(`expected an integer from the server, got ${typeof value}`);
  const text = String(value);
  throw new DatabaseError(
    `The server returned '${text.length > 40 ? `${text.slice(0, 40)}…` : text}' where coupon-audit reads an integer (a setting's id, a count or a cached counter): ` +
      'key and counter columns must hold integers written as digits (a text id such as 010, 10.0 or x is none).',
  );
}

export function toBigIntOrNull(value: unknown): bigint | null {
  return value === null || value === undefined ? null : toBigInt(value);
}

export function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
