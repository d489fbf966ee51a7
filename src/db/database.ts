import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import type { Connection as CoreConnection } from 'mysql2';
import type { ConnectionOptions, Pool, PoolConnection, PoolOptions, RowDataPacket } from 'mysql2/promise';
import { DatabaseError } from '../errors.js';
import type { ConnectionConfig } from './connection-config.js';
import { isPrivilegeError, toDatabaseError } from './database-error.js';
import {
  type ChildCount,
  type ChildScope,
  type ChildTable,
  type RecountedSetting,
  type SettingRow,
  toBigInt,
  toBigIntOrNull,
} from './rows.js';

/**
 * The database layer: the one module that owns every SQL statement the tool runs.
 * Identifiers are escaped with escapeId; values (setting ids included) are always `?` parameters.
 * mysql2 inlines bigint parameters as exact integer literals, so ids past 2^53 stay exact.
 */

export interface TableNames {
  settings: string;
  coupons: string;
  uses: string;
  audit: string;
}

export const DEFAULT_TABLES: TableNames = {
  settings: 'g_coupon_settings',
  coupons: 'g_coupons',
  uses: 'g_coupon_uses',
  audit: 'coupon_audit_log',
};

/** The columns SPEC.md lets us assume; nothing else is read or written. */
export const REQUIRED_COLUMNS: Record<'settings' | ChildTable, readonly string[]> = {
  settings: ['id', 'status', 'issuedCount', 'usedCount'],
  coupons: ['settingId'],
  uses: ['settingId'],
};

export type Counter = 'issuedCount' | 'usedCount';
export const COUNTERS: readonly Counter[] = ['issuedCount', 'usedCount'];
export const CHILD_OF: Record<Counter, ChildTable> = { issuedCount: 'coupons', usedCount: 'uses' };

export interface ServerInfo {
  version: string;
  flavor: 'MariaDB' | 'MySQL';
  logBin: boolean;
  binlogFormat: string | null;
  /** read_only=ON (a replica, usually): only users with SUPER / READ_ONLY ADMIN may write. */
  readOnly: boolean;
  /** FOR UPDATE SKIP LOCKED: MariaDB 10.6+, MySQL 8.0.1+. */
  supportsSkipLocked: boolean;
}

export interface Privileges {
  select: Record<'settings' | ChildTable, boolean>;
  /** UPDATE on the settings table (repair). */
  update: boolean;
  audit: {
    table: string;
    exists: boolean;
    /** INSERT into it, when it exists. */
    insert: boolean | null;
    /** CREATE in the database, when it does not: true when granted, null when the grants do not say. */
    create: boolean | null;
  };
}

export interface AuditEntry {
  runId: string;
  settingId: bigint;
  counter: Counter;
  oldValue: bigint | null;
  newValue: bigint;
}

export interface DatabaseOptions {
  tables?: Partial<TableNames>;
  poolSize?: number;
}

type Row = RowDataPacket & Record<string, unknown>;

const id = (name: string): string => mysql.escapeId(name);

export class Database {
  readonly tables: TableNames;
  private readonly sql: ReturnType<typeof buildStatements>;

  private constructor(
    private readonly pool: Pool,
    readonly config: ConnectionConfig,
    tables: TableNames,
  ) {
    this.tables = tables;
    this.sql = buildStatements(tables);
  }

  /** Opens a pool and proves the server answers, so connection errors surface first and clearly. */
  static async connect(config: ConnectionConfig, options: DatabaseOptions = {}): Promise<Database> {
    const tables = { ...DEFAULT_TABLES, ...options.tables };
    const pool = mysql.createPool(poolOptions(config, options.poolSize ?? 4));
    const db = new Database(pool, config, tables);
    try {
      const connection = await pool.getConnection();
      connection.release();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw toDatabaseError(error, config);
    }
    return db;
  }

