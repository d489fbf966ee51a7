import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditEntry, Counter, Database, RepairSession } from '../db/database.js';
import { CHILD_OF } from '../db/database.js';
import { isConnectionLost, isRetryableLockError } from '../db/database-error.js';
import type { ChildTable } from '../db/rows.js';
import { BatchSizer } from './batch-sizer.js';
import { type AuditPolicy, compareSetting, isAudited } from './drift.js';
import type { RepairPlan } from './repair-plan.js';

export interface RepairOptions {
  policy: AuditPolicy;
  runId: string;
  /** A fixed batch size (--batch-size); undefined sizes batches toward `targetTransactionMs`. */
  batchSize?: number | undefined;
  targetTransactionMs?: number;
  /** innodb_lock_wait_timeout for the repair session, in seconds (the server's minimum is 1). */
  lockWaitTimeoutSeconds?: number;
  /** Tries per transaction on a deadlock or lock wait timeout (1213, 1205, 1020). */
  maxAttempts?: number;
  backoffMs?: number;
  /** Checked between transactions: the one in flight always ends whole (committed or rolled back). */
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: RepairProgress) => void) | undefined;
}

export interface RepairProgress {
  done: number;
  total: number;
  elapsedMs: number;
}

export interface WrittenChange {
  settingId: bigint;
  counter: Counter;
  from: bigint | null;
  to: bigint;
}

export interface RepairResult {
  runId: string;
  /** Settings written, each with its changes (old → new), in commit order. */
  repaired: { settingId: bigint; changes: WrittenChange[] }[];
  /** Settings whose drift had vanished by the time they were locked. */
  skipped: bigint[];
  /** Settings that no longer exist (deleted since detection). */
  vanished: bigint[];
  /** Settings still locked by another session after every retry: a rerun finishes them. */
  failed: { settingId: bigint; reason: string }[];
  interrupted: boolean;
  /** How long each transaction held its row locks, in ms (from the FOR UPDATE to the COMMIT). */
  lockHoldMs: number[];
  transactions: number;
  retries: number;
}

export function emptyRepairResult(runId: string): RepairResult {
  return { runId, repaired: [], skipped: [], vanished: [], failed: [], interrupted: false, lockHoldMs: [], transactions: 0, retries: 0 };
}

interface BatchOutcome {
  /** Ids not returned by the lock: held by someone else (SKIP LOCKED), or gone. */
  notLocked: bigint[];
}

/**
 * Repairs the plan's settings batch by batch, following SPEC.md's live-repair protocol: per batch,
 * READ COMMITTED; lock the settings FOR UPDATE in ascending id order; count the children with plain
 * reads after the lock; write literal values only where they still differ, with an audit row for
 * each write in the same transaction; commit.
 *
 * Batches lock with SKIP LOCKED where the server has it, so a batch never waits on the application:
 * repair then waits on nobody while holding locks and cannot close a deadlock cycle. The rows it
 * skipped are taken one at a time with a plain FOR UPDATE (a short lock wait, retried with backoff);
 * holding no other lock while it waits, that transaction cannot deadlock either.
 *
 * `result` is filled in as transactions commit, so a caller still has it if this throws.
 */
