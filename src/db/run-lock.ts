import { createHash } from 'node:crypto';
import { runLockSql } from './builder.js';
import type { Database, Session } from './database.js';
import { toDatabaseError } from './database-error.js';
import { DatabaseError } from '../errors.js';

/**
 * The server-side run lock (GET_LOCK) that keeps two repairs off one database. It lives on a
 * connection of its own: GET_LOCK is per connection and survives COMMIT, and the lock goes away by
 * itself if the process dies (the server drops the connection). That connection idles through the
 * scan and the prompt, so it is pinged well inside wait_timeout (as gh-ost keeps its lock alive).
 */
export class RunLock {
  private readonly lostController = new AbortController();
  private released = false;
  private readonly keepAlive: NodeJS.Timeout;

  private constructor(
    private readonly session: Session,
    readonly name: string,
    keepAliveMs: number,
    lostMessage: string,
  ) {
    // The lock lives as long as this connection: if the server drops it (KILL, a restart, a
    // network cut), another repair may start, so the repair must stop after its transaction.
    const onLost = (): void => {
      if (!this.released) this.lostController.abort(new DatabaseError(lostMessage));
    };
    session.events.once('end', onLost);
    session.events.once('error', onLost);
    this.keepAlive = setInterval(() => {
      session.query(runLockSql.keepAlive).catch(onLost);
    }, keepAliveMs);
    this.keepAlive.unref();
  }

  /** Aborted when the lock's connection goes away, and the lock with it. */
  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  static lockName(database: string): string {
    const name = `coupon-audit:repair:${database}`;
    // GET_LOCK names are limited to 64 characters; a long database name keeps a unique tail.
    return name.length <= 64 ? name : `coupon-audit:repair:${createHash('sha1').update(database).digest('hex')}`;
  }

  /** Resolves to the lock, or to a description of who holds it when it was not free within `waitSeconds`. */
  static async acquire(db: Database, waitSeconds: number): Promise<RunLock | { heldBy: string }> {
    const name = RunLock.lockName(db.config.database);
    const session = await db.session('taking the run lock');
    try {
      const [row] = await session.query(runLockSql.get(name, waitSeconds));
      if (Number(row?.['got']) === 1) {
        const [timeout] = await session.query(runLockSql.waitTimeout);
        // A quarter of wait_timeout, between 1 s and 60 s: the server never finds the connection idle.
        const keepAliveMs = Math.min(60_000, Math.max(1000, (Number(timeout?.['seconds']) || 28_800) * 250));
        return new RunLock(
          session,
          name,
          keepAliveMs,
          `Lost the run lock: its connection to ${db.config.host}:${db.config.port} went away, so another repair could start; ` +
            'stopped after the transaction in flight (what was written is above). Rerun to finish.',
        );
      }
      const heldBy = await describeHolder(session, name);
      session.release();
      return { heldBy };
    } catch (error) {
      session.destroy();
      throw toDatabaseError(error, db.config, 'taking the run lock');
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
      this.session.release();
    } catch {
      this.session.destroy();
    }
  }
}

async function describeHolder(session: Session, name: string): Promise<string> {
  const [row] = await session.query(runLockSql.holder(name));
  const holder = row?.['holder'];
  if (holder == null) return 'another session (it has just released it)';
  try {
    const [who] = await session.query(runLockSql.describe(BigInt(String(holder))));
    if (who !== undefined) {
      return `connection ${holder} (${String(who['user'])}@${String(who['host']).replace(/:\d+$/, '')}, for ${String(who['seconds'])} s)`;
    }
  } catch {
    // fall through: PROCESSLIST may be hidden from this user
  }
  return `connection ${holder}`;
}
