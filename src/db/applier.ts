import { readFileSync } from 'node:fs';
import type { AuditScope } from '../core/model.js';
import { DEFAULT_MODEL } from '../core/model.js';
import { DatabaseError } from '../errors.js';
import {
  auditTableDdl,
  type CounterWrite,
  ident,
  inspectSql,
  insertAuditSql,
  type LockMode,
  lockSettingsSql,
  sessionSql,
  settingsByIdSql,
  writeCountersSql,
} from './builder.js';
import type { Database, Session } from './database.js';
import type { EngineProfile } from './engine.js';
import { isConnectionLost, toDatabaseError } from './database-error.js';
import { type IdleVerdict, idleVerdict, recentStalls, watchStalls } from './stalls.js';
import { tableExists } from './inspector.js';
import type { SettingRow } from './rows.js';
import { countChildren, readSettingRows } from './scanner.js';
import { SQL_DIR } from './sql-script.js';

/** What a writer's set-up needs of the engine (db/engine.ts). */
export type WriterEngine = Pick<EngineProfile, 'writeSetup' | 'boundsMetadataLockWait' | 'endsIdleTransactions'>;

/**
 * How long the server lets a repair transaction sit idle before it ends it (and its connection):
 * a transaction is a few statements sent back to back (TARGET_TRANSACTION_MS), plus the library's
 * beforeCommit; only a stopped or stalled process leaves one idle this long. Well under InnoDB's
 * default innodb_lock_wait_timeout (50 s): at 60 s, an application transaction waiting on a row
 * of a stopped repair (Ctrl-Z, SIGSTOP) failed with 1205 before the server let the row go.
 */
export const IDLE_TRANSACTION_SECONDS = 10;

/**
 * Everything repair writes (in the manner of gh-ost's applier.go): one connection, one short
 * transaction at a time, READ COMMITTED so that every plain read after the FOR UPDATE sees the
 * latest committed children (a fresh snapshot per statement).
 */
export class RepairSession {
  /** False once the connection was lost: it is then destroyed, never handed back to the pool. */
  healthy = true;
  /** Stalls are watched while a repair connection is open (stalls.ts). */
  private readonly unwatchStalls = watchStalls();

  private constructor(
    private readonly session: Session,
    private readonly db: Database,
    private readonly scope: AuditScope,
    private readonly preservedColumns: readonly string[],
    private readonly engine: WriterEngine,
  ) {}

  /**
   * `engine.writeSetup`: the engine's session statements for writers, run first (TiDB: pessimistic
   * transactions); its flags say which waits the session can bound (sessionSql.writeTimeouts).
   */
  static async open(
    db: Database,
    scope: AuditScope,
    preservedColumns: readonly string[],
    lockWaitTimeoutSeconds: number,
    engine: WriterEngine,
  ): Promise<RepairSession> {
    const session = await db.session('opening a repair connection', { long: true });
    try {
      for (const sql of engine.writeSetup) await session.query(sql);
      await session.query(sessionSql.readCommitted);
      await session.query(
        sessionSql.writeTimeouts(lockWaitTimeoutSeconds, {
          metadataLock: engine.boundsMetadataLockWait,
          idleSeconds: engine.endsIdleTransactions ? IDLE_TRANSACTION_SECONDS : null,
        }),
      );
    } catch (error) {
      session.destroy();
      throw toDatabaseError(error, db.config, 'setting up the repair session');
    }
    return new RepairSession(session, db, scope, preservedColumns, engine);
  }

  // Errors are thrown as the driver's: the repair loop retries lock errors and maps the rest.

  /**
   * A connection lost at a statement sent after the transaction had sat idle past the server's limit
   * (IDLE_TRANSACTION_SECONDS; the time statements ran does not count) most likely is the server
   * ending it, not a server gone away. A connection killed while a statement ran is the plain case.
   */
  asDatabaseError(error: unknown, context: string): DatabaseError {
    // The retry loop rolls back before it maps the error: what the failed statement met is kept there.
    const endedIdle = isConnectionLost(error) ? (this.beforeRollback?.endedIdle ?? this.endedWhileIdle()) : 'no';
    if (endedIdle === 'maybe') {
      const plain = toDatabaseError(error, this.db.config, context);
      return new DatabaseError(
        `${plain.message} The process had been stopped or starved of CPU meanwhile (SIGSTOP?) for ${IDLE_TRANSACTION_SECONDS} s or more while a statement ran: ` +
          `the server may have ended its transaction for sitting idle (idle_transaction_timeout).`,
        { cause: error },
      );
    }
    if (endedIdle === 'surely') {
      return new DatabaseError(
        `The server ended the repair's connection while ${context}, most likely because its transaction sat idle ${IDLE_TRANSACTION_SECONDS} s ` +
          `(idle_transaction_timeout, which repair sets so that a stopped process does not keep rows locked): was the process stopped (Ctrl-Z, SIGSTOP) or starved of CPU? ` +
          `That transaction was rolled back: the server ended it before the next statement reached it. Rerun to finish.`,
        { cause: error },
      );
    }
    return toDatabaseError(error, this.db.config, context);
  }

