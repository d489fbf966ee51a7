import { setTimeout as sleep } from 'node:timers/promises';
import { RepairSession, type WriterEngine } from '../db/applier.js';
import type { Database } from '../db/database.js';
import { isClosedBeforeSent, isConnectionLost, isDriverError, isLockWaitTimeout, isConstraintRefusal, isRetryableLockError, isWriteRefusal } from '../db/database-error.js';
import { autoUpdatedColumns, viewsAmong } from '../db/inspector.js';
import { compareIds } from '../db/rows.js';
import { BatchSizer } from './batch-sizer.js';
import type { CounterWrite, LockMode } from '../db/builder.js';
import { type EngineProfile, rowLocking } from '../db/engine.js';
import { DatabaseError } from '../errors.js';
import { counterWrites, pastColumn } from './drift.js';
import type { AuditScope, CounterModel } from './model.js';
import { BATCH_SIZE_RANGE, DEFAULT_LOCK_WAIT_TIMEOUT, INITIAL_BATCH_SIZE, TARGET_TRANSACTION_MS } from './limits.js';
export { BATCH_SIZE_RANGE, INITIAL_BATCH_SIZE };

/**
 * A pause of the whole process between transactions (cli/pause.ts: Ctrl-Z at a terminal):
 * `pending()` says one was asked for; `pause()` is called once no writer holds a transaction open,
 * and resolves when the process goes on.
 */
export interface PauseRequests {
  pending(): boolean;
  pause(): Promise<void>;
  /**
   * While the writers run: `canPauseNow` says no writer holds a batch (a pause asked then is taken
   * at once); the returned function ends that, told whether the run was stopped (a signal, a
   * writer's failure: a pause still asked for is then dropped, the run is ending).
   */
  attach?(canPauseNow: () => boolean): (stopped: boolean) => void;
}

export interface RepairBatchOptions {
  scope: AuditScope;
  runId: string;
  /** The engine's locking flags (db/engine.ts rowLocking) and its session setup for writers. */
  engine: Pick<EngineProfile, 'supportsSkipLocked' | 'supportsNowait' | 'listsTriggersToWriters'> & WriterEngine;
  /**
   * The run lock's fence (a lease renewal), sent in every transaction before COMMIT: it must match
   * one row, else the lock is another run's and the transaction is rolled back (`lostMessage`).
   */
  fence?: { sql: string; lostMessage: string } | null | undefined;
  /**
   * Called inside each transaction, after its writes and audit rows and before its COMMIT, with the
   * batch's ids and the changes it is about to commit (the library's `beforeCommit`; a test can put
   * a conflicting write through another node exactly there). Whatever it throws rolls the
   * transaction back and is rethrown unchanged: it is the caller's error, not the database's.
   */
  beforeCommit?: ((batch: readonly bigint[], changes: readonly WrittenChange[]) => Promise<void> | void) | undefined;
  /** A fixed batch size (--batch-size); undefined sizes batches toward `targetTransactionMs`. */
  batchSize?: number | undefined;
  targetTransactionMs?: number;
  /** innodb_lock_wait_timeout for the repair session, in seconds (the server's minimum is 1). */
  lockWaitTimeoutSeconds?: number;
  /** Tries per transaction on a deadlock or lock wait timeout (1213, 1205, 1020). */
  maxAttempts?: number;
  backoffMs?: number;
  /** Checked between transactions and between retries: the ones in flight always end whole. */
  signal?: AbortSignal | undefined;
  /**
   * Transactions at once, each on a connection of its own (default 1). They lock disjoint settings,
   * so they never wait on each other for one (on a cluster their commits queue on the fence).
   */
  concurrency?: number | undefined;
  /** Awaited before each batch (core/throttle.ts): resolves when the next batch may start. */
  throttle?: (() => Promise<void>) | undefined;
  /** A pause asked for (Ctrl-Z at a terminal: cli/pause.ts), taken when no writer holds a transaction open. */
  pauseRequests?: PauseRequests | undefined;
  onProgress?: ((progress: RepairProgress) => void) | undefined;
  /** A setting another session held when its batch locked its rows is now waited for, alone (its id); null when that wait ended. */
  onRowWait?: ((settingId: bigint | null) => void) | undefined;
  /**
   * The child rows the scan counted for the settings that have many (core/run.ts keeps those of
   * 1,000 or more, the rows that pass each counter's filter): a batch whose settings have
   * WARM_MIN_ROWS or more between them is read once before its transaction (warmChildren).
   * Lighter settings, and rows filters leave out, are not counted toward it.
   */
  childRows?: ReadonlyMap<bigint, number> | undefined;
}