  /** Creates a database and runs statements in it (the demo's set-up). */
  static async createDatabase(config: ConnectionConfig, statements: readonly string[]): Promise<void> {
    const connection = await mysql.createConnection({ ...connectionOptions(config), database: undefined }).catch((error: unknown) => {
      throw toDatabaseError(error, config);
    });
    try {
      await connection.query(`CREATE DATABASE ${id(config.database)}`);
      await connection.query(`USE ${id(config.database)}`);
      for (const statement of statements) await connection.query(statement);
    } catch (error) {
      throw toDatabaseError(error, config, `creating database ${config.database}`);
    } finally {
      await connection.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }

  private async rows(sql: string, values: unknown[], context: string): Promise<Row[]> {
    try {
      const [rows] = await this.pool.query<Row[]>(sql, values);
      return rows;
    } catch (error) {
      throw toDatabaseError(error, this.config, context);
    }
  }

  async serverInfo(): Promise<ServerInfo> {
    const [row] = await this.rows(
      'SELECT VERSION() AS version, @@log_bin AS logBin, @@binlog_format AS binlogFormat, @@read_only AS readOnly',
      [],
      'reading the server version',
    );
    const version = String(row?.['version'] ?? '');
    const flavor = /mariadb/i.test(version) ? 'MariaDB' : 'MySQL';
    const [major = 0, minor = 0, patch = 0] = version.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
    const at = (m: number, n: number, p: number): boolean =>
      major > m || (major === m && (minor > n || (minor === n && patch >= p)));
    return {
      version,
      flavor,
      logBin: Number(row?.['logBin'] ?? 0) === 1,
      binlogFormat: row?.['binlogFormat'] == null ? null : String(row['binlogFormat']),
      readOnly: Number(row?.['readOnly'] ?? 0) === 1,
      supportsSkipLocked: flavor === 'MariaDB' ? at(10, 6, 0) : at(8, 0, 1),
    };
  }

  /** Throws a DatabaseError naming every missing table and column. */
  async verifySchema(): Promise<void> {
    const problems = await this.schemaProblems();
    if (problems.length > 0) {
      throw new DatabaseError(
        `Database '${this.config.database}' does not have the coupon schema: ${problems.join('; ')}.`,
      );
    }
  }

  /** Every missing table and column, as phrases ("table g_coupons is missing"); empty when all is there. */
  async schemaProblems(): Promise<string[]> {
    const names = [this.tables.settings, this.tables.coupons, this.tables.uses];
    const rows = await this.rows(this.sql.listColumns, [names], 'reading information_schema');
    const found = new Map<string, Set<string>>();
    for (const row of rows) {
      const table = String(row['tableName']);
      if (!found.has(table)) found.set(table, new Set());
      found.get(table)!.add(String(row['columnName']).toLowerCase());
    }
    const problems: string[] = [];
    for (const key of ['settings', 'coupons', 'uses'] as const) {
      const table = this.tables[key];
      const columns = found.get(table);
      if (columns === undefined) {
        problems.push(`table ${table} is missing`);
        continue;
      }
      const missing = REQUIRED_COLUMNS[key].filter((column) => !columns.has(column.toLowerCase()));
      if (missing.length > 0) problems.push(`table ${table} has no column ${missing.join(', ')}`);
    }
    return problems;
  }

  /**
   * What this user may do, found by statements that touch no row: `SELECT … LIMIT 0`,
   * `UPDATE … WHERE 1 = 0` (no row matches, so nothing is locked or written) and
   * `INSERT … SELECT … WHERE 1 = 0`. The server checks privileges before it looks at rows, so these
   * answer exactly as the real statements would, roles and wildcard grants included. Only CREATE
   * (for an audit table not made yet) cannot be tried without side effects: it is read from
   * information_schema, and `null` means the grants did not say.
   */
  async privileges(): Promise<Privileges> {
    const t = this.tables;
    const allowed = async (sql: string): Promise<boolean> => {
      try {
        await this.pool.query(sql);
        return true;
      } catch (error) {
        // 1290: read_only refuses the write; for this user that is as good as no privilege.
        if (isPrivilegeError(error) || (error as { errno?: number }).errno === 1290) return false;
        throw toDatabaseError(error, this.config, 'probing privileges');
      }
    };
    const select = {
      settings: await allowed(`SELECT id FROM ${id(t.settings)} LIMIT 0`),
      coupons: await allowed(`SELECT settingId FROM ${id(t.coupons)} LIMIT 0`),
      uses: await allowed(`SELECT settingId FROM ${id(t.uses)} LIMIT 0`),
    };
    const update = await allowed(`UPDATE ${id(t.settings)} SET issuedCount = issuedCount, usedCount = usedCount WHERE 1 = 0`);
    const auditExists = (await this.rows(this.sql.tableExists, [t.audit], 'reading information_schema')).length > 0;
    const auditInsert = auditExists
      ? await allowed(`INSERT INTO ${id(t.audit)} (runId, settingId, counterName, newValue) SELECT '', 0, '', 0 FROM DUAL WHERE 1 = 0`)
      : null;
    let create: boolean | null = null;
    if (!auditExists) {
      const rows = await this.rows(this.sql.createGrants, [this.config.database], 'reading information_schema');
      create = rows.length > 0 ? true : null;
    }
    return { select, update, audit: { table: t.audit, exists: auditExists, insert: auditInsert, create } };
  }

  /** Child tables that have an index whose first column is settingId. */
  async childTablesWithSettingIndex(): Promise<Set<ChildTable>> {
    const rows = await this.rows(
      this.sql.settingIdIndexes,
      [[this.tables.coupons, this.tables.uses]],
      'reading information_schema',
    );
    const tables = new Set(rows.map((row) => String(row['tableName'])));
    const result = new Set<ChildTable>();
    if (tables.has(this.tables.coupons)) result.add('coupons');
    if (tables.has(this.tables.uses)) result.add('uses');
    return result;
  }

  /** Keyset page of settings: ids greater than `after`, ascending, at most `limit`. */
  async settingsPage(after: bigint | null, limit: number): Promise<SettingRow[]> {
    const rows =
      after === null
        ? await this.rows(this.sql.firstSettingsPage, [limit], `reading ${this.tables.settings}`)
        : await this.rows(this.sql.nextSettingsPage, [after, limit], `reading ${this.tables.settings}`);
    return rows.map(toSettingRow);
  }

  async settingsByIds(ids: readonly bigint[]): Promise<SettingRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.rows(this.sql.settingsByIds, [ids], `reading ${this.tables.settings}`);
    return rows.map(toSettingRow);
  }

