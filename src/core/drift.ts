import type { CounterWrite } from '../db/builder.js';
import type { SettingRow } from '../db/rows.js';
import type { AuditScope, CounterModel } from './model.js';

/**
 * The drift rule, once: a cache drifts when it is not (NULL-safely) the count it should hold. The
 * detection statement (db/builder.ts comparePageSql) applies the same rule on the server as a
 * filter; what is reported is always decided here.
 */

export interface CounterState {
  /** The cached value; null for a NULL cache. */
  cached: bigint | null;
  /** COUNT(*) of the child rows that count. */
  actual: bigint;
  /** What the cache should hold: `actual`, or 0 for a DELETED setting under --deleted zero. */
  expected: bigint;
}

export interface DriftedSetting {
  id: bigint;
  status: string | null;
  /** The status is the deleted one (SettingRow.deleted: as the server compares it). */
  deleted: boolean;
  /** Every audited counter of the setting, drifted or not, by counter name. */
  counters: Record<string, CounterState>;
}

/** Whether the scope audits this setting at all (--deleted skip leaves DELETED ones out). */
export function isAudited(setting: Pick<SettingRow, 'deleted'>, scope: AuditScope): boolean {
  return !(scope.deleted === 'skip' && setting.deleted);
}

/** A DELETED setting under --deleted zero: its caches should hold 0, whatever its rows. */
function countsAsZero(setting: Pick<SettingRow, 'deleted'>, scope: AuditScope): boolean {
  return scope.deleted === 'zero' && setting.deleted;
}

/** NULL-safe: a NULL cache is drift; so is any value other than the expected one (negatives included). */
export function isCounterDrifted(state: Pick<CounterState, 'cached' | 'expected'>): boolean {
  return state.cached === null || state.cached !== state.expected;
}

export function isDrifted(setting: DriftedSetting): boolean {
  return Object.values(setting.counters).some(isCounterDrifted);
}

/** The setting's audited counters against their true counts (by counter name; absent = 0); null when nothing drifted. */
export function compareSetting(setting: SettingRow, actual: ReadonlyMap<string, bigint> | Record<string, bigint>, scope: AuditScope): DriftedSetting | null {
  if (!isAudited(setting, scope)) return null;
  const zero = countsAsZero(setting, scope);
  const counters: Record<string, CounterState> = {};
  for (const { name } of scope.counters) {
    const count = (actual instanceof Map ? actual.get(name) : (actual as Record<string, bigint>)[name]) ?? 0n;
    counters[name] = { cached: setting.cached[name] ?? null, actual: count, expected: zero ? 0n : count };
  }
  const result: DriftedSetting = { id: setting.id, status: setting.status, deleted: setting.deleted, counters };
  return isDrifted(result) ? result : null;
}

/**
 * What repair writes for the setting, by the same rule as compareSetting: each drifted counter,
 * cached → expected, in scope order; none when nothing drifts or the scope skips the setting.
 * (compareSetting's report of every counter is not made: repair does this for each locked row.)
 */
export function counterWrites(setting: SettingRow, actual: (counter: string) => bigint | undefined, scope: AuditScope): CounterWrite[] {
  const writes: CounterWrite[] = [];
  if (!isAudited(setting, scope)) return writes;
  const zero = countsAsZero(setting, scope);
  for (const { name } of scope.counters) {
    const cached = setting.cached[name] ?? null;
    const expected = zero ? 0n : (actual(name) ?? 0n);
    if (isCounterDrifted({ cached, expected })) writes.push({ settingId: setting.id, counter: name, from: cached, to: expected });
  }
  return writes;
}

/**
 * The kinds of drift a report counts (README "Kinds of drift" maps each to the application bug that
 * leaves it behind). A drifted counter has exactly one: a NULL cache, a negative one, or one above
 * or below what it should hold.
 */
export type CounterDriftKind = 'tooHigh' | 'tooLow' | 'null' | 'negative';

export function counterDriftKind(state: CounterState): CounterDriftKind | null {
  if (!isCounterDrifted(state)) return null;
  if (state.cached === null) return 'null';
  if (state.cached < 0n) return 'negative';
  return state.cached > state.expected ? 'tooHigh' : 'tooLow';
}

/** Δ as the reports print it: cached − expected (+ the cache is too high); null for a NULL cache. */
export function counterDelta(state: Pick<CounterState, 'cached' | 'expected'>): bigint | null {
  return state.cached === null ? null : state.cached - state.expected;
}

/** The setting's largest drift: a NULL cache outranks any number; else the largest |Δ|. */
export function largestDelta(setting: DriftedSetting): bigint | null {
  let largest: bigint | null = 0n;
  for (const state of Object.values(setting.counters)) {
    if (!isCounterDrifted(state)) continue;
    const delta = counterDelta(state);
    if (delta === null) return null;
    if (largest !== null && abs(delta) > abs(largest)) largest = delta;
  }
  return largest;
}

/**
 * Orders deltas for `--sort delta`: NULL caches first (the application cannot even increment
 * them), then the largest absolute Δ first. 0 when they rank the same (the caller breaks ties by id).
 */
export function compareDeltas(a: bigint | null, b: bigint | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  const [x, y] = [abs(a), abs(b)];
  return x > y ? -1 : x < y ? 1 : 0;
}

function abs(value: bigint): bigint {
  return value < 0n ? -value : value;
}