export async function repairDrift(
  db: Database,
  plan: RepairPlan,
  options: RepairOptions,
  result: RepairResult = emptyRepairResult(options.runId),
): Promise<RepairResult> {
  const server = await db.serverInfo();
  const onUpdateColumns = await db.autoUpdatedSettingsColumns();
  const session = await db.openRepairSession(onUpdateColumns);
  const maxAttempts = options.maxAttempts ?? 4;
  const backoffMs = options.backoffMs ?? 100;
  const tables = options.policy.counters.map((counter) => CHILD_OF[counter]);
  const sizer = new BatchSizer({
    initial: options.batchSize ?? 50,
    min: 1,
    max: 1000,
    targetMs: options.targetTransactionMs ?? 100,
    adaptive: options.batchSize === undefined,
  });
  const started = performance.now();
  let done = 0;
  let healthy = true;

  /** Runs one transaction, retrying lock errors; `lockError` when every attempt hit one. */
  const attempt = async (ids: bigint[], skipLocked: boolean): Promise<BatchOutcome | { lockError: string }> => {
    let lastError = '';
    for (let tryNo = 1; tryNo <= maxAttempts; tryNo += 1) {
      try {
        return await repairBatch(session, ids, { skipLocked, tables, policy: options.policy, runId: options.runId, result });
      } catch (error) {
        await session.rollback();
        if (!isRetryableLockError(error)) {
          healthy = !isConnectionLost(error);
          throw session.asDatabaseError(error, `repairing settings ${ids[0]}…${ids[ids.length - 1]}`);
        }
        result.retries += 1;
        lastError = describeLockError(error);
        if (tryNo < maxAttempts) await sleep(backoffMs * 2 ** (tryNo - 1) * (0.5 + Math.random()));
      }
    }
    return { lockError: lastError };
  };

  try {
    await session.configure(options.lockWaitTimeoutSeconds ?? 2);
    for (let start = 0; start < plan.ids.length; ) {
      if (options.signal?.aborted) {
        result.interrupted = true;
        break;
      }
      const ids = plan.ids.slice(start, start + sizer.size);
      start += ids.length;
      const batchStarted = performance.now();
      let outcome = await attempt(ids, server.supportsSkipLocked);
      sizer.observe(ids.length, performance.now() - batchStarted);
      // Without SKIP LOCKED a batch can keep hitting one locked row: settle its ids one by one.
      const singles = 'lockError' in outcome ? ids : outcome.notLocked;
      for (const settingId of singles) {
        if (options.signal?.aborted) {
          result.interrupted = true;
          break;
        }
        outcome = await attempt([settingId], false);
        if ('lockError' in outcome) result.failed.push({ settingId, reason: outcome.lockError });
        else if (outcome.notLocked.length > 0) result.vanished.push(settingId);
      }
      done += ids.length;
      options.onProgress?.({ done, total: plan.ids.length, elapsedMs: performance.now() - started });
      if (result.interrupted) break;
    }
  } finally {
    if (healthy) session.release();
    else session.destroy();
  }
  return result;
}

async function repairBatch(
  session: RepairSession,
  ids: bigint[],
  context: { skipLocked: boolean; tables: ChildTable[]; policy: AuditPolicy; runId: string; result: RepairResult },
): Promise<BatchOutcome> {
  const { result, policy } = context;
  await session.begin();
  const lockStarted = performance.now();
  const locked = await session.lockSettings(ids, { skipLocked: context.skipLocked });
  const lockedIds = locked.map((row) => row.id);
  const counts: Record<ChildTable, Map<bigint, bigint>> = { coupons: new Map(), uses: new Map() };
  if (lockedIds.length > 0) {
    for (const table of context.tables) {
      for (const { settingId, count } of await session.countChildren(table, lockedIds)) {
        if (settingId !== null) counts[table].set(settingId, count);
      }
    }
  }
  const written: RepairResult['repaired'] = [];
  const skipped: bigint[] = [];
  const audit: AuditEntry[] = [];
  for (const row of locked) {
    const drift = isAudited(row, policy)
      ? compareSetting(row, { issuedCount: counts.coupons.get(row.id) ?? 0n, usedCount: counts.uses.get(row.id) ?? 0n }, policy)
      : null;
    const changes: WrittenChange[] = [];
    for (const [counter, state] of Object.entries(drift?.counters ?? {}) as [Counter, { cached: bigint | null; expected: bigint }][]) {
      if (state.cached === null || state.cached !== state.expected) {
        changes.push({ settingId: row.id, counter, from: state.cached, to: state.expected });
      }
    }
    if (changes.length === 0) {
      skipped.push(row.id);
      continue;
    }
    await session.writeCounters(row.id, Object.fromEntries(changes.map((change) => [change.counter, change.to])));
    for (const change of changes) {
      audit.push({ runId: context.runId, settingId: row.id, counter: change.counter, oldValue: change.from, newValue: change.to });
    }
    written.push({ settingId: row.id, changes });
  }
  await session.recordAudit(audit);
  await session.commit();
  result.lockHoldMs.push(performance.now() - lockStarted);
  result.transactions += 1;
  result.repaired.push(...written);
  result.skipped.push(...skipped);
  const lockedSet = new Set(lockedIds);
  return { notLocked: ids.filter((id) => !lockedSet.has(id)) };
}

function describeLockError(error: unknown): string {
  const errno = (error as { errno?: number }).errno;
  if (errno === 1213) return 'deadlock on every retry';
  if (errno === 1020) return 'the row kept changing (1020) on every retry';
  return 'still locked by another session after every retry';
}