/**
 * A batch whose settings had this many child rows or more when the scan counted them is counted once
 * before its transaction, outside it, and again under its locks (SPEC.md: only that count is
 * written). The first read brings the children's index pages into the buffer pool, so the one
 * under the locks reads memory: at 50M codes with a 128 MiB pool, a batch recounting a setting of
 * several 100,000 codes from disk held its locks 181-203 ms. About 8 ms of the server's time per
 * 100,000 rows when they are cached already.
 */
export const WARM_MIN_ROWS = 100_000;

export interface RepairProgress {
  done: number;
  total: number;
  elapsedMs: number;
}

/** A counter repair wrote: the value it found under the lock (`from`) and the one it wrote (`to`). */
export type WrittenChange = CounterWrite;

export interface RepairResult {
  runId: string;
  /** Settings written. */
  repaired: number;
  /**
   * Every counter written (old → new), in commit order, a setting's together in counter order: one
   * flat list, as a repair of a million settings keeps it until the report is written.
   */
  changes: WrittenChange[];
  /** Settings whose drift had vanished by the time they were locked. */
  skipped: bigint[];
  /** Settings that no longer exist (deleted since detection). */
  vanished: bigint[];
  /**
   * Settings still locked by another session after every retry (a rerun finishes them), and those a
   * rerun would leave as they are: whose count their column cannot hold (`unfit`: widen it, then
   * rerun), whose row kept another value than was written (`kept`: a trigger, takenWrites), whose
   * write the server refused (`refused`: a trigger's SIGNAL, a CHECK constraint).
   */
  failed: { settingId: bigint; reason: string; unfit?: true; kept?: true; refused?: true }[];
  /**
   * Settings of a batch whose COMMIT got no reply (the connection went): committed or not, the
   * audit table says (its rows for this run id are written in the same transaction).
   */
  uncertain: bigint[];
  /** Settings the final reread (one snapshot) still found drifted: a rerun looks at them again. */
  stillDrifted: bigint[];
  interrupted: boolean;
  /** The run created the audit table (also said when it stops part-way). */
  createdAuditTable?: boolean;
  /** How long each transaction held its row locks, in ms (from the FOR UPDATE to the COMMIT). */
  lockHoldMs: number[];
  transactions: number;
  retries: number;
}

export function emptyRepairResult(runId: string): RepairResult {
  return { runId, repaired: 0, changes: [], skipped: [], vanished: [], failed: [], uncertain: [], stillDrifted: [], interrupted: false, lockHoldMs: [], transactions: 0, retries: 0 };
}

/**
 * When repair reads a batch's rows back before COMMIT (takenWrites): 'always', or, where the server
 * lists the settings table's triggers to this account (engine.ts listsTriggersToWriters) and the
 * table is no view, 'when-unchanged': where the batch's transaction, its rows locked, finds a BEFORE
 * UPDATE trigger, or the UPDATE changed fewer rows than it was given.
 */
export type ReadBack = 'always' | 'when-unchanged';

/** Settings refused one after another (a trigger's SIGNAL, a CHECK constraint) after which a repair stops instead of trying each of the rest alone. */
export const REFUSALS_BEFORE_STOP = 50;

