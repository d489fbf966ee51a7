import mysql from 'mysql2/promise';
import type { Connection as CoreConnection } from 'mysql2';
import type { ConnectionOptions, Pool, PoolConnection, PoolOptions, RowDataPacket } from 'mysql2/promise';
import type { ConnectionConfig } from './connection-config.js';
import { toDatabaseError } from './database-error.js';
import { TAG } from './builder.js';

export type Row = RowDataPacket & Record<string, unknown>;

/**
 * The connection pool. It runs statements and hands out dedicated connections; what the statements
 * are is decided by the role modules beside it (inspector.ts reads the server, scanner.ts detects,
 * applier.ts writes, run-lock.ts) from the pure builders in builder.ts.
 */
export class Database {
  private constructor(
    private readonly pool: Pool,
    readonly config: ConnectionConfig,
  ) {}

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
      const [rows] = await this.pool.query<Row[]>(sql);
      return rows;
    } catch (error) {
      throw toDatabaseError(error, this.config, context);
    }
  }

  /** Runs one statement and returns the driver's error untouched (privilege probes tell errors apart). */
  async tryQuery(sql: string): Promise<Row[]> {
    assertTagged(sql);
    const [rows] = await this.pool.query<Row[]>(sql);
    return rows;
  }

  /** A connection of its own, for a session (a transaction, the run lock) that must not be shared. */
  async session(context: string): Promise<Session> {
    try {
      return new Session(await this.pool.getConnection());
    } catch (error) {
      throw toDatabaseError(error, this.config, context);
    }
  }
}

/** One dedicated connection. Errors are the driver's: callers decide what is retried and what is fatal. */
export class Session {
  constructor(private readonly connection: PoolConnection) {}

  async query(sql: string): Promise<Row[]> {
    assertTagged(sql);
    const [rows] = await this.connection.query<Row[]>(sql);
    return rows;
  }

  /** The callback connection under the promise wrapper, for its 'end' and 'error' events. */
  get events(): Pick<CoreConnection, 'once' | 'removeListener'> {
    return this.connection.connection as unknown as CoreConnection;
  }

  release(): void {
    this.connection.release();
  }

  /** For a connection that failed mid-statement or mid-transaction: drop it instead of reusing it. */
  destroy(): void {
    this.connection.destroy();
  }
}

function assertTagged(sql: string): void {
  if (!sql.startsWith(TAG)) throw new Error(`untagged statement: ${sql.slice(0, 60)}`);
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
  };
}
