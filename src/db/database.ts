import mysql from 'mysql2/promise';
import type { Connection as CoreConnection } from 'mysql2';
import type { ConnectionOptions, Pool, PoolConnection, PoolOptions, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { ConnectionConfig } from './connection-config.js';
import { isConnectionLimit, toDatabaseError } from './database-error.js';
import { TAG } from './builder.js';
import { InternalError } from '../errors.js';

export type Row = RowDataPacket & Record<string, unknown>;

/**
 * The connection pool. It runs statements and hands out dedicated connections; what the statements
 * are is decided by the role modules beside it (inspector.ts reads the server, scanner.ts detects,
 * applier.ts writes, run-lock.ts) from the pure builders in builder.ts.
 */
export class Database {
  /** Session statements every connection runs before its first statement (engine.readSetup). */
  private setup: readonly string[] = [];
  /** Which setup each connection has run, by the driver's connection object. */
  private readonly prepared = new WeakMap<object, readonly string[]>();
  /** Connections out of the pool for a statement or a page (not a `long` session): back soon. */
  private shortOut = 0;
  /** Callers waiting for one of those to come back (acquire). */
  private readonly waiting: (() => void)[] = [];
  /** Connections given back so far, long ones too (acquire: did one come back during an attempt?). */
  private returns = 0;

  private constructor(
    private readonly pool: Pool,
    readonly config: ConnectionConfig,
  ) {}

  /**
   * Session statements (`SET SESSION …`) that every connection runs before its next statement,
   * connections already open included: how an engine profile makes every read causal.
   */
  setSessionSetup(statements: readonly string[]): void {
    for (const sql of statements) assertTagged(sql);
    this.setup = statements;
  }

  private async prepare(connection: PoolConnection): Promise<void> {
    const key = connection.connection as unknown as object;
    if (this.prepared.get(key) === this.setup) return;
    for (const sql of this.setup) await connection.query(sql);
    this.prepared.set(key, this.setup);
  }

  /**
   * A connection of the pool: a free one, else a new one. Where the server refuses a new one for a
   * limit (a busy server's max_connections, isConnectionLimit) while another statement or page of
   * this pool holds one, the caller waits for it to come back and takes it: the run goes on with
   * fewer connections (fewer pages at once) instead of failing. A `long` session (the run lock, a
   * repair writer: held for the whole run) never waits, and nothing waits on one: it might never
   * come back in time, and the refusal is then the caller's.
   */
  private async acquire(long: boolean): Promise<PoolConnection> {
    for (;;) {
      const returnsBefore = this.returns;
      try {
        const connection = await this.pool.getConnection();
        if (!long) this.shortOut += 1;
        return connection;
      } catch (error) {
        if (!isConnectionLimit(error)) throw error;
        // One came back while the server was refusing this one (the pool opened a new connection
        // because none was free when asked): it is free now, and nobody may be left to wake us.
        if (this.returns !== returnsBefore) continue;
        if (long || this.shortOut === 0) throw error;
        await new Promise<void>((resolve) => this.waiting.push(resolve));
      }
    }
  }

  /** A connection from acquire() is back in the pool (or destroyed): the first caller waiting tries again. */
  private returned(long: boolean): void {
    if (!long) this.shortOut -= 1;
    this.returns += 1;
    this.waiting.shift()?.();
  }

  /**
   * Whether the pool has a connection free, or can open one, beyond those out: false where the
   * server refuses one more for a limit. A repair opens a second writer only while one is left for
   * its reads between batches (core/repair.ts).
   */
  async hasSpareConnection(): Promise<boolean> {
    try {
      (await this.pool.getConnection()).release();
      this.returned(true); // a caller waiting may take the one just freed
      return true;
    } catch (error) {
      if (isConnectionLimit(error)) return false;
      throw toDatabaseError(error, this.config, 'opening a connection');
    }
  }

  /** One statement on a pooled connection that has run the session setup. */
  private async run(sql: string): Promise<Row[]> {
    const connection = await this.acquire(false);
    try {
      await this.prepare(connection);
      const [rows] = await connection.query<Row[]>(sql);
      return rows;
    } finally {
      connection.release();
      this.returned(false);
    }
  }

  /** Opens a pool and proves the server answers, so connection errors surface first and clearly. */
  static async connect(config: ConnectionConfig, options: { poolSize?: number } = {}): Promise<Database> {
    const size = options.poolSize ?? 4;
    const pool = mysql.createPool({ ...connectionOptions(config), connectionLimit: size, maxIdle: size } satisfies PoolOptions);
    // An idle pooled connection the server drops emits 'error' on the pool's connection: not fatal here.
    pool.on('connection', (connection) => (connection as unknown as CoreConnection).on('error', () => undefined));
    try {
      const connection = await pool.getConnection();
      connection.release();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw toDatabaseError(error, config);
    }
    return new Database(pool, config);
  }

  /** Creates a database and runs statements in it (the demo's set-up; not the tool's own statements). */
  static async createDatabase(config: ConnectionConfig, statements: readonly string[]): Promise<void> {
    const connection = await mysql.createConnection({ ...connectionOptions(config), database: undefined }).catch((error: unknown) => {
      throw toDatabaseError(error, config);
    });
    try {
      await connection.query(`${TAG} CREATE DATABASE ${mysql.escapeId(config.database)}`);
      await connection.query(`${TAG} USE ${mysql.escapeId(config.database)}`);
      for (const statement of statements) await connection.query(`${TAG} ${statement}`);
    } catch (error) {
      throw toDatabaseError(error, config, `creating database ${config.database}`);
    } finally {
      await connection.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }

  /** Runs one statement on any pooled connection; driver errors become one-sentence DatabaseErrors. */
  async query(sql: string, context: string): Promise<Row[]> {
    assertTagged(sql);
    try {
      return await this.run(sql);
    } catch (error) {
      throw toDatabaseError(error, this.config, context);
    }
  }

  /** Runs one statement and returns the driver's error untouched (privilege probes tell errors apart). */
  async tryQuery(sql: string): Promise<Row[]> {
    assertTagged(sql);
    return this.run(sql);
  }

  /**
   * A connection of its own, for a session (a transaction, the run lock) that must not be shared.
   * `long`: held for the whole run (the run lock, a repair writer); see acquire().
   */
  async session(context: string, options: { long?: boolean } = {}): Promise<Session> {
    const long = options.long === true;
    let connection: PoolConnection;
    try {
      connection = await this.acquire(long);
    } catch (error) {
      throw toDatabaseError(error, this.config, context);
    }
    try {
      await this.prepare(connection);
    } catch (error) {
      connection.destroy();
      this.returned(long);
      throw toDatabaseError(error, this.config, context);
    }
    return new Session(connection, () => this.returned(long), () => this.prepared.delete(connection.connection as unknown as object));
  }
}

/** One dedicated connection. Errors are the driver's: callers decide what is retried and what is fatal. */
export class Session {
  private back = false;
  private readonly openedAt = performance.now();

  constructor(
    private readonly connection: PoolConnection,
    private readonly onBack: () => void = () => undefined,
    private readonly forgetSetup: () => void = () => undefined,
  ) {}

  /**
   * `textAsBytes`: text and blob values come back as Buffers, undecoded (the packed page's digits:
   * decoding megabytes of them into strings cost more than reading them).
   */
  async query(sql: string, options: { textAsBytes?: boolean } = {}): Promise<Row[]> {
    assertTagged(sql);
    return this.timed(async () => {
      const [rows] = options.textAsBytes === true ? await this.connection.query<Row[]>({ sql, typeCast: textAsBytes }) : await this.connection.query<Row[]>(sql);
      return rows;
    });
  }

  /**
   * A write: `matched`, the rows it found (mysql2 asks for found rows, so an unchanged match counts);
   * `changed`, those whose values it changed, from the server's "Rows matched: 2  Changed: 1" (null
   * where no such text came back: a statement other than UPDATE, or a proxy that drops it); and how
   * many warnings it raised.
   */
  async write(sql: string): Promise<{ matched: number; changed: number | null; warnings: number }> {
    assertTagged(sql);
    return this.timed(async () => {
      const [result] = await this.connection.query<ResultSetHeader>(sql);
      const changed = /\bchanged:\s*(\d+)/i.exec(result.info ?? '');
      return { matched: result.affectedRows, changed: changed === null ? null : Number(changed[1]), warnings: result.warningStatus ?? 0 };
    });
  }

  /** The last statements' times (sent, answered; performance.now()), for telling idle time from a statement's (db/stalls.ts idleVerdict). */
  readonly recent: { sent: number; done: number | null }[] = [];

  /** When the last statement was sent. */
  get lastSentAt(): number {
    return this.recent.at(-1)?.sent ?? this.openedAt;
  }

  /**
   * How long the connection sat with no statement of ours in flight before the last one was sent
   * (ms): what the server counts as idle (idle_transaction_timeout), unlike the time a statement runs.
   */
  get idleBeforeLastMs(): number {
    const before = this.recent.at(-2);
    return this.lastSentAt - (before === undefined ? this.openedAt : (before.done ?? before.sent));
  }

  private async timed<T>(statement: () => Promise<T>): Promise<T> {
    const times: { sent: number; done: number | null } = { sent: performance.now(), done: null };
    this.recent.push(times);
    if (this.recent.length > 16) this.recent.shift();
    try {
      return await statement();
    } finally {
      times.done = performance.now();
    }
  }

  /** A write: how many rows it matched (write). */
  async execute(sql: string): Promise<number> {
    return (await this.write(sql)).matched;
  }

  /** The callback connection under the promise wrapper, for its 'end' and 'error' events. */
  get events(): Pick<CoreConnection, 'once' | 'removeListener'> {
    return this.connection.connection as unknown as CoreConnection;
  }

  /**
   * Back to the pool. `setUpAgain`: the session changed what the pool's session set-up set
   * (Database.setSessionSetup; the repair writer's lock_wait_timeout), so the next user runs it again.
   */
  release(options: { setUpAgain?: boolean } = {}): void {
    if (options.setUpAgain === true) this.forgetSetup();
    this.connection.release();
    this.returned();
  }

  /** For a connection that failed mid-statement or mid-transaction: drop it instead of reusing it. */
  destroy(): void {
    this.connection.destroy();
    this.returned();
  }

  private returned(): void {
    if (this.back) return;
    this.back = true;
    this.onBack();
  }
}

const TEXT_TYPES = new Set(['VAR_STRING', 'STRING', 'VARCHAR', 'TINY_BLOB', 'BLOB', 'MEDIUM_BLOB', 'LONG_BLOB']);

function textAsBytes(field: { type: string; buffer(): Buffer | null }, next: () => unknown): unknown {
  return TEXT_TYPES.has(field.type) ? field.buffer() : next();
}

function assertTagged(sql: string): void {
  if (!sql.startsWith(TAG)) throw new InternalError(`untagged statement: ${sql.slice(0, 60)}`);
}

function connectionOptions(config: ConnectionConfig): ConnectionOptions {
  return {
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.database,
    ssl: config.ssl,
    connectTimeout: config.connectTimeoutMs,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    multipleStatements: false,
    enableKeepAlive: true,
    // Every statement is built whole, its values written as literals (builder.ts): none has
    // placeholders, so the driver's formatter, which scans the text for `?` (and a repair's
    // statements run to tens of kB), has nothing to do.
    queryFormat: (sql: string) => sql,
  };
}