/**
 * Repairs these settings batch by batch, following SPEC.md's live-repair protocol: per batch,
 * READ COMMITTED; lock the settings FOR UPDATE in ascending id order; count the children with plain
 * reads after the lock; write literal values only where they still differ, with an audit row for
 * each write in the same transaction (as the rows hold it, where a trigger could alter them:
 * ReadBack); commit.
 *
 * The engine's flags choose the locking (db/engine.ts rowLocking). Batches lock with SKIP LOCKED
 * where the engine honours it, or with NOWAIT, so a batch never waits on the application: repair
 * then waits on nobody while holding locks and cannot close a deadlock cycle. The rows a batch
 * skipped (or the whole batch, when NOWAIT met a held row) are taken one at a time with a plain
 * FOR UPDATE (a short lock wait, retried with backoff); holding no other lock while it waits, that
 * transaction closes no cycle of its own. It can still be picked as a deadlock's victim where an
 * application transaction holds the row's shared lock (a foreign key's check on its child insert)
 * and then asks for the exclusive one behind repair's queued request: InnoDB rolls back the
 * lighter, usually repair's, which is redone (1213). Without either (TiDB, where SKIP LOCKED
 * drops the lock; Vitess; MySQL 5.7), every setting is such a transaction of its own.
 *
 * `concurrency` connections take the plan's batches in turn (ascending), each one transaction at a
 * time. A failure on one stops the others after the transaction they have in flight.
 *
 * `result` is filled in as transactions commit, so a caller still has it if this throws.
 */
