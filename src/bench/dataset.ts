import { statfsSync } from 'node:fs';
import { readSqlScript } from '../db/sql-script.js';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import type { BenchOptions, Shape } from './options.js';

/** Bumped whenever the generator changes, so an old data set is rebuilt. */
const GENERATOR_VERSION = 2;
/** Rows of the helper table the generator multiplies; also the rows per INSERT statement. */
const NUMBERS = 1 << 20;
/** The database holding the table read between cold measurements, shared by every data set. */
export const EVICT_DATABASE = 'coupon_audit_bench_evict';

/** Refusals the operator can act on (no room, no time): printed as they are, exit 2. */
export class BenchRefusal extends Error {}

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
 * The parameters recorded in bench_meta. The skewed shape keeps the key set it always had, so data
 * sets built before `--distribution` existed are still reused (the generator's output for them is
 * unchanged).
 */
function paramsKey(shape: Shape): string {
  const params: Record<string, unknown> = { version: GENERATOR_VERSION, settings: shape.settings, codes: shape.codes, uses: shape.uses };
  if (shape.distribution !== 'skewed') params['distribution'] = shape.distribution;
  return JSON.stringify(params);
}

export interface DatasetState {
  built: boolean;
  /** Seconds the build took, when recorded (null for data sets built before it was). */
  buildSeconds: number | null;
}

/**
 * Makes sure the benchmark database holds the data set `options` asks for: reused when a complete
 * one with the same parameters exists, built from scratch otherwise (after checking the server's
 * disk has room, and within --build-time-limit; a partial database is dropped).
 */
export async function ensureDataset(options: BenchOptions, log: (line: string) => void): Promise<DatasetState> {
  const key = paramsKey(options);
  const existing = await readMeta(options);
  if (!options.rebuild && existing.get('params') === key) {
    const seconds = existing.get('build_seconds');
    return { built: false, buildSeconds: seconds === undefined ? null : Number(seconds) };
  }
  const admin = await mysql.createConnection(connectionOptions(options.url));
  try {
    await checkDiskRoom(admin, options, log);
    await admin.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(options.database)}`);
    await admin.query(`CREATE DATABASE ${mysql.escapeId(options.database)}`);
  } finally {
    await admin.end();
  }
  const conn = await mysql.createConnection(connectionOptions(options.url, options.database));
  const started = performance.now();
  try {
    await build(conn, options, key, started + options.buildTimeLimitMinutes * 60_000, log);
  } catch (error) {
    log(`  the build failed; dropping the partial database ${options.database}`);
    await conn.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(options.database)}`).catch(() => undefined);
    throw error;
  } finally {
    await conn.end();
  }
  const seconds = (performance.now() - started) / 1000;
  log(`  built in ${(seconds / 60).toFixed(1)} min`);
  return { built: true, buildSeconds: seconds };
}

async function readMeta(options: BenchOptions): Promise<Map<string, string>> {
  const conn = await mysql.createConnection(connectionOptions(options.url));
  try {
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT k, v FROM ${mysql.escapeId(options.database)}.bench_meta`);
    return new Map(rows.map((row) => [String(row['k']), String(row['v'])]));
  } catch {
    return new Map();
  } finally {
    await conn.end();
  }
}

/** Bytes a data set takes on disk, from the per-row sizes of the 5M build (InnoDB, schema.sql), plus margin. */
export function estimatedBytes(shape: Shape): number {
  const rows = shape.codes * 130 + shape.uses * 100 + shape.settings * 200;
  return Math.ceil(rows * 1.3) + 2 ** 30;
}

function isLocalHost(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1';
}

/** Refuses to build when the server's data directory (local server only) has too little room. */
async function checkDiskRoom(admin: Connection, options: BenchOptions, log: (line: string) => void): Promise<void> {
  const needed = estimatedBytes(options);
  const [[row]] = await admin.query<RowDataPacket[]>('SELECT @@datadir AS datadir');
  const datadir = String(row!['datadir']);
  if (!isLocalHost(options.url)) {
    log(`  free space not checked: the server is not on this machine (the data set needs about ${gib(needed)})`);
    return;
  }
  let free: number;
  try {
    const stats = statfsSync(datadir);
    free = stats.bavail * stats.bsize;
  } catch {
    log(`  free space not checked: cannot read ${datadir} (the data set needs about ${gib(needed)})`);
    return;
  }
  // Rebuilding in place frees the old copy first.
  const [[old]] = await admin.query<RowDataPacket[]>(
    'SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH + DATA_FREE), 0) AS bytes FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
    [options.database],
  );
  const available = free + Number(old!['bytes']);
  log(`  disk: the data set needs about ${gib(needed)}; ${gib(available)} available for it in ${datadir}`);
  // Keep a tenth of the disk free for everyone else on the machine.
  const stats = statfsSync(datadir);
  const reserve = stats.blocks * stats.bsize * 0.1;
  if (needed + reserve > available) {
    const [others] = await admin.query<RowDataPacket[]>(
      `SELECT TABLE_SCHEMA AS db, SUM(DATA_LENGTH + INDEX_LENGTH) AS bytes FROM information_schema.TABLES
       WHERE TABLE_SCHEMA LIKE 'coupon\\_audit\\_bench%' AND TABLE_SCHEMA <> ? GROUP BY TABLE_SCHEMA`,
      [options.database],
    );
    const list = others.map((o) => `${String(o['db'])} (${gib(Number(o['bytes']))})`).join(', ');
    throw new BenchRefusal(
      `Not building ${options.database}: it needs about ${gib(needed)} on the server's disk (${datadir}) and ` +
        `${gib(available)} are available, less the ${gib(reserve)} kept free for others. ` +
        (list === '' ? 'Use a smaller --scale, or free some room first.' : `Other bench data sets that could be dropped: ${list}.`),
    );
  }
}

