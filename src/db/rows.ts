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

export function toBigInt(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(value);
  if (typeof value === 'string') return BigInt(value);
  throw new TypeError(`expected an integer from the server, got ${typeof value}`);
}

export function toBigIntOrNull(value: unknown): bigint | null {
  return value === null || value === undefined ? null : toBigInt(value);
}

export function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
