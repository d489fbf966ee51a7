import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { printable } from '../core/printable.js';
import { type LeaseRow, leaseSql, runLockSql } from './builder.js';
import type { Database, Session } from './database.js';
import { isLockWaitTimeout, isRetryableLockError, toDatabaseError } from './database-error.js';
import { type EngineProfile, runLockKind } from './engine.js';
import { tableExists } from './inspector.js';
import { abortReason, CouponAuditError, DatabaseError } from '../errors.js';

/**
 * The run lock that keeps two repairs off one database, whichever node or proxy each goes through.
 *
 * - Where GET_LOCK excludes every session of the database (one server, TiDB, Vitess, Aurora's
 *   writer), it is GET_LOCK on a connection of its own: per connection, it survives COMMIT and goes
 *   away by itself if the process dies (the server drops the connection).
 * - Where GET_LOCK is per node (Galera, Group Replication), it is a lease: a row in a small table
 *   the tool creates, taken and renewed by autocommit writes that certify cluster-wide, deleted at
 *   the end, and taken over by another repair once not renewed for its time to live (the process
 *   died). Every repair transaction renews it too (the fence, `fenceSql`): a batch commits only
 *   while the lease is its run's, so even a paused process that lost it cannot write beside the
 *   repair that took it over.
 */
export interface RunLock {
  /** For messages: "the lock 'coupon-audit:repair:shop'" or "the lease 'coupon-audit:repair:shop' in coupon_audit_run_lock". */
  readonly description: string;
  /** Aborted when the lock can no longer be trusted (its connection went, its lease was taken or not renewed). */
  readonly lost: AbortSignal;
  /** A write to run in every repair transaction before COMMIT; it must match one row, or the lock is gone. null: none needed. */
  readonly fenceSql: string | null;
  release(): Promise<void>;
}

/** Someone else holds it: who (as precisely as the server says), and what. */
export interface RunLockHeld {
  heldBy: string;
  description: string;
}

/** The lease table, in the repaired database. */
export const LEASE_TABLE = 'coupon_audit_run_lock';
/** A lease not renewed for this long may be taken over (the process died). Renewed every quarter of it. */
export const LEASE_TTL_SECONDS = 15;

/** What a named lock keeps to one at a time: repairs (the run lock), or checks of every setting (the check lock). */
export type LockPurpose = 'repair' | 'check';

export function runLockName(database: string, purpose: LockPurpose = 'repair'): string {
  const name = `coupon-audit:${purpose}:${database}`;
  // GET_LOCK names are limited to 64 characters; a long database name keeps a unique tail.
  return name.length <= 64 ? name : `coupon-audit:${purpose}:${createHash('sha1').update(database).digest('hex')}`;
}

export interface AcquireOptions {
  /** How long to wait for another repair's lock (0: answer at once). */
  waitSeconds: number;
  /** The run id: the lease's owner. */
  owner: string;
  ttlSeconds?: number;
  /** Stops the wait (Ctrl-C, SIGTERM, a library caller's abort): rejects with its reason within about a second. */
  signal?: AbortSignal | undefined;
  /** Called once when the lock is held and the run starts waiting for it (waitSeconds > 0), with who holds it. */
  onWait?: ((heldBy: string) => void) | undefined;
}

/** The lock the engine needs, or who holds it when it was not free within `waitSeconds`. */
export async function acquireRunLock(db: Database, engine: EngineProfile, options: AcquireOptions): Promise<RunLock | RunLockHeld> {
  return runLockKind(engine) === 'lease' ? LeaseRunLock.acquire(db, engine, options) : NamedRunLock.acquire(db, options.waitSeconds, options.signal, 'repair', options.onWait);
}

/**
 * The check lock: GET_LOCK('coupon-audit:check:<database>') on a connection of its own, so that a
 * scheduled check that outlasts its interval is not joined by the next one (two full scans at once
 * on a server that one already loads). GET_LOCK where it is per node too (Group Replication): a
 * check writes nothing, so it takes no lease row, and checks through two nodes may overlap. None on
 * Galera (core/run.ts checkRun), where newer releases refuse GET_LOCK, nor where the server refuses
 * it (null). Losing it mid-scan changes nothing the check reports, so nobody watches `lost`.
 */