async function build(conn: Connection, shape: Shape, key: string, deadline: number, log: (line: string) => void): Promise<void> {
  const started = performance.now();
  const checkDeadline = () => {
    if (performance.now() > deadline) {
      throw new BenchRefusal(`the build ran past --build-time-limit (${((performance.now() - started) / 60_000).toFixed(0)} min) and was stopped`);
    }
  };
  const timed = async (what: string, action: () => Promise<unknown>) => {
    const begun = performance.now();
    await action();
    log(`  ${what} (${((performance.now() - begun) / 1000).toFixed(1)} s)`);
    checkDeadline();
  };
  /** Runs `statement` once per chunk of NUMBERS rows, with progress and an ETA on long steps. */
  const chunked = async (what: string, total: number, statement: (offset: number, rows: number) => Promise<unknown>) => {
    const chunks = Math.ceil(total / NUMBERS);
    const begun = performance.now();
    for (let index = 0, offset = 0; offset < total; index += 1, offset += NUMBERS) {
      await statement(offset, Math.min(NUMBERS, total - offset));
      checkDeadline();
      const elapsed = performance.now() - begun;
      if (chunks > 4 && (index + 1) % 4 === 0 && index + 1 < chunks) {
        log(`  ${what}: ${index + 1}/${chunks} chunks, about ${((elapsed / (index + 1)) * (chunks - index - 1) / 60_000).toFixed(1)} min left for this step`);
      }
    }
    log(`  ${what} (${((performance.now() - begun) / 1000).toFixed(1)} s)`);
  };
  log(`Building the data set: ${shape.settings} settings, ${shape.codes} codes, ${shape.uses} uses, ${shape.distribution} (once; reused after)`);
  for (const statement of readSqlScript('schema.sql')) await conn.query(statement);
  await conn.query('CREATE TABLE bench_meta (k VARCHAR(32) PRIMARY KEY, v TEXT NOT NULL) ENGINE = InnoDB');
  await conn.query('CREATE TABLE bench_numbers (n INT UNSIGNED PRIMARY KEY) ENGINE = InnoDB');
  await timed('numbers', async () => {
    await conn.query('INSERT INTO bench_numbers VALUES (1)');
    for (let size = 1; size < NUMBERS; size *= 2) await conn.query('INSERT INTO bench_numbers SELECT n + ? FROM bench_numbers', [size]);
  });
  await chunked('settings', shape.settings, (offset, rows) =>
    conn.query(
      `INSERT INTO g_coupon_settings (id, name, status, issuedCount, usedCount)
       SELECT n + ?, CONCAT('bench setting ', n + ?), IF((n + ?) % 50 = 0, 'DELETED', 'ACTIVE'), 0, 0 FROM bench_numbers WHERE n <= ?`,
      [offset, offset, offset, rows],
    ),
  );
  // u is a low-discrepancy sequence in [0, 1): repeatable, no RAND(). Skewed: log-uniform setting
  // ids, setting k gets about 1/k of the rows, so the top 1% of settings hold over half of them, as
  // real campaigns do. Flat: ids spread evenly, every setting gets about rows/settings.
  const settingId = (seq: string, multiplier: string) => {
    const u = `((${seq} * ${multiplier}) - FLOOR(${seq} * ${multiplier}))`;
    return shape.distribution === 'skewed'
      ? `LEAST(${shape.settings}, GREATEST(1, FLOOR(POW(${shape.settings}, ${u}))))`
      : `LEAST(${shape.settings}, 1 + FLOOR(${u} * ${shape.settings}))`;
  };
  await chunked('codes', shape.codes, (offset, rows) =>
    conn.query(
      `INSERT INTO g_coupons (settingId, code)
       SELECT ${settingId('(n + ?)', '0.6180339887498949')}, CONCAT('B', n + ?) FROM bench_numbers WHERE n <= ?`,
      [offset, offset, offset, rows],
    ),
  );
  await chunked('uses', shape.uses, (offset, rows) =>
    conn.query(
      `INSERT INTO g_coupon_uses (settingId, userId)
       SELECT ${settingId('(n + ?)', '0.4142135623730950')}, CONCAT('u', n % 100000) FROM bench_numbers WHERE n <= ?`,
      [offset, offset, rows],
    ),
  );
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
  await timed('analyze', () => conn.query('ANALYZE TABLE g_coupon_settings, g_coupons, g_coupon_uses'));
  await conn.query('DROP TABLE bench_numbers');
  await conn.query("INSERT INTO bench_meta VALUES ('build_seconds', ?)", [((performance.now() - started) / 1000).toFixed(0)]);
  // Written last: a data set without it is incomplete and is rebuilt.
  await conn.query("INSERT INTO bench_meta VALUES ('params', ?)", [key]);
}