export async function repairSettings(db: Database, ids: readonly bigint[], options: RepairBatchOptions, result: RepairResult): Promise<void> {
  const plan = [...new Set(ids)].sort(compareIds);
  const preservedColumns = await autoUpdatedColumns(db, options.scope.model);
  // Only a BEFORE UPDATE trigger can make a row hold other than what repair wrote (takenWrites): a
  // view's are its table's, listed under that table's name, so a view's batches are always read back.
  const { table } = options.scope.model.settings;
  const readBack: ReadBack = options.engine.listsTriggersToWriters && !(await viewsAmong(db, [table])).has(table.toLowerCase()) ? 'when-unchanged' : 'always';
  const locking = rowLocking(options.engine);
  const maxAttempts = options.maxAttempts ?? 4;
  const backoffMs = options.backoffMs ?? 100;
  const sizer = new BatchSizer({
    initial: options.batchSize ?? INITIAL_BATCH_SIZE,
    min: options.batchSize ?? BATCH_SIZE_RANGE.min,
    max: options.batchSize ?? BATCH_SIZE_RANGE.max,
    targetMs: options.targetTransactionMs ?? TARGET_TRANSACTION_MS,
    adaptive: options.batchSize === undefined,
  });
  const started = performance.now();
  const aborted = (): boolean => options.signal?.aborted === true;
  const expectedRows = (batch: readonly bigint[]): number => batch.reduce((total, id) => total + (options.childRows?.get(id) ?? 0), 0);
  let next = 0; // the plan's first setting no batch has taken yet
  // Writers with a batch in hand (its warm-up, its transaction, its settings retried alone), and the
  // pause they are all in, once none is: a process stopped mid-transaction keeps its rows locked.
  let busy = 0;
  let pausing: Promise<void> | null = null;
  let pausedMs = 0; // left out of the progress rate
  const atSafePoint = async (): Promise<void> => {
    const requests = options.pauseRequests;
    while (requests?.pending() === true && !halted()) {
      if (pausing === null && busy === 0) {
        const pausedAt = performance.now();
        pausing = requests.pause().finally(() => {
          pausedMs += performance.now() - pausedAt;
          pausing = null;
        });
      }
      if (pausing !== null) return pausing;
      await sleep(5);
    }
  };
  let done = 0;
  // Set when the run stops early (a signal, a lost run lock), also during the retries of the last
  // setting; and when another connection's transaction failed: the others end the one in flight.
  let stopped = false;
  let failure: { error: unknown } | null = null;
  // Settings whose write the server refused one after another, none written between (a trigger
  // refusing every write would otherwise be tried a setting at a time through the whole plan).
  let refusedInARow = 0;
  /** No new transaction may start: the run was stopped, or another writer failed. */
  const halted = (): boolean => stopped || aborted();

  /** One connection's transactions, batch after batch, until the plan is taken or the run stops. */
  const transactions = async (session: RepairSession): Promise<void> => {
    /**
     * One transaction, redone whole on a lock error (a deadlock, also one reported at COMMIT, which
     * is how a certification failure on a cluster surfaces; a lock wait timeout; 1020): `lockError`
     * when every attempt hit one, `stopped` when aborted between tries. A NOWAIT batch that meets a
     * held row is not retried: its settings are then taken one at a time.
     */
    const attempt = async (batch: bigint[], mode: LockMode): Promise<{ notLocked: bigint[] } | { lockError: string } | { refused: string } | 'table-locked' | 'stopped'> => {
      let lastError = '';
      let tableWaits = 0;
      const attempts = mode === 'nowait' ? 1 : maxAttempts;
      for (let tryNo = 1; tryNo <= attempts; tryNo += 1) {
        try {
          return await repairBatch(session, batch, mode, options, result, readBack);
        } catch (caught) {
          await session.rollback();
          // The caller's beforeCommit threw: its own error, whatever it is (an fs error has a `code` too).
          if (caught instanceof CallerError) throw caught.error;
          if (caught instanceof TableLockWait) tableWaits += 1;
          const error = caught instanceof TableLockWait ? caught.error : caught;
          // A trigger's SIGNAL or a CHECK constraint refused some setting's write: the batch is then
          // redone a setting at a time, so that the others are written and the refused ones named (a
          // retry refuses again).
          if (isWriteRefusal(error)) return { refused: refusalReason(error, options.scope.model) };
          if (!isRetryableLockError(error)) {
            if (isConnectionLost(error)) session.healthy = false;
            // A bug (a TypeError, also Node's own with an ERR_* code) stays a bug, exit 70: only the
            // driver's and the network's errors are database errors (exit 3).
            if (!isDriverError(error)) throw error;
            throw session.asDatabaseError(error, `repairing settings ${batch[0]}…${batch[batch.length - 1]}`);
          }
          result.retries += 1;
          lastError = describeLockError(error);
          if (tryNo < attempts) {
            if (halted()) return 'stopped';
            await sleep(backoffMs * 2 ** (tryNo - 1) * (0.5 + Math.random()), undefined, { signal: options.signal }).catch(() => undefined);
            if (halted()) return 'stopped';
          }
        }
      }
      // Every try waited past its lock on a table: one setting at a time would wait as long each.
      if (tableWaits === attempts && attempts > 1) return 'table-locked';
      return { lockError: lastError };
    };

    while (next < plan.length && !stopped) {
      await atSafePoint();
      if (!halted()) await options.throttle?.();
      // While this writer waited, another may have taken the last batch (then a signal now leaves
      // nothing undone: the run is not interrupted) or stopped the run.
      if (stopped || next >= plan.length) break;
      if (aborted()) {
        stopped = true;
        break;
      }
      const batch = plan.slice(next, next + sizer.size);
      next += batch.length;
      busy += 1;
      try {
        if (locking !== 'one-at-a-time' && expectedRows(batch) >= WARM_MIN_ROWS) {
          await warmChildren(session, batch);
          // A cold read of that many rows can take seconds: a stop asked for meanwhile starts no transaction.
          if (halted()) {
            stopped = true;
            break;
          }
        }
        const batchStarted = performance.now();
        // One setting per transaction where the engine has neither SKIP LOCKED nor NOWAIT (TiDB ignores
        // SKIP LOCKED, Vitess refuses it): a transaction that waits then never holds another lock.
        const outcome = locking === 'one-at-a-time' ? { lockError: '' } : await attempt(batch, locking);
        sizer.observe(batch.length, performance.now() - batchStarted);
        if (outcome === 'stopped') {
          stopped = true;
          break;
        }
        /**
         * A table's metadata lock held past the wait: every setting not yet settled fails with the
         * reason (exit 4) and no writer takes another batch; what committed stays. Retried setting
         * by setting, each would wait that long again.
         */
        const tableLocked = (unsettled: readonly bigint[]): void => {
          for (const settingId of [...unsettled, ...plan.slice(next)]) result.failed.push({ settingId, reason: TABLE_LOCK_REASON });
          next = plan.length;
        };
        if (outcome === 'table-locked') {
          tableLocked(batch);
          break;
        }
        // Rows the batch skipped or could not take at once (held by another session), or all of a
        // batch that failed on its locks or the server refused: settled one by one, waiting for each.
        const wholeBatchAlone = 'lockError' in outcome || 'refused' in outcome;
        const singles = wholeBatchAlone ? batch : outcome.notLocked;
        // What the batch settled is progress already: the line must not wait for the settings
        // taken alone (a row the application holds is waited for, seconds at a time).
        if (singles.length > 0 && singles.length < batch.length) {
          options.onProgress?.({ done: done + batch.length - singles.length, total: plan.length, elapsedMs: performance.now() - started - pausedMs });
        }
        for (const [k, settingId] of singles.entries()) {
          // Each single is a transaction of its own: a pause asked for is taken between them.
          if (options.pauseRequests?.pending() === true) {
            busy -= 1;
            try {
              await atSafePoint();
            } finally {
              busy += 1;
            }
          }
          // A row SKIP LOCKED left is held by another session: said while waited for (a run quiet
          // for seconds looks hung). Not those of a whole batch retried alone for another cause.
          if (!wholeBatchAlone && !halted()) options.onRowWait?.(settingId);
          const single = halted() ? 'stopped' : await attempt([settingId], 'wait').finally(() => !wholeBatchAlone && options.onRowWait?.(null));
          if (single === 'stopped') {
            stopped = true;
            break;
          }
          if (single === 'table-locked') {
            tableLocked(singles.slice(k));
            break;
          }
          if ('lockError' in single) result.failed.push({ settingId, reason: single.lockError });
          else if ('refused' in single) {
            result.failed.push({ settingId, reason: `${single.refused}, and a rerun would too`, refused: true });
            refusedInARow += 1;
            if (refusedInARow >= REFUSALS_BEFORE_STOP) {
              throw new DatabaseError(
                `The server refused the writes of ${REFUSALS_BEFORE_STOP} settings in a row, each alone (${single.refused}): ` +
                  'a trigger or a CHECK constraint that refuses every write? Stopped there (those are named); nothing of them was written.',
              );
            }
          } else {
            refusedInARow = 0;
            if (single.notLocked.length > 0) result.vanished.push(settingId);
          }
        }
        if (!wholeBatchAlone) refusedInARow = 0;
        done += batch.length;
        options.onProgress?.({ done, total: plan.length, elapsedMs: performance.now() - started - pausedMs });
      } finally {
        busy -= 1;
      }
    }
  };

  const open = (): Promise<RepairSession> =>
    RepairSession.open(db, options.scope, preservedColumns, options.lockWaitTimeoutSeconds ?? DEFAULT_LOCK_WAIT_TIMEOUT, options.engine);

  /**
   * A connection of its own: its transactions lock disjoint settings (each batch is a different
   * slice of the plan), so connections never wait on each other for a setting. The run lock's fence
   * (a lease row, on clusters) is the one row they all write, just before COMMIT and holding nothing
   * else they could want: they queue there for the length of a commit, which on a cluster is a
   * certification round, with their settings locked meanwhile.
   */
  const connection = async (session: RepairSession): Promise<void> => {
    try {
      await transactions(session);
    } catch (error) {
      failure ??= { error };
      stopped = true;
    } finally {
      await session.close();
    }
  };

  // The first connection opens before any work (its failure is the run's); the others are extra
  // hands: one the server refuses (max_connections) leaves its batches to the rest. They open one
  // at a time, each kept only while a connection is left beside them for the reads between batches
  // (the throttle's): on a server at its connection limit, the last one taken by a writer would
  // leave those reads refused, and the run would end there (exit 3).
  // All before the first batch: a read between batches meanwhile could find the spare taken.
  const sessions = [await open()];
  const extra = Math.max(0, Math.min(options.concurrency ?? 1, Math.ceil(plan.length / (options.batchSize ?? INITIAL_BATCH_SIZE))) - 1);
  for (let k = 0; k < extra; k++) {
    const session = await open().catch(() => null);
    if (session === null) break;
    if (!(await db.hasSpareConnection().catch(() => false))) {
      await session.close();
      break;
    }
    sessions.push(session);
  }
  const detach = options.pauseRequests?.attach?.(() => busy === 0 && pausing === null) ?? (() => undefined);
  try {
    await Promise.all(sessions.map(connection));
  } finally {
    detach(halted() || failure !== null);
  }
  if (failure !== null) throw (failure as { error: unknown }).error;
  result.interrupted = stopped;
}