  /** COUNT(*) per settingId of one child table, over a range of setting ids or a list of them. */
  async countChildren(table: ChildTable, scope: ChildScope): Promise<ChildCount[]> {
    const { sql, values } = countChildrenStatement(this.tables[table], scope);
    const rows = await this.rows(sql, values, `counting ${this.tables[table]}`);
    return rows.map((row) => ({ settingId: toBigIntOrNull(row['settingId']), count: toBigInt(row['n']) }));
  }

  /**
   * COUNT(*) per settingId of a whole child table in settingId order, streamed on a connection of
   * its own: one pass over the table whatever its indexes (the path for a table with no settingId
   * index, where a statement per range would read the whole table each time). Memory stays flat:
   * the driver pauses the socket while the consumer is busy.
   */
  async *streamChildCounts(table: ChildTable): AsyncGenerator<ChildCount> {
    const connection = await this.dedicatedConnection();
    // The promise wrapper's `connection` is the callback connection at run time (its typing says otherwise).
    const core = connection.connection as unknown as CoreConnection;
    const stream = core.query(streamCountsStatement(this.tables[table])).stream({ highWaterMark: 2000 });
    let finished = false;
    try {
      for await (const row of stream as AsyncIterable<RowDataPacket>) {
        yield { settingId: toBigIntOrNull(row['settingId']), count: toBigInt(row['n']) };
      }
      finished = true;
    } catch (error) {
      throw toDatabaseError(error, this.config, `counting ${this.tables[table]}`);
    } finally {
      // A connection left in the middle of a result set cannot be reused.
      if (finished) connection.release();
      else connection.destroy();
    }
  }

