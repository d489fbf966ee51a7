import type { Counter } from '../db/database.js';
import { compareIds } from '../db/rows.js';
import { type DriftedSetting, isCounterDrifted } from './drift.js';

export interface PlannedChange {
  settingId: bigint;
  counter: Counter;
  from: bigint | null;
  to: bigint;
}

/** What a repair would write, as detected: the executor re-reads everything under lock before writing. */
export interface RepairPlan {
  /** Setting ids in ascending order: the order rows are locked in. */
  ids: bigint[];
  changes: PlannedChange[];
}

export function planRepair(drifted: readonly DriftedSetting[]): RepairPlan {
  const sorted = [...drifted].sort((a, b) => compareIds(a.id, b.id));
  const changes: PlannedChange[] = [];
  for (const setting of sorted) {
    for (const [counter, state] of Object.entries(setting.counters) as [Counter, NonNullable<DriftedSetting['counters'][Counter]>][]) {
      if (isCounterDrifted(state)) changes.push({ settingId: setting.id, counter, from: state.cached, to: state.expected });
    }
  }
  return { ids: sorted.map((setting) => setting.id), changes };
}

/** Consecutive slices of `ids` of at most `size`. */
export function batches<T>(ids: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < ids.length; start += size) result.push(ids.slice(start, start + size));
  return result;
}