export async function acquireCheckLock(db: Database, waitSeconds: number, signal?: AbortSignal, onWait?: (heldBy: string) => void): Promise<RunLock | RunLockHeld | null> {
  try {
    return await NamedRunLock.acquire(db, waitSeconds, signal, 'check', onWait);
  } catch (error) {
    // ER_NOT_SUPPORTED_YET: an engine that refuses GET_LOCK (a wsrep node the profile did not tell).
    if (error instanceof DatabaseError && (error.cause as { errno?: number } | undefined)?.errno === 1235) return null;
    throw error;
  }
}

export function isRunLock(value: RunLock | RunLockHeld): value is RunLock {
  return 'release' in value;
}

/** Watches a dedicated connection: when it goes, the lock goes with it. */
abstract class ConnectionLock {
  protected readonly lostController = new AbortController();
  protected released = false;

  protected constructor(protected readonly session: Session) {}

  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  protected loseWith(message: string): void {
    if (!this.released && !this.lost.aborted) this.lostController.abort(new DatabaseError(message));
  }

  private onLost: (() => void) | null = null;

  protected watch(lostMessage: string): void {
    this.onLost = (): void => this.loseWith(lostMessage);
    this.session.events.once('end', this.onLost);
    this.session.events.once('error', this.onLost);
  }

  /** Before the connection goes back to the pool: its events are no longer this lock's. */
  protected unwatch(): void {
    if (this.onLost === null) return;
    this.session.events.removeListener('end', this.onLost);
    this.session.events.removeListener('error', this.onLost);
    this.onLost = null;
  }
}

/** GET_LOCK on a connection of its own, pinged well inside wait_timeout (as gh-ost keeps its lock alive). */
class NamedRunLock extends ConnectionLock implements RunLock {
  readonly fenceSql = null;
  private readonly keepAlive: NodeJS.Timeout;

  private constructor(
    session: Session,
    readonly name: string,
    keepAliveMs: number,
    lostMessage: string,
  ) {
    super(session);
    this.watch(lostMessage);
    this.keepAlive = setInterval(() => {
      session.query(runLockSql.keepAlive).catch(() => this.loseWith(lostMessage));
    }, keepAliveMs);
    this.keepAlive.unref();
  }

  get description(): string {
    return `the lock '${this.name}'`;
  }

  static async acquire(db: Database, waitSeconds: number, signal?: AbortSignal, purpose: LockPurpose = 'repair', onWait?: (heldBy: string) => void): Promise<RunLock | RunLockHeld> {
    const name = runLockName(db.config.database, purpose);
    const context = `taking the ${purpose === 'repair' ? 'run' : 'check'} lock`;
    const session = await db.session(context, { long: true });
    try {
      // Asked without waiting, again every ~100 ms until the deadline: a GET_LOCK waiting on the
      // server hears no signal, one abandoned by a closed connection still waits its whole timeout,
      // and a session waiting there counts in Threads_running (state 'User lock'), so that many
      // waiters (a recount endpoint called in parallel) made the holder throttle itself under
      // --max-load until they gave up. Between tries the connection sleeps, as an idle one.
      const deadline = performance.now() + waitSeconds * 1000;
      let got = false;
      for (;;) {
        const [row] = await session.query(runLockSql.get(name, 0));
        got = Number(row?.['got']) === 1;
        if (got) break;
        // Before the deadline: a signal while waiting is the run's end (130/143), not exit 5.
        if (signal?.aborted) throw abortReason(signal);
        const left = deadline - performance.now();
        if (left <= 0) break;
        if (onWait !== undefined) {
          onWait(await describeNamedHolder(session, name));
          onWait = undefined;
        }
        await sleep(Math.min(left, 50 + Math.random() * 100), undefined, { signal }).catch(() => undefined);
        if (signal?.aborted) throw abortReason(signal);
      }
      if (got) {
        const [timeout] = await session.query(runLockSql.waitTimeout);
        // A quarter of wait_timeout, between 1 s and 60 s: the server never finds the connection idle.
        const keepAliveMs = Math.min(60_000, Math.max(1000, (Number(timeout?.['seconds']) || 28_800) * 250));
        return new NamedRunLock(
          session,
          name,
          keepAliveMs,
          `Lost the run lock: its connection to ${db.config.host}:${db.config.port} went away, so another repair could start; ` +
            'stopped after the transaction in flight (what was written is above). Rerun to finish.',
        );
      }
      const heldBy = await describeNamedHolder(session, name);
      session.release();
      return { heldBy, description: `the lock '${name}'` };
    } catch (error) {
      if (error instanceof CouponAuditError) {
        session.release();
        throw error;
      }
      session.destroy();
      throw toDatabaseError(error, db.config, context);
    }
  }

