import { InvalidArgumentError } from 'commander';
import type { Counter } from '../db/database.js';
import { COUNTERS } from '../db/database.js';
import type { DeletedPolicy } from '../core/drift.js';

/** Commander argument parsers: each throws InvalidArgumentError, which the CLI maps to exit 2. */

export function positiveInteger(max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < 1 || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from 1 to ${max}.`);
    }
    return Number(value);
  };
}

export function nonNegativeInteger(max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()) || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from 0 to ${max}.`);
    }
    return Number(value);
  };
}

export function nonNegativeSeconds(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value.trim())) throw new InvalidArgumentError('expected a number of seconds.');
  return Number(value);
}

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);

/** `--ids 1,2,3`: integers, exact at any size; repeated flags accumulate. */
export function settingIds(value: string, previous: bigint[] | undefined): bigint[] {
  const parts = value.split(',').map((part) => part.trim());
  if (parts.length === 0 || parts.some((part) => part === '')) {
    throw new InvalidArgumentError('expected a comma-separated list of setting ids, like 1,2,3.');
  }
  const ids = parts.map((part) => {
    if (!/^-?\d+$/.test(part)) throw new InvalidArgumentError(`'${part}' is not a setting id (a whole number).`);
    const id = BigInt(part);
    if (id > UINT64_MAX || id < INT64_MIN) throw new InvalidArgumentError(`'${part}' is out of range for a BIGINT id.`);
    return id;
  });
  return [...(previous ?? []), ...ids];
}

/** `--columns issuedCount,usedCount`: the counters to audit. */
export function counterList(value: string): Counter[] {
  const wanted = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  const counters: Counter[] = [];
  for (const name of wanted) {
    const counter = COUNTERS.find((candidate) => candidate.toLowerCase() === name.toLowerCase());
    if (counter === undefined) throw new InvalidArgumentError(`'${name}' is not a counter; use issuedCount or usedCount.`);
    if (!counters.includes(counter)) counters.push(counter);
  }
  if (counters.length === 0) throw new InvalidArgumentError('name issuedCount, usedCount or both.');
  return COUNTERS.filter((counter) => counters.includes(counter));
}

export const DELETED_POLICIES: readonly DeletedPolicy[] = ['count', 'zero', 'skip'];

/** A table name for --audit-table: any name is escaped, but an empty or absurd one is a mistake. */
export function tableName(value: string): string {
  if (value.trim() === '' || value.length > 64 || value.includes('\0')) {
    throw new InvalidArgumentError('expected a table name of 1 to 64 characters.');
  }
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
