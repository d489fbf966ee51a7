import type { Database } from '../db/database.js';
import { CHILD_OF } from '../db/database.js';
import type { ChildCount, ChildScope, ChildTable, SettingRow } from '../db/rows.js';
import { compareIds } from '../db/rows.js';
import { BatchSizer } from './batch-sizer.js';
import { ChildCountCursor } from './child-count-cursor.js';
import { type AuditPolicy, type DriftedSetting, comparePage, compareSetting, isAudited } from './drift.js';

export interface DetectOptions {
  policy: AuditPolicy;
  /** Restrict the audit to these setting ids (--ids). */
  ids?: readonly bigint[] | undefined;
  /** A fixed page size (--batch-size); undefined sizes pages toward `targetStatementMs`. */
  pageSize?: number | undefined;
  /** Pages counted at once; each page runs one statement per audited child table. */
  concurrency?: number | undefined;
  targetStatementMs?: number | undefined;
  onProgress?: ((progress: DetectProgress) => void) | undefined;
  onStatement?: ((timing: StatementTiming) => void) | undefined;
  /**
   * Called once, before a full scan, with the audited child tables that have no index starting
   * with settingId: those are read in one streamed pass each instead of range by range.
   */
  onUnindexed?: ((tables: ChildTable[]) => void) | undefined;
}

export interface DetectProgress {
  scanned: number;
  candidates: number;
}

export interface StatementTiming {
  what: string;
  rows: number;
  ms: number;
}

export interface DriftReport {
  scanned: number;
  drifted: DriftedSetting[];
  /** Child rows whose settingId names no setting; null when --ids restricted the run. */
  orphans: { coupons: bigint; uses: bigint } | null;
  /** --ids that name no setting. */
  missingIds: bigint[];
  /** Settings that looked drifted in the paged scan but were consistent when recounted in one statement. */
  transient: number;
}

export const DEFAULT_PAGE_SIZE = 2000;
const RECOUNT_CHUNK = 500;

/**
 * Finds every drifted setting. Pages through settings by id (keyset), counts each page's id range
 * in the child tables with GROUP BY, and compares. Drift seen that way is then confirmed by one
 * statement per chunk of ids, so a live application's in-flight writes are not reported as drift.
 */