  async release(): Promise<void> {
    clearInterval(this.keepAlive);
    if (this.lost.aborted) {
      this.session.destroy();
      return;
    }
    this.released = true;
    try {
      await this.session.query(runLockSql.release(this.name));
      this.unwatch();
      this.session.release();
    } catch {
      this.session.destroy();
    }
  }
}

async function describeNamedHolder(session: Session, name: string): Promise<string> {
  let holder: unknown;
  try {
    const [row] = await session.query(runLockSql.holder(name));
    holder = row?.['holder'];
  } catch {
    return 'another session'; // IS_USED_LOCK is missing on some engines (older TiDB)
  }
  if (holder == null) return 'another session (it has just released it)';
  try {
    const [who] = await session.query(runLockSql.describe(BigInt(String(holder))));
    if (who !== undefined) {
      return `connection ${holder} (${printable(String(who['user']))}@${printable(String(who['host']).replace(/:\d+$/, ''))})`;
    }
  } catch {
    // fall through: PROCESSLIST may be hidden from this user
  }
  return `connection ${holder}`;
}

/** The lease row: see RunLock. */
class LeaseRunLock extends ConnectionLock implements RunLock {
  readonly fenceSql: string;
  private readonly heartbeat: NodeJS.Timeout;
  private renewing = false;

  private constructor(
    session: Session,
    private readonly db: Database,
    private readonly row: LeaseRow,
    private readonly ttlSeconds: number,
  ) {
    super(session);
    const target = `${db.config.host}:${db.config.port}`;
    this.fenceSql = leaseSql.renew(LEASE_TABLE, row.name, row.owner, ttlSeconds);
    this.watch(
      `Lost the run lock: the connection that renews its lease (${this.description}) through ${target} went away, so another repair ` +
        `could start once it expires (${ttlSeconds} s); stopped after the transaction in flight (what was written is above). Rerun to finish.`,
    );
    this.heartbeat = setInterval(() => void this.renew(), Math.max(250, (ttlSeconds * 1000) / 4));
    this.heartbeat.unref();
  }