  /** A GRANT of `privileges` on one table of this database (or `*`) to this user, for doctor to print. */
  grantSql(privileges: string, table: string): string {
    const on = `${id(this.config.database)}.${table === '*' ? '*' : id(table)}`;
    return `GRANT ${privileges} ON ${on} TO ${mysql.escape(this.config.user)}@'%';`;
  }

  /** The statement that gives a child table the index every check needs. */
  createSettingIndexSql(table: ChildTable): string {
    const name = this.tables[table];
    return `CREATE INDEX ${id(`idx_${name}_settingId`.slice(0, 64))} ON ${id(name)} (settingId);`;
  }

  /**
   * Settings and both true counts in ONE statement, so they come from one consistent snapshot:
   * used to confirm drift seen by the paged scan (whose statements see different moments).
   */
  async recount(ids: readonly bigint[]): Promise<RecountedSetting[]> {
    if (ids.length === 0) return [];
    const rows = await this.rows(this.sql.recount, [ids, ids, ids], 'recounting drifted settings');
    return rows.map((row) => ({
      ...toSettingRow(row),
      actualIssued: toBigInt(row['actualIssued']),
      actualUsed: toBigInt(row['actualUsed']),
    }));
  }

  /** The detection SQL for a DBA: one statement, and the paged statements `check` really runs. */
  detectionSql(): string {
    return this.sql.explain;
  }

  /**
   * Columns of the settings table that ON UPDATE CURRENT_TIMESTAMP would change behind our back
   * (an `updatedAt`): repair assigns them to themselves so that only the counters change.
   */
  async autoUpdatedSettingsColumns(): Promise<string[]> {
    const rows = await this.rows(this.sql.onUpdateColumns, [this.tables.settings], 'reading information_schema');
    return rows.map((row) => String(row['columnName']));
  }

  async dedicatedConnection(): Promise<PoolConnection> {
    try {
      return await this.pool.getConnection();
    } catch (error) {
      throw toDatabaseError(error, this.config, 'opening a connection');
    }
  }

  /** A dedicated connection for repair transactions. */
  async openRepairSession(preservedColumns: readonly string[] = []): Promise<RepairSession> {
    try {
      const connection = await this.pool.getConnection();
      return new RepairSession(connection, this.config, this.tables, this.sql, preservedColumns);
    } catch (error) {
      throw toDatabaseError(error, this.config, 'opening a repair connection');
    }
  }

  /**
   * Creates the audit table when missing, from sql/audit-table.sql with the configured name.
   * Looks first: CREATE TABLE IF NOT EXISTS would need the CREATE privilege even when it exists.
   */
  async ensureAuditTable(): Promise<void> {
    const rows = await this.rows(this.sql.tableExists, [this.tables.audit], 'reading information_schema');
    if (rows.length > 0) return;
    await this.rows(auditTableDdl(this.tables.audit), [], `creating the audit table ${this.tables.audit}`);
  }
}

/**
 * The server-side run lock (GET_LOCK) that keeps two repairs off one database. It lives on a
 * connection of its own: GET_LOCK is per connection and survives COMMIT, and the lock goes away by
 * itself if the process dies (the server drops the connection).
 */
export class RunLock {
  private readonly lostController = new AbortController();
  private released = false;

  private constructor(
    private readonly connection: PoolConnection,
    readonly name: string,
  ) {
    // The lock lives as long as this connection: if the server drops it (KILL, a restart, a
    // network cut), another repair may start, so the repair must stop after its transaction.
    const core = connection.connection as unknown as CoreConnection;
    const onLost = (): void => {
      if (!this.released) this.lostController.abort();
    };
    core.once('end', onLost);
    core.once('error', onLost);
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
    const connection = await db.dedicatedConnection();
    try {
      const [rows] = await connection.query<Row[]>('SELECT GET_LOCK(?, ?) AS got', [name, waitSeconds]);
      if (Number(rows[0]?.['got']) === 1) return new RunLock(connection, name);
      const heldBy = await describeHolder(connection, name);
      connection.release();
      return { heldBy };
    } catch (error) {
      connection.destroy();
      throw toDatabaseError(error, db.config, 'taking the run lock');
    }
  }