/**
 * Gives the same `percent` of settings wrong caches (the truth plus a few, and NULL for some used
 * counts); the rest get their true counts back. Returns how many settings drift.
 */
export async function injectDrift(conn: Connection, percent: number): Promise<number> {
  const basisPoints = Math.round(percent * 100);
  // Every repair measured adds its rows to the audit table: emptied, so that each round's repair
  // writes into the same small one. Grown past the pool (880k rows, 256 MiB after a day of runs), a
  // cold repair read its settingId index's pages from disk for its inserts (+7,000 pages, +0.4 s at
  // 1.2M settings), which made later runs slower than earlier ones of the same code.
  await conn.query('TRUNCATE TABLE coupon_audit_log').catch((error: { errno?: number }) => {
    if (error.errno !== 1146) throw error; // none yet: the first repair makes it
  });
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

/** Settings whose caches differ from the truth (0 after a complete repair). */
export async function settingsOffTruth(conn: Connection): Promise<number> {
  const [[row]] = await conn.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n FROM g_coupon_settings s JOIN bench_truth t ON t.id = s.id
     WHERE NOT (s.issuedCount <=> t.issued AND s.usedCount <=> t.used)`,
  );
  return Number(row!['n']);
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

export interface DataSize {
  /** DATA_LENGTH + INDEX_LENGTH of the three coupon tables (information_schema.TABLES). */
  tablesBytes: number;
  /** The pages the audit reads: the settingId indexes of both child tables and the settings' primary key (null when the statistics are not readable). */
  auditIndexBytes: number | null;
}

export async function dataSize(conn: Connection, database: string): Promise<DataSize> {
  const [[tables]] = await conn.query<RowDataPacket[]>(
    `SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS bytes FROM information_schema.TABLES
     WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ('g_coupon_settings', 'g_coupons', 'g_coupon_uses')`,
    [database],
  );
  let auditIndexBytes: number | null = null;
  try {
    const [[indexes]] = await conn.query<RowDataPacket[]>(
      `SELECT SUM(st.stat_value) * @@innodb_page_size AS bytes
       FROM information_schema.STATISTICS s
       JOIN mysql.innodb_index_stats st
         ON st.database_name = s.TABLE_SCHEMA AND st.table_name = s.TABLE_NAME AND st.index_name = s.INDEX_NAME AND st.stat_name = 'size'
       WHERE s.TABLE_SCHEMA = ? AND s.SEQ_IN_INDEX = 1
         AND ((s.TABLE_NAME IN ('g_coupons', 'g_coupon_uses') AND s.COLUMN_NAME = 'settingId')
              OR (s.TABLE_NAME = 'g_coupon_settings' AND s.INDEX_NAME = 'PRIMARY'))`,
      [database],
    );
    auditIndexBytes = indexes!['bytes'] === null ? null : Number(indexes!['bytes']);
  } catch {
    auditIndexBytes = null;
  }
  return { tablesBytes: Number(tables!['bytes']), auditIndexBytes };
}

/**
 * The table read between cold measurements (see pool.ts): at least `bytes` of clustered pages, in a
 * database of its own shared by all data sets, built once (about 1 s per 100 MiB).
 */
export async function ensureEvictTable(url: string, bytes: number, log: (line: string) => void): Promise<number> {
  const conn = await mysql.createConnection(connectionOptions(url));
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS ${mysql.escapeId(EVICT_DATABASE)}`);
    await conn.query(`USE ${mysql.escapeId(EVICT_DATABASE)}`);
    await conn.query('CREATE TABLE IF NOT EXISTS bench_evict (id INT UNSIGNED PRIMARY KEY, pad VARCHAR(1000) NOT NULL) ENGINE = InnoDB');
    const size = async () => {
      const [[row]] = await conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM bench_evict');
      return Number(row!['n']) * 1024; // about 14 rows of 1 KiB per 16 KiB page
    };
    if ((await size()) >= bytes) return size();
    log(`Building ${EVICT_DATABASE}.bench_evict (${gib(bytes)}, read between cold measurements; once)`);
    await conn.query('TRUNCATE TABLE bench_evict');
    await conn.query("INSERT INTO bench_evict VALUES (1, REPEAT('e', 1000))");
    let rows = 1;
    while (rows * 1024 < bytes) {
      await conn.query('INSERT INTO bench_evict SELECT id + ?, pad FROM bench_evict', [rows]);
      rows *= 2;
    }
    return size();
  } finally {
    await conn.end();
  }
}

export const gib = (bytes: number) => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`);
