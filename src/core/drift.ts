import type { Counter } from '../db/database.js';
import { COUNTERS } from '../db/database.js';
import type { ChildCount, SettingRow } from '../db/rows.js';

/** How DELETED settings are audited (the seed analysis, problem 1). */
export type DeletedPolicy = 'count' | 'zero' | 'skip';

export interface AuditPolicy {
  /** The counters audited (both unless --columns narrows it). */
  counters: readonly Counter[];
  deleted: DeletedPolicy;
}

export const DEFAULT_POLICY: AuditPolicy = { counters: COUNTERS, deleted: 'count' };

export interface CounterState {
  /** The cached value; null for a NULL cache. */
  cached: bigint | null;
  /** COUNT(*) of the child rows. */
  actual: bigint;
  /** What the cache should hold: `actual`, or 0 for a DELETED setting under --deleted zero. */
  expected: bigint;
}

export interface DriftedSetting {
  id: bigint;
  status: string | null;
  counters: Partial<Record<Counter, CounterState>>;
}

export function isDeleted(status: string | null): boolean {
  return status !== null && status.toUpperCase() === 'DELETED';
}

/** Whether the policy audits this setting at all (--deleted skip leaves DELETED ones out). */
export function isAudited(setting: Pick<SettingRow, 'status'>, policy: AuditPolicy): boolean {
  return !(policy.deleted === 'skip' && isDeleted(setting.status));
}

/** NULL-safe: a NULL cache is drift; so is any value other than the expected one (negatives included). */
export function isCounterDrifted(state: CounterState): boolean {
  return state.cached === null || state.cached !== state.expected;
}

export function isDrifted(setting: DriftedSetting): boolean {
  return Object.values(setting.counters).some((state) => state !== undefined && isCounterDrifted(state));
}

/** The setting's audited counters against its true counts; null when nothing drifted. */
export function compareSetting(
  setting: SettingRow,
  actual: Record<Counter, bigint>,
  policy: AuditPolicy,
): DriftedSetting | null {
  const zero = policy.deleted === 'zero' && isDeleted(setting.status);
  const counters: Partial<Record<Counter, CounterState>> = {};
  for (const counter of policy.counters) {
    counters[counter] = { cached: setting[counter], actual: actual[counter], expected: zero ? 0n : actual[counter] };
  }
  const result: DriftedSetting = { id: setting.id, status: setting.status, counters };
  return isDrifted(result) ? result : null;
}

export interface PageComparison {
  scanned: number;
  drifted: DriftedSetting[];
  /** Child rows in the page's id range whose settingId names no setting. */
  orphanCoupons: bigint;
  orphanUses: bigint;
}

/**
 * Compares one page of settings with the child counts of the same id range. Counts for ids that are
 * not in the page are orphans; settings absent from the counts have no children (count 0).
 */
export function comparePage(
  settings: readonly SettingRow[],
  couponCounts: readonly ChildCount[],
  useCounts: readonly ChildCount[],
  policy: AuditPolicy,
): PageComparison {
  const known = new Set(settings.map((setting) => setting.id));
  const issued = new Map<bigint, bigint>();
  const used = new Map<bigint, bigint>();
  let orphanCoupons = 0n;
  let orphanUses = 0n;
  for (const { settingId, count } of couponCounts) {
    if (settingId !== null && known.has(settingId)) issued.set(settingId, count);
    else orphanCoupons += count;
  }
  for (const { settingId, count } of useCounts) {
    if (settingId !== null && known.has(settingId)) used.set(settingId, count);
    else orphanUses += count;
  }
  const drifted: DriftedSetting[] = [];
  let scanned = 0;
  for (const setting of settings) {
    if (!isAudited(setting, policy)) continue;
    scanned += 1;
    const actual = { issuedCount: issued.get(setting.id) ?? 0n, usedCount: used.get(setting.id) ?? 0n };
    const result = compareSetting(setting, actual, policy);
    if (result !== null) drifted.push(result);
  }
  return { scanned, drifted, orphanCoupons, orphanUses };
}
