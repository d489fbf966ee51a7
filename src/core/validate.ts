import { UsageError } from '../errors.js';
import { type CounterModel, DELETED_POLICIES, type DeletedPolicy, findCounter } from './model.js';

/**
 * Validation of run options, shared by the CLI's flag parsers and the library API, so a value means
 * the same and fails the same way (UsageError, exit 2) whichever way it came in.
 */

/** The widest id a settings key can hold: DECIMAL(65,0), MySQL's and MariaDB's widest integer (the audit table's settingId is one). */
const ID_MAX = 10n ** 65n - 1n;

/** A setting id, exact at any size: a bigint, a safe integer, or a string of digits. */
export function settingId(value: string | number | bigint): bigint {
  let id: bigint;
  if (typeof value === 'bigint') id = value;
  else if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new UsageError(`${value} is not a setting id (a whole number).`);
    if (!Number.isSafeInteger(value)) throw new UsageError(`${value} is past 2^53, where a number is not exact: pass such an id as a string or a bigint.`);
    id = BigInt(value);
  } else {
    const text = value.trim();
    if (!/^-?\d+$/.test(text)) throw new UsageError(`'${value}' is not a setting id (a whole number).`);
    id = BigInt(text);
  }
  // Past BIGINT too: a DECIMAL(30,0) key holds ids that a full check reports, and --ids must reach them.
  if (id > ID_MAX || id < -ID_MAX) throw new UsageError(`'${value}' is out of range for a setting id (at most 65 digits).`);
  return id;
}

/**
 * Why `name` cannot name the audit table, or null. Repair creates it in the --url database as one
 * escaped name: a dot would read as database.table to a person (`other.audit` would be made as
 * `` `other.audit` `` in this database), so it is refused, as an empty or over-long name.
 */
export function auditTableNameProblem(name: string): string | null {
  if (name.trim() === '' || name.length > 64 || name.includes('\0')) return 'expected a table name of 1 to 64 characters';
  if (name.includes('.')) return `'${name}' has a dot: give a table name in the --url database, without a database prefix`;
  return null;
}

export interface IntRange {
  min: number;
  max: number;
}

/** A whole number within `range`, or a UsageError naming the option and the range. */
export function wholeNumber(option: string, value: string | number, range: IntRange): number {
  const text = String(value).trim();
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < range.min || n > range.max) {
    throw new UsageError(`${option} expects a whole number from ${range.min} to ${range.max} (got '${value}').`);
  }
  return n;
}

/** Counter names (--columns) checked against the model; case-insensitive; the model's spelling is kept. */
export function counterNames(model: CounterModel, names: readonly string[]): string[] {
  const chosen: string[] = [];
  for (const name of names) {
    const counter = findCounter(model, name);
    if (counter === undefined) {
      throw new UsageError(`'${name}' is not a counter; use ${model.counters.map((c) => c.name).join(', ')}.`);
    }
    if (!chosen.includes(counter.name)) chosen.push(counter.name);
  }
  if (chosen.length === 0) throw new UsageError(`name at least one counter: ${model.counters.map((c) => c.name).join(', ')}.`);
  return chosen;
}

export function deletedPolicy(value: string): DeletedPolicy {
  const policy = DELETED_POLICIES.find((candidate) => candidate === value);
  if (policy === undefined) throw new UsageError(`deleted must be one of ${DELETED_POLICIES.join(', ')} (got '${value}').`);
  return policy;
}
