import { InvalidArgumentError } from 'commander';
import { type LoadLimit, parseLoadLimits } from '../core/throttle.js';
import { auditTableNameProblem, type IntRange, settingId } from '../core/validate.js';

/** Commander argument parsers: each throws InvalidArgumentError, which the CLI maps to exit 2. */


export function nonNegativeSeconds(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value.trim())) throw new InvalidArgumentError('expected a number of seconds.');
  return Number(value);
}

/** `--ids 1,2,3`: integers, exact at any size; repeated flags accumulate. */
export function settingIds(value: string, previous: bigint[] | undefined): bigint[] {
  const parts = value.split(',').map((part) => part.trim());
  if (parts.length === 0 || parts.some((part) => part === '')) {
    throw new InvalidArgumentError('expected a comma-separated list of setting ids, like 1,2,3.');
  }
  return [...(previous ?? []), ...parts.map((part) => usage(() => settingId(part)))];
}

/** `--columns issuedCount,usedCount`: counter names, checked against the model once it is loaded; repeated flags accumulate. */
export function counterList(value: string, previous: string[] | undefined): string[] {
  const names = value.split(',').map((part) => part.trim());
  // As --ids: an empty entry ('issuedCount,', 'a,,b') is a mistake, not nothing.
  if (names.some((part) => part === '')) throw new InvalidArgumentError('expected a comma-separated list of counter names, like issuedCount,usedCount.');
  return [...(previous ?? []), ...names];
}

/** A parser for a whole number in `range`, with the range in its message (and in --help). */
export function wholeNumberIn(range: IntRange) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < range.min || Number(value) > range.max) {
      throw new InvalidArgumentError(`expected a whole number from ${range.min} to ${range.max}.`);
    }
    return Number(value);
  };
}

function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** A table name for --audit-table: any name is escaped, but an empty or absurd one is a mistake. */
export function tableName(value: string): string {
  const problem = auditTableNameProblem(value);
  if (problem !== null) throw new InvalidArgumentError(`${problem}.`);
  return value;
}

/** `--notify-url`: an http(s) URL; the message never echoes it whole (webhook URLs carry tokens). */
export function webhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected an http:// or https:// URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('expected an http:// or https:// URL.');
  return value;
}

/** `--emit-sql FILE`: a path to write; its directory is checked before anything is read. */
export function outputFile(value: string): string {
  if (value.trim() === '' || value.includes('\0')) throw new InvalidArgumentError('expected a file path to write.');
  // '-' is stdout to most tools; here it would be a file named '-', and stdout has the plan.
  if (value === '-') throw new InvalidArgumentError("expected a file path to write ('-' is not stdout here: stdout has the plan; write to a file, then read it).");
  return value;
}

/** `--metrics-file PATH`: a path (an empty one was taken, and every run warned that it could not write ''). */
export function metricsFile(value: string): string {
  if (value.trim() === '' || value.includes('\0')) throw new InvalidArgumentError('expected a file path to write.');
  return value;
}

/** A number of seconds within `range` (fractions allowed, '.5' too), with the range in its message (and in --help). */
export function secondsIn(range: { min: number; max: number }) {
  return (value: string): number => {
    if (!/^(\d+(\.\d+)?|\.\d+)$/.test(value.trim()) || Number(value) < range.min || Number(value) > range.max) {
      throw new InvalidArgumentError(`expected a number of seconds from ${range.min} to ${range.max}.`);
    }
    return Number(value);
  };
}

/** `--max-load Threads_running=25` (comma-separated for several; `none` for no limit). */
export function loadLimits(option: string) {
  return (value: string): LoadLimit[] => usage(() => parseLoadLimits(option, value));
}

/** `--replica-url`: checked whole when the run resolves it; an empty value is a mistake, not "use DATABASE_URL". */
export function replicaUrl(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('expected mysql://user:password@replica-host:3306/db.');
  return value;
}