  async release(): Promise<void> {
    if (this.lost.aborted) {
      this.connection.destroy();
      return;
    }
    this.released = true;
    try {
      await this.connection.query('SELECT RELEASE_LOCK(?)', [this.name]);
      this.connection.release();
    } catch {
      this.connection.destroy();
    }
  }
}

async function describeHolder(connection: PoolConnection, name: string): Promise<string> {
  const [rows] = await connection.query<Row[]>('SELECT IS_USED_LOCK(?) AS holder', [name]);
  const holder = rows[0]?.['holder'];
  if (holder == null) return 'another session (it has just released it)';
  try {
    // Visible only with the PROCESS privilege (or to the same user); the connection id is always known.
    const [who] = await connection.query<Row[]>(
      'SELECT USER AS user, HOST AS host, TIME AS seconds FROM information_schema.PROCESSLIST WHERE ID = ?',
      [holder],
    );
    const row = who[0];
    if (row !== undefined) {
      return `connection ${holder} (${String(row['user'])}@${String(row['host']).replace(/:\d+$/, '')}, for ${String(row['seconds'])} s)`;
    }
  } catch {
    // fall through
  }
  return `connection ${holder}`;
}

/** The detection statements as text, for `coupon-audit sql`; needs no connection. */
export function detectionSqlFor(tables: Partial<TableNames> = {}): string {
  return buildStatements({ ...DEFAULT_TABLES, ...tables }).explain;
}

const currentGrantee =
  "CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";