/**
 * WARM_MIN_ROWS: the batch's children counted outside any transaction (plain reads, no lock), the
 * counts let go. Only for speed: a statement the server refuses (a Galera causal-read timeout,
 * 1205) is let go too, and the transaction counts as it would have; a lost connection is the run's.
 */
async function warmChildren(session: RepairSession, batch: readonly bigint[]): Promise<void> {
  try {
    await session.countChildren(batch);
  } catch (error) {
    if (isConnectionLost(error)) {
      session.healthy = false;
      throw session.asDatabaseError(error, `counting the children of settings ${batch[0]}…${batch[batch.length - 1]}`);
    }
    if (!isDriverError(error)) throw error; // a bug stays a bug (exit 70)
  }
}

async function repairBatch(
  session: RepairSession,
  ids: bigint[],
  mode: LockMode,
  options: RepairBatchOptions,
  result: RepairResult,
  readBack: ReadBack,
): Promise<{ notLocked: bigint[] }> {
  await session.begin();
  let lockStarted = performance.now();
  // SKIP LOCKED waits for no row: a wait that ends in 1205 there is for a table's metadata lock (an
  // ALTER of the settings table queued after the scan), or a Galera causal-read timeout. Redone as
  // the waits after the lock are (below), so that when every try waited so the run stops after
  // this batch's tries, not after four of each setting's alone (about 9 s a setting).
  const locked = await session.lockSettings(ids, mode).catch((error: unknown) => {
    throw mode === 'skip-locked' && isLockWaitTimeout(error) ? new TableLockWait(error) : error;
  });
  const lockedIds = locked.map((row) => row.id);
  // One setting holds nothing while it waits for its row (the application's transaction holds it):
  // its hold starts when the lock is granted. A batch holds the rows it has taken while it takes the rest.
  if (ids.length === 1) lockStarted = performance.now();
  // Past the lock the rows are ours and the reads lock nothing: a wait now is most likely for a
  // table's metadata lock (an ALTER or LOCK TABLES queued on it), though not surely (a Galera
  // causal-read timeout, a trigger, a purge's gap lock on the audit table): the batch is redone as
  // for a row lock, and only when every try waited so is the run stopped (attempt).
  // Not the fence: the lease row is a row lock the run's other writers take.
  const afterLock = async <T>(step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      throw isLockWaitTimeout(error) ? new TableLockWait(error) : error;
    }
  };
  const counts = lockedIds.length > 0 ? await afterLock(() => session.countChildren(lockedIds)) : new Map<string, Map<bigint, bigint>>();
  // The batch's writes, a setting's together, and the settings found right (nothing to write).
  const written: WrittenChange[] = [];
  const skipped: bigint[] = [];
  const unfit: { settingId: bigint; reason: string; unfit: true }[] = [];
  let repaired = 0;
  for (const row of locked) {
    const writes = counterWrites(row, (counter) => counts.get(counter)?.get(row.id), options.scope);
    if (writes.length === 0) {
      skipped.push(row.id);
      continue;
    }
    // A count its column cannot hold (300 in a TINYINT UNSIGNED): the server would refuse the
    // batch's UPDATE (or clip it), and the batch's other settings would go unrepaired with it.
    const tooLarge = unfitReason(writes, options.scope);
    if (tooLarge !== null) {
      unfit.push({ settingId: row.id, reason: tooLarge, unfit: true });
      continue;
    }
    repaired += 1;
    for (const write of writes) written.push(write);
  }
  // Asked under the rows' locks, so that a trigger made while repair runs is seen (RepairSession.beforeUpdateTriggers).
  const mayTrust = readBack === 'when-unchanged' && written.length > 0 && (await afterLock(() => session.beforeUpdateTriggers())) === 0;
  const { changed } = await afterLock(() => session.writeCounters(written));
  const taken = await takenWrites(session, written, new Map(locked.map((row) => [row.id, row.cached])), mayTrust ? changed : null, afterLock);
  await afterLock(() => session.recordAudit(options.runId, taken.writes));
  if (options.fence != null && (await session.fence(options.fence.sql)) !== 1) throw new DatabaseError(options.fence.lostMessage);
  if (options.beforeCommit !== undefined) {
    try {
      await options.beforeCommit(ids, taken.writes);
    } catch (error) {
      throw new CallerError(error);
    }
  }
  try {
    // A deadlock here (a certification failure on a cluster) is thrown like any other: the caller
    // rolls back and redoes the whole transaction, locks and counts included.
    await session.commit();
  } catch (error) {
    // No reply to COMMIT: the server may have committed. Say so rather than leave the batch out.
    // Not where the COMMIT was never sent (closed state), nor where the server had ended the
    // transaction for sitting idle before the COMMIT could reach it (a stopped process): rolled back.
    if (isConnectionLost(error) && !isClosedBeforeSent(error) && session.endedWhileIdle() !== 'surely') result.uncertain.push(...new Set(written.map((write) => write.settingId)));
    throw error;
  }
  result.lockHoldMs.push(performance.now() - lockStarted);
  result.transactions += 1;
  result.repaired += repaired - taken.kept.length;
  for (const write of taken.writes) result.changes.push(write);
  for (const id of skipped) result.skipped.push(id);
  for (const left of unfit) result.failed.push(left);
  for (const left of taken.kept) result.failed.push(left);
  const lockedSet = new Set(lockedIds);
  return { notLocked: ids.filter((id) => !lockedSet.has(id)) };
}