  get description(): string {
    return `the lease '${this.row.name}' in ${LEASE_TABLE}`;
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.released || this.lost.aborted) return;
    this.renewing = true;
    try {
      const matched = await this.session.execute(this.fenceSql);
      if (matched !== 1) this.loseWith(leaseTakenMessage(this.description));
    } catch (error) {
      const reason = (error as { sqlMessage?: string; message?: string }).sqlMessage ?? (error as Error).message;
      this.loseWith(
        `Lost the run lock: ${this.description} could not be renewed through ${this.db.config.host}:${this.db.config.port} (${reason}), ` +
          'so another repair could start once it expires; stopped after the transaction in flight (what was written is above). Rerun to finish.',
      );
    } finally {
      this.renewing = false;
    }
  }

  static async acquire(db: Database, engine: EngineProfile, options: AcquireOptions): Promise<RunLock | RunLockHeld> {
    const ttlSeconds = options.ttlSeconds ?? LEASE_TTL_SECONDS;
    await ensureLeaseTable(db);
    const row: LeaseRow = {
      name: runLockName(db.config.database),
      owner: options.owner,
      holder:
        `${db.config.user} on ${hostname()} (pid ${process.pid}) through ` +
        `${engine.nodeName === null ? '' : `node ${engine.nodeName}, `}${db.config.host}:${db.config.port}`,
    };
    const description = `the lease '${row.name}' in ${LEASE_TABLE}`;
    const deadline = Date.now() + options.waitSeconds * 1000;
    const session = await db.session('taking the run lock', { long: true });
    try {
      for (let attempt = 1; ; attempt += 1) {
        let taken = false;
        try {
          taken =
            (await session.execute(leaseSql.insert(LEASE_TABLE, row, ttlSeconds))) === 1 ||
            (await session.execute(leaseSql.takeOver(LEASE_TABLE, row, ttlSeconds))) === 1;
        } catch (error) {
          // Two repairs took it at once through two nodes: the other's write certified first
          // (1213). Not a lock wait that ran out (1205: the lease table's metadata lock held
          // past --metadata-lock-wait, most likely): trying again would wait as long once more.
          if (!isRetryableLockError(error) || isLockWaitTimeout(error)) throw error;
        }
        if (taken) return new LeaseRunLock(session, db, row, ttlSeconds);
        if (options.signal?.aborted) throw abortReason(options.signal);
        const heldBy = await describeLease(session, row.name);
        if (Date.now() >= deadline && (heldBy !== null || attempt >= 20)) {
          session.release();
          return { heldBy: heldBy ?? 'another repair (the lease kept changing hands)', description };
        }
        if (heldBy !== null && attempt === 1) options.onWait?.(heldBy);
        // Gone already (released, or our conflict's winner not applied here yet): try again at once.
        await sleep(heldBy === null ? 50 * Math.min(attempt, 10) : Math.max(50, Math.min(1000, deadline - Date.now())), undefined, { signal: options.signal }).catch(() => undefined);
        if (options.signal?.aborted) throw abortReason(options.signal);
      }
    } catch (error) {
      if (error instanceof CouponAuditError) {
        session.release();
        throw error;
      }
      session.destroy();
      throw toDatabaseError(error, db.config, 'taking the run lock');
    }
  }

  async release(): Promise<void> {
    clearInterval(this.heartbeat);
    const lost = this.lost.aborted;
    this.released = true;
    const sql = leaseSql.release(LEASE_TABLE, this.row.name, this.row.owner);
    if (!lost) {
      try {
        await this.session.execute(sql);
        this.unwatch();
        this.session.release();
        return;
      } catch {
        // fall through: try once more on another connection
      }
    }
    this.session.destroy();
    // Only this run's row is deleted (owner = run id): harmless when another repair took it over.
    await this.db.tryQuery(sql).catch(() => undefined);
  }
}

export function leaseTakenMessage(description: string): string {
  return (
    `Lost the run lock: ${description} is no longer this run's (it expired and another repair took it over), ` +
    'so two repairs could overlap; stopped, and the transaction in flight was rolled back (what was written before is above). Rerun to finish.'
  );
}

/** "run <id> (<who>), held 3.2 s, renewed 0.4 s ago, expires in 14.6 s unless renewed"; null when free. */
async function describeLease(session: Session, name: string): Promise<string | null> {
  const [row] = await session.query(leaseSql.holder(LEASE_TABLE, name));
  if (row === undefined) return null;
  const seconds = (ms: unknown): string => (Number(ms) / 1000).toFixed(1);
  const expiresIn = Number(row['expiresInMs']);
  return (
    `run ${printable(String(row['owner']))} by ${printable(String(row['holder']))}, held ${seconds(row['heldMs'])} s, renewed ${seconds(row['renewedMsAgo'])} s ago, ` +
    (expiresIn > 0 ? `expires in ${seconds(expiresIn)} s unless renewed` : 'expired: a repair may take it over now')
  );
}

/** Creates the lease table when missing. Looks first: CREATE TABLE IF NOT EXISTS would need CREATE even when it exists. */
export async function ensureLeaseTable(db: Database): Promise<boolean> {
  if (await tableExists(db, LEASE_TABLE)) return false;
  await db.query(leaseSql.createTable(LEASE_TABLE), `creating the run lock table ${LEASE_TABLE}`);
  return true;
}