  /** When the server answered BEGIN, until COMMIT or ROLLBACK: the server's idle limit applies only then. */
  private openedAt: number | null = null;
  /** endedWhileIdle() as it was when rollback() was called (the retry loop rolls back first). */
  private beforeRollback: { endedIdle: IdleVerdict } | null = null;

  async begin(): Promise<void> {
    this.beforeRollback = null;
    await this.session.query(sessionSql.begin);
    this.openedAt = performance.now();
  }

  /**
   * Whether the server most likely ended this transaction for sitting idle IDLE_TRANSACTION_SECONDS
   * before the last statement reached it: the gap before that statement was sent (a slow
   * beforeCommit), or the process itself stopped or starved that long while the transaction was
   * open (SIGSTOP, a paused VM: a reply read after it looks fresh; stalls.ts). Time a statement
   * runs is not idle, and time before BEGIN was answered is outside the transaction.
   */
  endedWhileIdle(): IdleVerdict {
    if (!this.engine.endsIdleTransactions) return 'no';
    return idleVerdict({
      limitMs: IDLE_TRANSACTION_SECONDS * 1000,
      openedAt: this.openedAt,
      idleBeforeLastMs: this.session.idleBeforeLastMs,
      lastSentAt: this.session.lastSentAt,
      statements: this.session.recent,
      stalls: recentStalls(),
    });
  }

  /** Locks the settings that exist among `ids`, ascending; rows others hold are waited for, left out or an error (LockMode). */
  async lockSettings(ids: readonly bigint[], mode: LockMode): Promise<SettingRow[]> {
    return readSettingRows(await this.session.query(lockSettingsSql(this.scope, ids, mode)), this.scope);
  }

  /** Plain (non-locking) counts per counter: under READ COMMITTED they see everything committed before each statement. */
  async countChildren(ids: readonly bigint[]): Promise<Map<string, Map<bigint, bigint>>> {
    return countChildren(this.session, this.scope, ids);
  }

  /**
   * The batch's new values, one statement (builder.ts writeCountersSql). A server whose sql_mode
   * is not strict stores a count the column cannot hold clipped, with a warning, where a strict one
   * refuses it (1264): the audit row would then say a count the table does not hold. So a warning about a counter column ends the batch (rolled back, exit 3). Only
   * those: the UPDATE also assigns preserved columns to themselves (a zero date there may warn).
   */
  async writeCounters(writes: readonly CounterWrite[]): Promise<{ changed: number | null }> {
    if (writes.length === 0) return { changed: 0 };
    const { changed, warnings } = await this.session.write(writeCountersSql(this.scope.model, writes, this.preservedColumns));
    const counters = new Set(writes.map((write) => write.counter.toLowerCase()));
    const clipped = await this.warningOn(warnings, (column) => counters.has(column.toLowerCase()));
    if (clipped !== null) {
      throw new DatabaseError(`A count does not fit its column: ${clipped.message} (warning ${clipped.code}); widen the column. Nothing of that batch was written.`);
    }
    return { changed };
  }

  /**
   * The settings table's BEFORE UPDATE triggers, asked in the transaction once its rows are locked:
   * CREATE TRIGGER waits for the metadata lock the transaction holds from then to its COMMIT, so the
   * answer stays true for the batch (core/repair.ts ReadBack).
   */
  async beforeUpdateTriggers(): Promise<number> {
    const [row] = await this.session.query(inspectSql.beforeUpdateTriggers(this.scope.model.settings.table));
    return Number(row?.['n'] ?? 0);
  }

  /**
   * These settings as this transaction sees them now, its own writes included (a plain read: the
   * rows are locked by it, so nobody else's write is in between): what the UPDATE left
   * (core/repair.ts takenWrites).
   */
  async readBack(ids: readonly bigint[]): Promise<SettingRow[]> {
    return readSettingRows(await this.session.query(settingsByIdSql(this.scope, ids)), this.scope);
  }