/**
 * What the batch's UPDATE really did. A BEFORE UPDATE trigger may put a value back (a "frozen"
 * setting), set its own, or change a counter repair did not write, and the server says nothing of
 * it: its "Changed: n" counts a row whose other counter did change, and MySQL shows the triggers
 * only to an account with the TRIGGER privilege. So the batch's written
 * rows are read back in the transaction, under its locks (about 2.5 ms per 500 settings, on the
 * lock hold; not where the server lists no such trigger and the UPDATE changed every row it was
 * given: ReadBack), and every audited counter of them compared with what it should now hold: the count
 * written, or its value `before` (as locked) where nothing was written. A change is recorded
 * (audited, reported) as the row holds it; a setting with any counter not as it should be is
 * `kept`: failed, named with what happened (a rerun would do the same, so not one for the next
 * run). A counter the row holds NULL in is named but not audited (newValue holds no NULL).
 */
async function takenWrites(
  session: RepairSession,
  written: readonly WrittenChange[],
  before: ReadonlyMap<bigint, Record<string, bigint | null>>,
  changed: number | null,
  afterLock: <T>(step: () => Promise<T>) => Promise<T>,
): Promise<{ writes: WrittenChange[]; kept: { settingId: bigint; reason: string; kept: true }[] }> {
  if (written.length === 0) return { writes: [], kept: [] };
  const ids = [...new Set(written.map((write) => write.settingId))];
  // `changed`: given where no trigger could alter a row (ReadBack 'when-unchanged'): every row changed, nothing to read.
  if (changed !== null && changed >= ids.length) return { writes: [...written], kept: [] };
  const now = new Map((await afterLock(() => session.readBack(ids))).map((row) => [row.id, row.cached]));
  const wrote = new Map(written.map((write) => [`${write.settingId}\0${write.counter}`, write]));
  const writes: WrittenChange[] = [];
  const kept = new Map<bigint, string[]>();
  const say = (settingId: bigint, what: string): void => void kept.set(settingId, [...(kept.get(settingId) ?? []), what]);
  for (const settingId of ids) {
    const held = now.get(settingId);
    for (const [counter, from] of Object.entries(before.get(settingId) ?? {})) {
      const write = wrote.get(`${settingId}\0${counter}`);
      const value = held?.[counter];
      const expected = write === undefined ? from : write.to;
      if (value === expected) {
        if (write !== undefined) writes.push(write);
        continue;
      }
      // Changed by the UPDATE, though not to what was written (or not written at: a trigger's doing).
      if (value !== undefined && value !== null && value !== from) writes.push({ settingId, counter, from, to: value });
      if (value === undefined) say(settingId, `${counter} is gone`);
      else if (write === undefined) say(settingId, `${counter} became ${value ?? 'NULL'} though repair wrote none`);
      else if (value === from) say(settingId, `${counter} kept ${from ?? 'NULL'} where repair wrote ${write.to}`);
      else say(settingId, `${counter} became ${value ?? 'NULL'} where repair wrote ${write.to}`);
    }
  }
  return {
    writes,
    kept: [...kept].map(([settingId, said]) => ({
      settingId,
      reason: `${said.join(', ')}: something on the table does that (a trigger? SHOW TRIGGERS shows them), and a rerun would too`,
      kept: true as const,
    })),
  };
}

