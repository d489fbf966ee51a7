import { readSqlScript } from '../db/sql-script.js';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import type { BenchOptions } from './options.js';

/** Bumped whenever the generator changes, so an old data set is rebuilt. */
const GENERATOR_VERSION = 2;
const NUMBERS = 1 << 20;

export interface DatasetParams {
  version: number;
  settings: number;
  codes: number;
  uses: number;
}

export function connectionOptions(url: string, database?: string): mysql.ConnectionOptions {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: parsed.port === '' ? 3306 : Number(parsed.port),
    user: decodeURIComponent(parsed.username || 'root'),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
    database,
    supportBigNumbers: true,
    bigNumberStrings: true,
  };
}

export function databaseUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/**
 * Makes sure the benchmark database holds the data set `options` asks for: reused when a complete
 * one with the same parameters exists, built from scratch otherwise. Returns whether it was built.
 */
export async function ensureDataset(options: BenchOptions, log: (line: string) => void): Promise<boolean> {
  const params: DatasetParams = { version: GENERATOR_VERSION, settings: options.settings, codes: options.codes, uses: options.uses };
  if (!options.rebuild && (await existingParams(options)) === JSON.stringify(params)) return false;
  if (options.settings > NUMBERS) throw new Error(`--settings is limited to ${NUMBERS}.`);
  const admin = await mysql.createConnection(connectionOptions(options.url));
  await admin.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(options.database)}`);
  await admin.query(`CREATE DATABASE ${mysql.escapeId(options.database)}`);
  await admin.end();
  const conn = await mysql.createConnection(connectionOptions(options.url, options.database));
  try {
    await build(conn, params, log);
  } finally {
    await conn.end();
  }
  return true;
}

async function existingParams(options: BenchOptions): Promise<string | null> {
  const conn = await mysql.createConnection(connectionOptions(options.url));
  try {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT v FROM ${mysql.escapeId(options.database)}.bench_meta WHERE k = 'params'`,
    );
    return rows.length === 0 ? null : String(rows[0]!['v']);
  } catch {
    return null;
  } finally {
    await conn.end();
  }
}

