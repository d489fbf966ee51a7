import { compareIds } from '../db/rows.js';
import type { DriftReport } from './detect-drift.js';
import { compareDeltas, counterDelta, counterDriftKind, type DriftedSetting, isCounterDrifted, largestDelta } from './drift.js';
import type { CounterModel } from './model.js';
import { BATCH_SIZE_RANGE, INITIAL_BATCH_SIZE } from './limits.js';
import type { WrittenChange } from './repair.js';

/**
 * The operator's view of a detection: what repair would write (the plan), how the drift splits by
 * kind, and the orders reports list it in. Pure functions of a DriftReport; nothing here reads the
 * database or prints.
 */

/** One counter repair would write: the value detection saw (`from`) and the one it would write (`to`). */
export type PlannedChange = WrittenChange;

/**
 * What repair would write, from detection: every drifted counter, old → expected, in id order and
 * in the model's counter order within a setting (the order repair writes them in).
 */
export function planChanges(drifted: readonly DriftedSetting[]): PlannedChange[] {
  // A setting whose count its column cannot hold is left by repair (drift.ts pastColumn): not planned.
  return drifted.filter((setting) => setting.unfit === undefined).flatMap((setting) =>
    Object.entries(setting.counters)
      .filter(([, state]) => isCounterDrifted(state))
      .map(([counter, state]) => ({ settingId: setting.id, counter, from: state.cached, to: state.expected })),
  );
}

export interface PlanTotals {
  settings: number;
  counters: number;
  /** Repair transactions it would take (batches of --batch-size, or as the automatic sizing would start). */
  transactions: number;
}

export function planTotals(changes: readonly PlannedChange[], batchSize?: number): PlanTotals {
  const settings = new Set(changes.map((change) => change.settingId)).size;
  return { settings, counters: changes.length, transactions: estimateTransactions(settings, batchSize) };
}

/**
 * Transactions for `settings` settings: exact with a fixed --batch-size; otherwise what the
 * automatic sizing takes when transactions are quick (it starts at INITIAL_BATCH_SIZE and at most
 * doubles per batch, up to the maximum): "about", as a slower server makes smaller batches.
 */
export function estimateTransactions(settings: number, batchSize?: number): number {
  if (settings <= 0) return 0;
  if (batchSize !== undefined) return Math.ceil(settings / batchSize);
  let left = settings;
  let size = INITIAL_BATCH_SIZE;
  let transactions = 0;
  while (left > 0) {
    left -= size;
    transactions += 1;
    size = Math.min(size * 2, BATCH_SIZE_RANGE.max);
  }
  return transactions;
}

export type SortOrder = 'id' | 'delta';
export const SORT_ORDERS: readonly SortOrder[] = ['id', 'delta'];

/** Drifted settings in report order: by id, or largest drift first (NULL caches first, then |Δ|; ties by id). */
export function sortSettings(drifted: readonly DriftedSetting[], order: SortOrder): DriftedSetting[] {
  const byId = (a: DriftedSetting, b: DriftedSetting) => compareIds(a.id, b.id);
  if (order === 'id') return [...drifted].sort(byId);
  const deltas = new Map(drifted.map((setting) => [setting, largestDelta(setting)]));
  return [...drifted].sort((a, b) => compareDeltas(deltas.get(a)!, deltas.get(b)!) || byId(a, b));
}

/** Changes in report order: by id (then counter order), or largest |old − new| first (NULL first; ties by id). */
export function sortChanges<T extends PlannedChange>(changes: readonly T[], order: SortOrder): T[] {
  const position = new Map(changes.map((change, i) => [change, i]));
  const byId = (a: T, b: T) => compareIds(a.settingId, b.settingId) || position.get(a)! - position.get(b)!;
  if (order === 'id') return [...changes].sort(byId);
  const delta = (change: T) => counterDelta({ cached: change.from, expected: change.to });
  return [...changes].sort((a, b) => compareDeltas(delta(a), delta(b)) || byId(a, b));
}

/** Child rows of one counter's table that belong to no setting (or have a NULL setting id). */
export interface ChildRows {
  counter: string;
  table: string;
  rows: bigint;
}

/**
 * The drift of a report by kind. Counter kinds count drifted counters; `deletedNonZero` counts
 * drifted settings whose status is the deleted one and that still cache a non-zero count; the
 * child kinds count rows, per counter's table (null when --ids restricted the run: only a full
 * scan finds them).
 */
export interface KindSummary {
  tooHigh: number;
  tooLow: number;
  null: number;
  negative: number;
  deletedNonZero: number;
  orphans: ChildRows[] | null;
  nullSettingId: ChildRows[] | null;
}

export function kindSummary(report: DriftReport): KindSummary {
  const summary: KindSummary = { tooHigh: 0, tooLow: 0, null: 0, negative: 0, deletedNonZero: 0, orphans: null, nullSettingId: null };
  for (const setting of report.drifted) {
    for (const state of Object.values(setting.counters)) {
      const kind = counterDriftKind(state);
      if (kind !== null) summary[kind] += 1;
    }
    const stillCounting = Object.values(setting.counters).some((state) => state.cached !== null && state.cached !== 0n);
    if (setting.deleted && stillCounting) summary.deletedNonZero += 1;
  }
  if (report.orphans !== null) {
    summary.orphans = report.orphans.map((orphan) => ({ counter: orphan.counter, table: orphan.table, rows: orphan.rows }));
    summary.nullSettingId = report.orphans.map((orphan) => ({ counter: orphan.counter, table: orphan.table, rows: orphan.nullSettingId }));
  }
  return summary;
}