/** Why a setting's writes cannot be made (a count past its column's largest value), or null. */
function unfitReason(writes: readonly WrittenChange[], scope: AuditScope): string | null {
  for (const write of writes) {
    const counter = scope.counters.find((one) => one.name === write.counter);
    if (counter !== undefined && pastColumn(counter, write.to)) {
      return `${write.counter} counts ${write.to}, past the most ${scope.model.settings.table}.${write.counter} holds (${counter.cacheMax}): widen the column, then rerun`;
    }
  }
  return null;
}

/** What the caller's beforeCommit threw, carried past the retry loop's error mapping. */
class CallerError {
  constructor(readonly error: unknown) {}
}

/** A wait for a table's metadata lock past --lock-wait-timeout, inside a batch (repairBatch): at a SKIP LOCKED lock statement, or after it. */
class TableLockWait {
  constructor(readonly error: unknown) {}
}

/** Why the settings left when a table's metadata lock stopped the run are not repaired. */
export const TABLE_LOCK_REASON = "every try waited past --lock-wait-timeout for something other than a setting row: most likely a table's metadata lock (an ALTER TABLE or LOCK TABLES queued on it?)";

/** A setting's write the server refused (isWriteRefusal), as its failure and the run's stop say it. */
function refusalReason(error: unknown, model: CounterModel): string {
  const { errno, sqlMessage, message } = error as { errno?: number; sqlMessage?: string; message?: string };
  const text = sqlMessage ?? message ?? '';
  const why = isConstraintRefusal(error) ? constraintCause(text, model) : "a trigger's SIGNAL?";
  return `the server refused its write: "${text}" (error ${errno ?? '?'}, ${why})`;
}

