import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { splitSqlScript } from '../../src/db/sql-script.js';
import type { Connection, RowDataPacket } from 'mysql2/promise';

/**
 * The server the tests use: TEST_DATABASE_URL, which test/global-setup.ts sets to a throwaway
 * server of its own when it is not set (the fallback is for a test file loaded without it).
 */
export const SERVER_URL = process.env['TEST_DATABASE_URL'] ?? 'mysql://root@127.0.0.1:3306';

export const ROOT = new URL('../../', import.meta.url).pathname;

export interface TestDatabase {
  name: string;
  /** mysql://…/name, for --url. */
  url: string;
  /** A connection to the test database, for arranging data and reading it back. */
  conn: Connection;
  connect(): Promise<Connection>;
  query<T = RowDataPacket[]>(sql: string, values?: unknown[]): Promise<T>;
  drop(): Promise<void>;
}

export function connectionOptions(database?: string): mysql.ConnectionOptions {
  const url = new URL(SERVER_URL);
  return {
    host: url.hostname,
    port: url.port === '' ? 3306 : Number(url.port),
    user: decodeURIComponent(url.username || 'root'),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    database,
    supportBigNumbers: true,
    bigNumberStrings: true,
    multipleStatements: false,
  };
}

/** Creates a database of its own for one test file, with sql/schema.sql loaded (unless `schema: false`). */
export async function createTestDatabase(label: string, options: { schema?: boolean } = {}): Promise<TestDatabase> {
  const name = `ca_test_${label.replace(/[^a-z0-9]/gi, '_')}_${randomBytes(3).toString('hex')}`.slice(0, 64);
  const admin = await mysql.createConnection(connectionOptions());
  await admin.query(`CREATE DATABASE ${mysql.escapeId(name)}`);
  await admin.end();
  const connect = () => mysql.createConnection(connectionOptions(name));
  const conn = await connect();
  if (options.schema !== false) await loadSqlFile(conn, 'sql/schema.sql');
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    conn,
    connect,
    async query<T>(sql: string, values: unknown[] = []) {
      const [rows] = await conn.query(sql, values);
      return rows as T;
    },
    async drop() {
      await conn.end().catch(() => undefined);
      const dropper = await mysql.createConnection(connectionOptions());
      await dropper.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(name)}`);
      await dropper.end();
    },
  };
}

export async function loadSqlFile(conn: Connection, relative: string): Promise<void> {
  const text = readFileSync(new URL(relative, `file://${ROOT}`), 'utf8');
  for (const statement of splitSqlScript(text)) await conn.query(statement);
}

export interface SettingSpec {
  id: bigint | number;
  status?: string;
  issuedCount: number | null;
  usedCount: number | null;
  /** How many g_coupons / g_coupon_uses rows to create for it. */
  coupons?: number;
  uses?: number;
}

/** Inserts settings and their child rows in bulk. */
export async function seed(conn: Connection, settings: readonly SettingSpec[]): Promise<void> {
  if (settings.length === 0) return;
  await conn.query('INSERT INTO g_coupon_settings (id, status, issuedCount, usedCount) VALUES ?', [
    settings.map((s) => [BigInt(s.id), s.status ?? 'ACTIVE', s.issuedCount, s.usedCount]),
  ]);
  const coupons: unknown[][] = [];
  const uses: unknown[][] = [];
  for (const s of settings) {
    for (let i = 0; i < (s.coupons ?? 0); i += 1) coupons.push([BigInt(s.id), `${s.id}-${i}-${randomBytes(4).toString('hex')}`]);
    for (let i = 0; i < (s.uses ?? 0); i += 1) uses.push([BigInt(s.id)]);
  }
  await insertChildren(conn, coupons, uses);
}

export async function insertChildren(conn: Connection, coupons: unknown[][], uses: unknown[][]): Promise<void> {
  for (let i = 0; i < coupons.length; i += 5000) {
    await conn.query('INSERT INTO g_coupons (settingId, code) VALUES ?', [coupons.slice(i, i + 5000)]);
  }
  for (let i = 0; i < uses.length; i += 5000) {
    await conn.query('INSERT INTO g_coupon_uses (settingId) VALUES ?', [uses.slice(i, i + 5000)]);
  }
}

/** The seed analysis's verification query (section 3), verbatim. */
export const SEED_VERIFICATION_QUERY = `SELECT
  cs.id,
  cs.issuedCount,
  (SELECT COUNT(*) FROM g_coupons WHERE settingId = cs.id) as actual_issued,
  cs.usedCount,
  (SELECT COUNT(*) FROM g_coupon_uses WHERE settingId = cs.id) as actual_used
FROM g_coupon_settings cs
WHERE cs.issuedCount != (SELECT COUNT(*) FROM g_coupons WHERE settingId = cs.id)
   OR cs.usedCount != (SELECT COUNT(*) FROM g_coupon_uses WHERE settingId = cs.id)`;

/** The ids whose caches are NULL (drift the seed query cannot see: NULL != n is NULL). */
export const NULL_CACHE_QUERY = 'SELECT id FROM g_coupon_settings WHERE issuedCount IS NULL OR usedCount IS NULL';

/** An audit table as repair made it before its oldValue was DECIMAL(65, 0) (sql/audit-table.sql). */
export const OLD_AUDIT_TABLE =
  'CREATE TABLE old_audit (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, runId CHAR(36) NOT NULL, settingId DECIMAL(20,0) NOT NULL, ' +
  'counterName VARCHAR(64) NOT NULL, oldValue BIGINT NULL, newValue BIGINT NOT NULL, changedAt TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), dbUser VARCHAR(255) NULL)';