function poolOptions(config: ConnectionConfig, connectionLimit: number): PoolOptions {
  return { ...connectionOptions(config), connectionLimit, maxIdle: connectionLimit };
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

function toSettingRow(row: Row): SettingRow {
  return {
    id: toBigInt(row['id']),
    status: row['status'] == null ? null : String(row['status']),
    issuedCount: toBigIntOrNull(row['issuedCount']),
    usedCount: toBigIntOrNull(row['usedCount']),
  };
}

function streamCountsStatement(table: string): string {
  return `SELECT settingId, COUNT(*) AS n FROM ${id(table)} GROUP BY settingId ORDER BY settingId`;
}

function countChildrenStatement(table: string, scope: ChildScope): { sql: string; values: unknown[] } {
  const head = `SELECT settingId, COUNT(*) AS n FROM ${id(table)}`;
  const tail = ' GROUP BY settingId';
  if (scope.kind === 'ids') {
    return { sql: `${head} WHERE settingId IN (?)${tail}`, values: [scope.ids] };
  }
  // The first range also takes NULL settingIds (orphans by definition); the last is unbounded above.
  const { after, upTo } = scope;
  if (after === null && upTo === null) return { sql: head + tail, values: [] };
  if (after === null) return { sql: `${head} WHERE settingId <= ? OR settingId IS NULL${tail}`, values: [upTo] };
  if (upTo === null) return { sql: `${head} WHERE settingId > ?${tail}`, values: [after] };
  return { sql: `${head} WHERE settingId > ? AND settingId <= ?${tail}`, values: [after, upTo] };
}

function buildStatements(tables: TableNames) {
  const s = id(tables.settings);
  const c = id(tables.coupons);
  const u = id(tables.uses);
  const settingColumns = 'id, status, issuedCount, usedCount';
  const lockSettings = `SELECT ${settingColumns} FROM ${s} WHERE id IN (?) ORDER BY id FOR UPDATE`;
  return {
    listColumns:
      'SELECT TABLE_NAME AS tableName, COLUMN_NAME AS columnName FROM information_schema.COLUMNS ' +
      'WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?)',
    settingIdIndexes:
      'SELECT DISTINCT TABLE_NAME AS tableName FROM information_schema.STATISTICS ' +
      "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?) AND SEQ_IN_INDEX = 1 AND COLUMN_NAME = 'settingId'",
    onUpdateColumns:
      'SELECT COLUMN_NAME AS columnName FROM information_schema.COLUMNS ' +
      "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND LOWER(EXTRA) LIKE '%on update%'",
    // GRANTEE is 'user'@'host'; CURRENT_USER() is user@host, the account the server matched.
    createGrants:
      "SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'CREATE' AND GRANTEE = " +
      `${currentGrantee} UNION ALL SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES ` +
      `WHERE PRIVILEGE_TYPE = 'CREATE' AND GRANTEE = ${currentGrantee} AND ? LIKE TABLE_SCHEMA`,
    tableExists:
      'SELECT TABLE_NAME AS tableName FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
    firstSettingsPage: `SELECT ${settingColumns} FROM ${s} ORDER BY id LIMIT ?`,
    nextSettingsPage: `SELECT ${settingColumns} FROM ${s} WHERE id > ? ORDER BY id LIMIT ?`,
    settingsByIds: `SELECT ${settingColumns} FROM ${s} WHERE id IN (?) ORDER BY id`,
    recount:
      `SELECT s.id, s.status, s.issuedCount, s.usedCount, ` +
      `COALESCE(c.n, 0) AS actualIssued, COALESCE(u.n, 0) AS actualUsed FROM ${s} s ` +
      `LEFT JOIN (SELECT settingId, COUNT(*) AS n FROM ${c} WHERE settingId IN (?) GROUP BY settingId) c ON c.settingId = s.id ` +
      `LEFT JOIN (SELECT settingId, COUNT(*) AS n FROM ${u} WHERE settingId IN (?) GROUP BY settingId) u ON u.settingId = s.id ` +
      `WHERE s.id IN (?) ORDER BY s.id`,
    lockSettings,
    lockSettingsSkipLocked: `${lockSettings} SKIP LOCKED`,
    explain: explainText(s, c, u),
  };
}

function explainText(s: string, c: string, u: string): string {
  return `-- coupon-audit: drift detection.
-- A setting drifts when issuedCount is not COUNT(*) of its ${c} rows, or usedCount is not
-- COUNT(*) of its ${u} rows, compared NULL-safely (<=>): a NULL cache, a negative cache and a
-- non-zero cache on a setting with no children are all drift.

-- As one statement (run it by hand; returns the drifted settings):
SELECT s.id, s.status,
       s.issuedCount, COALESCE(c.n, 0) AS actualIssued,
       s.usedCount,   COALESCE(u.n, 0) AS actualUsed
FROM ${s} s
LEFT JOIN (SELECT settingId, COUNT(*) AS n FROM ${c} GROUP BY settingId) c ON c.settingId = s.id
LEFT JOIN (SELECT settingId, COUNT(*) AS n FROM ${u} GROUP BY settingId) u ON u.settingId = s.id
WHERE NOT (s.issuedCount <=> COALESCE(c.n, 0) AND s.usedCount <=> COALESCE(u.n, 0))
ORDER BY s.id;

-- What \`coupon-audit check\` runs instead, page by page (keyset on id, never OFFSET), so that
-- no statement runs long and memory stays flat; :after and :upTo bound each page's ids:
--   SELECT id, status, issuedCount, usedCount FROM ${s} WHERE id > :after ORDER BY id LIMIT :pageSize;
--   SELECT settingId, COUNT(*) AS n FROM ${c} WHERE settingId > :after AND settingId <= :upTo GROUP BY settingId;
--   SELECT settingId, COUNT(*) AS n FROM ${u} WHERE settingId > :after AND settingId <= :upTo GROUP BY settingId;
-- Child rows counted in a page whose settingId matches no setting are orphans (reported, never drift).
-- Settings that look drifted are confirmed by one more statement, the one above restricted to
-- their ids, so a setting caught between two statements of a live application is not reported.
`;
}

function auditTableDdl(name: string): string {
  const file = new URL('../../sql/audit-table.sql', import.meta.url);
  const ddl = readFileSync(file, 'utf8');
  const placeholder = id(DEFAULT_TABLES.audit);
  if (!ddl.includes(placeholder)) throw new Error(`sql/audit-table.sql does not name ${placeholder}`);
  return ddl.replace(placeholder, id(name)).replace(/;\s*$/, '');
}

/**
 * One connection, one repair transaction at a time. READ COMMITTED so that every plain read after
 * the FOR UPDATE sees the latest committed children (a fresh snapshot per statement).
 */
export class RepairSession {
  constructor(
    private readonly connection: PoolConnection,
    private readonly config: ConnectionConfig,
    private readonly tables: TableNames,
    private readonly sql: ReturnType<typeof buildStatements>,
    private readonly preservedColumns: readonly string[],
  ) {}

  // Errors are thrown as the driver's: the repair loop retries lock errors and maps the rest.
  private async run(sql: string, values: unknown[]): Promise<Row[]> {
    const [rows] = await this.connection.query<Row[]>(sql, values);
    return rows;
  }

  asDatabaseError(error: unknown, context: string): DatabaseError {
    return toDatabaseError(error, this.config, context);
  }

  async configure(lockWaitTimeoutSeconds: number): Promise<void> {
    await this.run('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', []);
    await this.run('SET SESSION innodb_lock_wait_timeout = ?', [lockWaitTimeoutSeconds]);
  }

  async begin(): Promise<void> {
    await this.run('START TRANSACTION', []);
  }

  /** Locks the settings that exist among `ids`, ascending; with skipLocked, rows others hold are left out. */
  async lockSettings(ids: readonly bigint[], options: { skipLocked: boolean }): Promise<SettingRow[]> {
    const sql = options.skipLocked ? this.sql.lockSettingsSkipLocked : this.sql.lockSettings;
    const rows = await this.run(sql, [ids]);
    return rows.map(toSettingRow);
  }

  /** Plain (non-locking) counts: under READ COMMITTED they see everything committed before this statement. */
  async countChildren(table: ChildTable, ids: readonly bigint[]): Promise<ChildCount[]> {
    const { sql, values } = countChildrenStatement(this.tables[table], { kind: 'ids', ids });
    const rows = await this.run(sql, values);
    return rows.map((row) => ({ settingId: toBigIntOrNull(row['settingId']), count: toBigInt(row['n']) }));
  }

  /** Writes literal values (never `col = col + n`): the row is locked, so the values are exact. */
  async writeCounters(settingId: bigint, values: Partial<Record<Counter, bigint>>): Promise<void> {
    const counters = COUNTERS.filter((counter) => values[counter] !== undefined);
    if (counters.length === 0) return;
    const assignments = [
      ...counters.map((counter) => `${id(counter)} = ?`),
      ...this.preservedColumns.map((column) => `${id(column)} = ${id(column)}`),
    ].join(', ');
    await this.run(
      `UPDATE ${id(this.tables.settings)} SET ${assignments} WHERE id = ?`,
      [...counters.map((counter) => values[counter]), settingId]);
  }

  async recordAudit(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const rows = entries.map((e) => [e.runId, e.settingId, e.counter, e.oldValue, e.newValue, this.config.user]);
    await this.run(
      `INSERT INTO ${id(this.tables.audit)} (runId, settingId, counterName, oldValue, newValue, dbUser) VALUES ?`,
      [rows]);
  }

  async commit(): Promise<void> {
    await this.run('COMMIT', []);
  }

  /** Never throws: a rollback on a dead connection has nothing left to undo. */
  async rollback(): Promise<void> {
    await this.run('ROLLBACK', []).catch(() => undefined);
  }

  release(): void {
    this.connection.release();
  }

  /** For a connection that failed mid-transaction: drop it instead of returning it to the pool. */
  destroy(): void {
    this.connection.destroy();
  }
}