/**
 * Whose CHECK constraint refused a write, from the server's message ("CONSTRAINT `c` failed for
 * `db`.`table`"): the audit table's refused the row repair records there; the settings table's (or
 * one the server did not name) the row with its true counts, or with another of its columns.
 */
function constraintCause(message: string, model: CounterModel): string {
  const table = /failed for (?:`(?:[^`]|``)*`\.)?`((?:[^`]|``)*)`/.exec(message)?.[1]?.replace(/``/g, '`');
  if (table !== undefined && table.toLowerCase() === model.auditTable.toLowerCase()) {
    return `a CHECK constraint of the audit table ${model.auditTable} refused the row recording the write; correct the constraint`;
  }
  if (table === undefined) return 'a CHECK constraint refused the write (the server did not say whose: the settings table, or the audit table); correct the data or the constraint';
  return `a CHECK constraint of ${table} refused the row as repair would write it; correct the data or the constraint`;
}

function describeLockError(error: unknown): string {
  const errno = (error as { errno?: number }).errno;
  if (errno === 1213) return 'deadlock on every retry';
  if (errno === 1020) return 'the row kept changing (1020) on every retry';
  if (errno === 3101 || errno === 1180) return 'a conflicting write through another cluster member failed its commit on every retry';
  return 'still locked by another session after every retry';
}
