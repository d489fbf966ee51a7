import type { CounterWrite } from '../db/builder.js';
import type { SettingRow } from '../db/rows.js';
import type { DriftReport } from './detect-drift.js';
import type { AuditScope, CounterDefinition, CounterModel } from './model.js';

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
  /**
   * The counters whose count its column cannot hold (pastColumn), when there are any: repair leaves
   * the setting (core/repair.ts), a plan or a change script leaves it out (plan.ts planChanges).
   */
  unfit?: string[];
}

/**
 * Whether `count` is past the most the counter's column holds (model.ts cacheMax, read from the
 * server; unknown: never): the one rule for what repair cannot write.
 */
export function pastColumn(counter: CounterDefinition, count: bigint): boolean {
  return counter.cacheMax !== undefined && count > counter.cacheMax;
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
  const unfit: string[] = [];
  for (const counter of scope.counters) {
    const { name } = counter;
    const count = (actual instanceof Map ? actual.get(name) : (actual as Record<string, bigint>)[name]) ?? 0n;
    counters[name] = { cached: setting.cached[name] ?? null, actual: count, expected: zero ? 0n : count };
    if (pastColumn(counter, counters[name].expected)) unfit.push(name);
  }
  const result: DriftedSetting = { id: setting.id, status: setting.status, deleted: setting.deleted, counters, ...(unfit.length > 0 ? { unfit } : {}) };
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

/**
 * One sentence per counter of a full scan that counted no child row for any setting, where that
 * is suspect:
 * - its rows all name no setting or hold NULL there: its foreignKey is most likely another column
 *   (a code, a column a migration never filled), and a repair would write 0 into every cache of
 *   it. check and dry runs warn; repair refuses where it would write that counter (core/run.ts,
 *   `refuse`);
 * - no row passes its where, or its table has no row at all, while settings cache counts for it
 *   (`drifting`: the counters some drifted setting would have written): a misspelt filter, a
 *   table named by mistake (an empty archive), or truly none yet. Only a warning: they cannot be
 *   told apart. An empty child table whose settings all cache 0 says nothing.
 */
export function foreignKeyDoubts(
  report: Pick<DriftReport<{ id: bigint }>, 'orphans'>,
  model: CounterModel,
  drifting: ReadonlySet<string>,
): { counter: string; message: string; refuse: boolean }[] {
  const doubts: { counter: string; message: string; refuse: boolean }[] = [];
  for (const orphan of report.orphans ?? []) {
    if (orphan.namesSettings !== false) continue;
    const rows = orphan.rows + orphan.nullSettingId;
    const counter = model.counters.find((one) => one.name === orphan.counter)!;
    const fk = counter.foreignKey;
    if (rows > 0n) {
      const why = orphan.nullSettingId === 0n ? 'all are orphans' : orphan.rows === 0n ? `${fk} is NULL in every one` : `${orphan.rows} ${orphan.rows === 1n ? 'names' : 'name'} no setting, ${orphan.nullSettingId} ${orphan.nullSettingId === 1n ? 'holds' : 'hold'} NULL`;
      const message = `counter ${counter.name}: none of the ${rows} rows of ${counter.table} it counts names a setting by ${fk} (${why}); is ${fk} the column that holds the ${model.settings.table} id?`;
      doubts.push({ counter: counter.name, message, refuse: true });
    } else if (drifting.has(counter.name)) {
      // Nothing counted, yet caches to zero: a misspelt filter, or a table named by mistake (an
      // empty archive table), or truly none yet. A warning only: an emptied table is real too.
      const message =
        counter.where !== null
          ? `counter ${counter.name} counts no row of ${counter.table} (none passes its where: ${counter.where}), yet settings cache a count for it; is the where right? (repair writes 0 into them)`
          : `counter ${counter.name} counts no row of ${counter.table} (the table is empty), yet settings cache a count for it; is ${counter.table} the table that holds them? (repair writes 0 into them)`;
      doubts.push({ counter: counter.name, message, refuse: false });
    }
  }
  return doubts;
}

/**
 * foreignKeyDoubts' sentences for a report that holds every drifted setting (check, a dry run,
 * --emit-sql), with the counters those settings would have written.
 */
export function scanDoubts(report: Pick<DriftReport<DriftedSetting>, 'orphans' | 'drifted' | 'unfit'>, model: CounterModel): string[] {
  return [...foreignKeyDoubts(report, model, driftingCounters(report.drifted)).map((doubt) => doubt.message), ...unfitDoubts(report, model)];
}

/**
 * One sentence per counter whose column cannot hold some drifted setting's count (detect-drift.ts
 * UnfitCounts): repair leaves those settings, named, and writes the rest (core/repair.ts).
 */
export function unfitDoubts(report: Pick<DriftReport<{ id: bigint }>, 'unfit'>, model: CounterModel): string[] {
  return (report.unfit ?? []).map((entry) => {
    const column = `${model.settings.table}.${entry.counter}`;
    const examples = entry.first.map((one) => `setting ${one.id}: ${one.count}`).join(', ');
    const settings = entry.settings === 1 ? '1 drifted setting counts' : `${entry.settings} drifted settings count`;
    return `counter ${entry.counter}: ${settings} past the most ${column} holds, ${entry.max} (${entry.settings > entry.first.length ? 'e.g. ' : ''}${examples}); repair leaves ${entry.settings === 1 ? 'it' : 'them'} (exit 4) until the column is widened.`;
  });
}

/** The counters these drifted settings would have written (isCounterDrifted). */
export function driftingCounters(drifted: readonly DriftedSetting[]): Set<string> {
  const names = new Set<string>();
  for (const setting of drifted) noteDriftingCounters(setting, names);
  return names;
}

/** Adds to `names` the counters this drifted setting would have written. */
export function noteDriftingCounters(setting: DriftedSetting, names: Set<string>): void {
  for (const name in setting.counters) if (isCounterDrifted(setting.counters[name]!)) names.add(name);
}