export async function detectDrift(db: Database, options: DetectOptions): Promise<DriftReport> {
  const sizer = new BatchSizer({
    initial: options.pageSize ?? DEFAULT_PAGE_SIZE,
    min: 100,
    max: 100_000,
    targetMs: options.targetStatementMs ?? 500,
    adaptive: options.pageSize === undefined,
  });
  const tables = options.policy.counters.map((counter) => CHILD_OF[counter]);
  const state = { scanned: 0, candidates: [] as DriftedSetting[], orphanCoupons: 0n, orphanUses: 0n };
  const missingIds: bigint[] = [];

  const countPage = async (settings: SettingRow[], scope: ChildScope): Promise<void> => {
    const started = performance.now();
    const [coupons, uses] = await Promise.all(
      (['coupons', 'uses'] as const).map((table) =>
        tables.includes(table) ? count(table, scope) : Promise.resolve([]),
      ),
    );
    sizer.observe(settings.length, performance.now() - started);
    const page = comparePage(settings, coupons ?? [], uses ?? [], options.policy);
    state.scanned += page.scanned;
    state.candidates.push(...page.drifted);
    state.orphanCoupons += page.orphanCoupons;
    state.orphanUses += page.orphanUses;
    options.onProgress?.({ scanned: state.scanned, candidates: state.candidates.length });
  };

  const pool = new TaskPool(Math.max(1, options.concurrency ?? 1));
  const cursors = new Map<ChildTable, ChildCountCursor>();
  const count = (table: ChildTable, scope: ChildScope): Promise<ChildCount[]> => {
    const cursor = cursors.get(table);
    if (cursor === undefined || scope.kind !== 'range') return timed(db, table, scope, options.onStatement);
    return cursor.takeUpTo(scope.upTo);
  };
  if (options.ids !== undefined) {
    const ids = [...new Set(options.ids)].sort(compareIds);
    for (let start = 0; start < ids.length; ) {
      const chunk = ids.slice(start, start + sizer.size);
      start += chunk.length;
      const settings = await db.settingsByIds(chunk);
      const found = new Set(settings.map((setting) => setting.id));
      missingIds.push(...chunk.filter((value) => !found.has(value)));
      if (settings.length > 0) {
        await pool.run(() => countPage(settings, { kind: 'ids', ids: settings.map((setting) => setting.id) }));
      }
    }
  } else {
    const indexed = await db.childTablesWithSettingIndex();
    const unindexed = tables.filter((table) => !indexed.has(table));
    if (unindexed.length > 0) {
      options.onUnindexed?.(unindexed);
      for (const table of unindexed) cursors.set(table, new ChildCountCursor(db.streamChildCounts(table)));
    }
    // Ranges are half-open (after, upTo] and contiguous; the first is unbounded below and the last
    // above, so every child row falls in exactly one range and orphans are counted once.
    let after: bigint | null = null;
    for (;;) {
      const limit = sizer.size;
      const settings = await db.settingsPage(after, limit);
      const isLast = settings.length < limit;
      const upTo = isLast ? null : settings[settings.length - 1]!.id;
      await pool.run(() => countPage(settings, { kind: 'range', after, upTo }));
      if (upTo === null) break;
      after = upTo;
    }
  }
  try {
    await pool.drain();
  } finally {
    for (const cursor of cursors.values()) await cursor.close();
  }

  const drifted = await confirm(db, state.candidates, options.policy);
  return {
    scanned: state.scanned,
    drifted,
    orphans: options.ids === undefined ? { coupons: state.orphanCoupons, uses: state.orphanUses } : null,
    missingIds,
    transient: state.candidates.length - drifted.length,
  };
}

async function timed(
  db: Database,
  table: ChildTable,
  scope: ChildScope,
  onStatement: DetectOptions['onStatement'],
): Promise<ChildCount[]> {
  const started = performance.now();
  const rows = await db.countChildren(table, scope);
  onStatement?.({ what: `count ${db.tables[table]} ${describeScope(scope)}`, rows: rows.length, ms: performance.now() - started });
  return rows;
}

function describeScope(scope: ChildScope): string {
  if (scope.kind === 'ids') return `${scope.ids.length} ids`;
  return `(${scope.after ?? '-∞'}, ${scope.upTo ?? '+∞'}]`;
}

/** Recounts candidates in single statements (one snapshot each); keeps those still drifted. */
export async function confirm(
  db: Database,
  candidates: readonly DriftedSetting[],
  policy: AuditPolicy,
): Promise<DriftedSetting[]> {
  const ids = candidates.map((candidate) => candidate.id).sort(compareIds);
  const confirmed: DriftedSetting[] = [];
  for (let start = 0; start < ids.length; start += RECOUNT_CHUNK) {
    for (const row of await db.recount(ids.slice(start, start + RECOUNT_CHUNK))) {
      if (!isAudited(row, policy)) continue;
      const result = compareSetting(row, { issuedCount: row.actualIssued, usedCount: row.actualUsed }, policy);
      if (result !== null) confirmed.push(result);
    }
  }
  return confirmed;
}

/** Runs at most `limit` tasks at once; the first failure is rethrown by run() or drain(). */
class TaskPool {
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | null = null;

  constructor(private readonly limit: number) {}

  async run(task: () => Promise<void>): Promise<void> {
    this.throwIfFailed();
    const promise: Promise<void> = task()
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => this.running.delete(promise));
    this.running.add(promise);
    while (this.running.size >= this.limit) await Promise.race(this.running);
    this.throwIfFailed();
  }

  async drain(): Promise<void> {
    await Promise.all(this.running);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure.error;
  }
}