  /** The first of the last statement's `warnings` (SHOW WARNINGS) about a column `about` accepts; null when none. */
  private async warningOn(warnings: number, about: (column: string) => boolean): Promise<{ column: string; message: string; code: string } | null> {
    if (warnings === 0) return null;
    for (const row of await this.session.query(sessionSql.showWarnings)) {
      const message = String(row['Message'] ?? '');
      const column = columnNamed(message);
      if (column !== undefined && about(column)) return { column, message, code: String(row['Code']) };
    }
    return null;
  }

  /**
   * An audit row for each of the writes, in the same transaction. An audit table made before its
   * oldValue was DECIMAL(65, 0) (sql/audit-table.sql) cannot hold a cache past BIGINT (a BIGINT
   * UNSIGNED or wide DECIMAL counter): a strict server refuses the row (1264), another clips it
   * with a warning, which would record a value the cache never held. Either ends the batch
   * (rolled back, exit 3) with the ALTER that widens the column.
   */
  async recordAudit(runId: string, writes: readonly CounterWrite[]): Promise<void> {
    if (writes.length === 0) return;
    const table = this.scope.model.auditTable;
    /** One of the number columns widened since (WIDENED), as the message names it. */
    const widened = (column: string | undefined): string | undefined => Object.keys(WIDENED).find((name) => name.toLowerCase() === column?.toLowerCase());
    const narrow = (column: string, detail: string): DatabaseError =>
      new DatabaseError(
        `The audit table ${table} cannot hold a value this batch records: ${detail}. Widen it (ALTER TABLE ${ident(table)} MODIFY ${column} ${WIDENED[column]};) ` +
          'and rerun. Nothing of that batch was written.',
      );
    let warnings: number;
    try {
      ({ warnings } = await this.session.write(insertAuditSql(table, { runId, dbUser: this.db.config.user }, writes)));
    } catch (error) {
      const message = String((error as { sqlMessage?: string }).sqlMessage ?? (error as Error).message);
      const column = (error as { errno?: number }).errno === 1264 ? widened(columnNamed(message)) : undefined;
      if (column !== undefined) throw narrow(column, message);
      throw error;
    }
    const clipped = await this.warningOn(warnings, (column) => widened(column) !== undefined);
    if (clipped !== null) throw narrow(widened(clipped.column)!, `${clipped.message} (warning ${clipped.code})`);
  }

  /** The run lock's fence inside the transaction: how many rows it matched (1 while the lock is this run's). */
  async fence(sql: string): Promise<number> {
    return this.session.execute(sql);
  }

  async commit(): Promise<void> {
    await this.session.query(sessionSql.commit);
    this.openedAt = null;
  }

  /** Never throws: a rollback on a dead connection has nothing left to undo. */
  async rollback(): Promise<void> {
    this.beforeRollback = { endedIdle: this.endedWhileIdle() };
    await this.session.query(sessionSql.rollback).catch(() => undefined);
    this.openedAt = null;
  }

  /**
   * Back to the pool with the server's defaults (sessionSql.writeDefaults), or closed when that
   * fails or the connection was lost: nothing of the repair's session settings reaches the pool's
   * next user.
   */
  async close(): Promise<void> {
    this.unwatchStalls();
    if (this.healthy) {
      try {
        await this.session.query(sessionSql.writeDefaults({ metadataLock: this.engine.boundsMetadataLockWait, idle: this.engine.endsIdleTransactions }));
        // DEFAULT is the server's lock_wait_timeout (a day), not the run's --metadata-lock-wait.
        this.session.release({ setUpAgain: true });
        return;
      } catch {
        // Closed below.
      }
    }
    this.session.destroy();
  }
}

/** The column a server message names ("Out of range value for column 'oldValue' at row 1"). */
function columnNamed(message: string): string | undefined {
  return /column '([^']+)'/i.exec(message)?.[1];
}

/**
 * The audit table's number columns that an earlier sql/audit-table.sql made narrower (BIGINT,
 * DECIMAL(20, 0)) than a cache or an id can be, each with the type it has now.
 */
const WIDENED: Readonly<Record<string, string>> = { oldValue: 'DECIMAL(65, 0) NULL', settingId: 'DECIMAL(65, 0) NOT NULL' };

/**
 * Creates the audit table when missing, from sql/audit-table.sql with the configured name.
 * Looks first: CREATE TABLE IF NOT EXISTS would need the CREATE privilege even when it exists.
 */
export async function ensureAuditTable(db: Database, table: string): Promise<boolean> {
  if (await tableExists(db, table)) return false;
  const template = readFileSync(new URL('audit-table.sql', SQL_DIR), 'utf8');
  await db.query(auditTableDdl(template, DEFAULT_MODEL.auditTable, table), `creating the audit table ${table}`);
  return true;
}