async function build(conn: Connection, params: DatasetParams, log: (line: string) => void): Promise<void> {
  const timed = async (what: string, action: () => Promise<unknown>) => {
    const started = performance.now();
    await action();
    log(`  ${what} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  };
  log(`Building the data set: ${params.settings} settings, ${params.codes} codes, ${params.uses} uses (once; reused after)`);
  for (const statement of readSqlScript('schema.sql')) await conn.query(statement);
  await conn.query('CREATE TABLE bench_meta (k VARCHAR(32) PRIMARY KEY, v TEXT NOT NULL) ENGINE = InnoDB');
  await conn.query('CREATE TABLE bench_numbers (n INT UNSIGNED PRIMARY KEY) ENGINE = InnoDB');
  await timed('numbers', async () => {
    await conn.query('INSERT INTO bench_numbers VALUES (1)');
    for (let size = 1; size < NUMBERS; size *= 2) await conn.query('INSERT INTO bench_numbers SELECT n + ? FROM bench_numbers', [size]);
  });
  await timed('settings', () =>
    conn.query(
      `INSERT INTO g_coupon_settings (id, name, status, issuedCount, usedCount)
       SELECT n, CONCAT('bench setting ', n), IF(n % 50 = 0, 'DELETED', 'ACTIVE'), 0, 0 FROM bench_numbers WHERE n <= ?`,
      [params.settings],
    ),
  );
  // Log-uniform setting ids: setting k gets about 1/k of the rows, so the top 1% of settings hold
  // over half of them, as real campaigns do. u is a low-discrepancy sequence: repeatable, no RAND().
  const skewed = (seq: string, multiplier: string) =>
    `LEAST(?, GREATEST(1, FLOOR(POW(?, (${seq} * ${multiplier}) - FLOOR(${seq} * ${multiplier})))))`;
  await timed('codes', async () => {
    for (let offset = 0; offset < params.codes; offset += NUMBERS) {
      await conn.query(
        `INSERT INTO g_coupons (settingId, code)
         SELECT ${skewed('(n + ?)', '0.6180339887498949')}, CONCAT('B', n + ?) FROM bench_numbers WHERE n <= ?`,
        [params.settings, params.settings, offset, offset, offset, Math.min(NUMBERS, params.codes - offset)],
      );
    }
  });
  await timed('uses', async () => {
    for (let offset = 0; offset < params.uses; offset += NUMBERS) {
      await conn.query(
        `INSERT INTO g_coupon_uses (settingId, userId)
         SELECT ${skewed('(n + ?)', '0.4142135623730950')}, CONCAT('u', n % 100000) FROM bench_numbers WHERE n <= ?`,
        [params.settings, params.settings, offset, offset, Math.min(NUMBERS, params.uses - offset)],
      );
    }
  });
  await timed('true counts', async () => {
    await conn.query(
      `CREATE TABLE bench_truth (id BIGINT UNSIGNED PRIMARY KEY, issued INT NOT NULL, used INT NOT NULL) ENGINE = InnoDB
       SELECT s.id, COALESCE(c.n, 0) AS issued, COALESCE(u.n, 0) AS used
       FROM g_coupon_settings s
       LEFT JOIN (SELECT settingId, COUNT(*) AS n FROM g_coupons GROUP BY settingId) c ON c.settingId = s.id
       LEFT JOIN (SELECT settingId, COUNT(*) AS n FROM g_coupon_uses GROUP BY settingId) u ON u.settingId = s.id`,
    );
    await conn.query(
      'UPDATE g_coupon_settings s JOIN bench_truth t ON t.id = s.id SET s.issuedCount = t.issued, s.usedCount = t.used',
    );
  });
  await conn.query('ANALYZE TABLE g_coupon_settings, g_coupons, g_coupon_uses');
  await conn.query('DROP TABLE bench_numbers');
  await conn.query("INSERT INTO bench_meta VALUES ('params', ?)", [JSON.stringify(params)]);
}

/**
 * Gives the same `percent` of settings wrong caches (the truth plus a few, and NULL for some used
 * counts); the rest get their true counts back. Returns how many settings drift.
 */
export async function injectDrift(conn: Connection, percent: number): Promise<number> {
  const basisPoints = Math.round(percent * 100);
  await conn.query(
    `UPDATE g_coupon_settings s JOIN bench_truth t ON t.id = s.id
     SET s.issuedCount = IF(MOD(s.id * 7919, 10000) < ?, t.issued + 3, t.issued),
         s.usedCount = IF(MOD(s.id * 7919, 10000) < ? AND s.id % 3 = 0, NULL, t.used)
     WHERE NOT (s.issuedCount <=> t.issued AND s.usedCount <=> t.used) OR MOD(s.id * 7919, 10000) < ?`,
    [basisPoints, basisPoints, basisPoints],
  );
  const [rows] = await conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM g_coupon_settings WHERE MOD(id * 7919, 10000) < ?', [basisPoints]);
  return Number(rows[0]!['n']);
}

export async function datasetSummary(conn: Connection): Promise<{ settings: number; codes: number; uses: number; topShare: number }> {
  const [[row]] = await conn.query<RowDataPacket[]>(
    `SELECT (SELECT COUNT(*) FROM bench_truth) AS settings, (SELECT SUM(issued) FROM bench_truth) AS codes,
            (SELECT SUM(used) FROM bench_truth) AS uses`,
  );
  const settings = Number(row!['settings']);
  const [[top]] = await conn.query<RowDataPacket[]>(
    'SELECT SUM(issued) AS n FROM (SELECT issued FROM bench_truth ORDER BY issued DESC LIMIT ?) t',
    [Math.max(1, Math.floor(settings / 100))],
  );
  return { settings, codes: Number(row!['codes']), uses: Number(row!['uses']), topShare: Number(top!['n']) / Number(row!['codes']) };
}
