import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { firstExecutable } from '../server/server-binary.js';
import { connectionOptions } from './dataset.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/coupon-audit');
const PROBE = new URL('./rss-probe.js', import.meta.url).pathname;

/** The child process running now (so a signal can end it before the bench restores the server). */
export let runningChild: ChildProcess | null = null;

/** The floor's statements: every child row's settingId read once, the two raw GROUP BY scans. */
export const FLOOR_STATEMENTS = [
  'SELECT settingId, COUNT(*) FROM g_coupons GROUP BY settingId',
  'SELECT settingId, COUNT(*) FROM g_coupon_uses GROUP BY settingId',
] as const;

/** The floor through mysql2 (one connection, back to back): what Node pays to receive the scans' rows. */
export async function measureFloor(conn: Connection): Promise<number> {
  const started = performance.now();
  for (const statement of FLOOR_STATEMENTS) await conn.query(statement);
  return performance.now() - started;
}

/** The stock command-line client: `mariadb`, else `mysql` (MySQL, and older MariaDB packages), on the PATH; null when neither is. */
export function findClientBinary(env: NodeJS.ProcessEnv = process.env): string | null {
  const dirs = (env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== '');
  return firstExecutable(dirs, 'mariadb') ?? firstExecutable(dirs, 'mysql');
}

/**
 * The stock client's arguments and extra environment for the floor, from the bench's URL. The
 * password goes only into MYSQL_PWD: an argument is visible to every user in `ps`. --no-defaults
 * keeps option files from putting another user or password in the URL's place (an option file's
 * password would win over MYSQL_PWD); --protocol=TCP because with host `localhost` the client would
 * take the socket, which may be another server, and is not the path mysql2 and coupon-audit take.
 * `-N -B`: tab-separated rows without column names, the cheapest output the client has.
 */
export function clientFloorInvocation(url: string, database: string): { args: string[]; env: Record<string, string> } {
  const { host, port, user, password } = connectionOptions(url, database);
  return {
    args: [
      '--no-defaults',
      '--protocol=TCP',
      `--host=${String(host)}`,
      `--port=${String(port)}`,
      `--user=${String(user)}`,
      `--database=${database}`,
      '-N',
      '-B',
      '-e',
      FLOOR_STATEMENTS.join('; '),
    ],
    env: password === undefined ? {} : { MYSQL_PWD: password },
  };
}

/**
 * The floor as the issue defines it: both scans back to back in one invocation of the stock client,
 * timed around the whole process, so the client's start-up and connection are part of it (that is
 * the operator's stock experience, as check's start-up is part of check's time). Its output is
 * counted and dropped as it streams: keeping 2M rows would measure Node's memory, not the client.
 */
export async function measureClientFloor(binary: string, url: string, database: string): Promise<{ ms: number; bytes: number }> {
  const { args, env } = clientFloorInvocation(url, database);
  let bytes = 0;
  let stderr = '';
  const run = await runTimed(
    binary,
    args,
    env,
    (chunk) => (bytes += chunk.length),
    (chunk) => (stderr += chunk.toString()),
  );
  if (run.code !== 0) throw new Error(`${binary} exited ${run.code}: ${stderr.trim()}`);
  return { ms: run.ms, bytes };
}

/** The two counters of the default model, as counter_culture would declare them on the child models. */
const COUNTERS = [
  { child: 'g_coupons', column: 'issuedCount' },
  { child: 'g_coupon_uses', column: 'usedCount' },
] as const;

/**
 * A counter_culture-style audit, the SQL shape of `counter_culture_fix_counts` (its Reconciler, read
 * from the gem's source): for each counter in turn, `find_in_batches` over the parent table in keyset
 * pages of 1000 (`WHERE id > last ORDER BY id LIMIT 1000`), each page one
 * `SELECT parent.id, COUNT(child.id) * 1 AS count, MAX(parent.counter) … LEFT JOIN child … GROUP BY parent.id`,
 * and the comparison made in the application (`record[column] == count`, so a NULL cache is wrong).
 * Audit only: the gem would then UPDATE each wrong row; repair is measured with coupon-audit's own.
 * Returns the distinct settings found wrong.
 */
export async function measureCounterCulture(conn: Connection, batchSize = 1000): Promise<{ ms: number; drifted: number }> {
  const started = performance.now();
  const wrong = new Set<string>();
  for (const { child, column } of COUNTERS) {
    let last: string | null = null;
    for (;;) {
      const [rows]: [RowDataPacket[], unknown] = await conn.query<RowDataPacket[]>(
        `SELECT g_coupon_settings.id, g_coupon_settings.id AS setting_id, COUNT(${child}.id)*1 AS count,
                MAX(g_coupon_settings.\`${column}\`) AS \`${column}\`
         FROM g_coupon_settings LEFT JOIN ${child} AS ${child} ON g_coupon_settings.id = ${child}.settingId
         ${last === null ? '' : 'WHERE g_coupon_settings.id > ?'}
         GROUP BY g_coupon_settings.id ORDER BY g_coupon_settings.id ASC LIMIT ${batchSize}`,
        last === null ? [] : [last],
      );
      for (const row of rows) {
        const cached = row[column] as string | number | null;
        if (cached === null || BigInt(cached) !== BigInt(row['count'] as string | number)) wrong.add(String(row['id']));
      }
      if (rows.length < batchSize) break;
      last = String(rows[rows.length - 1]!['id']);
    }
  }
  return { ms: performance.now() - started, drifted: wrong.size };
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

export async function measureSeedQuery(conn: Connection): Promise<{ ms: number; rows: number }> {
  const started = performance.now();
  const [rows] = await conn.query(SEED_VERIFICATION_QUERY);
  return { ms: performance.now() - started, rows: (rows as unknown[]).length };
}

export interface CliRun {
  ms: number;
  code: number | null;
  /** Peak resident set size of the coupon-audit process, in MiB. */
  peakRssMiB: number;
  stdout: string;
  stderr: string;
}

/** Runs coupon-audit as a process (start-up included in the time), with its peak RSS. */
export async function measureCli(args: readonly string[]): Promise<CliRun> {
  const dir = mkdtempSync(join(tmpdir(), 'coupon-audit-bench-'));
  const rssFile = join(dir, 'rss');
  try {
    const run = await runProcess(['--import', PROBE, BIN, ...args], { COUPON_AUDIT_RSS_FILE: rssFile });
    const peakRssMiB = Number(readFileSync(rssFile, 'utf8')) / 1024;
    return { ...run, peakRssMiB };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Start-up: `coupon-audit --version` (the whole process, as a user runs it) and a bare `node -e 0`. */
export async function measureStartup(): Promise<{ version: number; bare: number }> {
  const version = await runProcess([BIN, '--version']);
  if (version.code !== 0) throw new Error(`coupon-audit --version exited ${version.code}: ${version.stderr}`);
  const bare = await runProcess(['-e', '0']);
  return { version: version.ms, bare: bare.ms };
}

/** Runs node with `args`, timed from spawn to exit, its output kept. */
async function runProcess(args: readonly string[], env: Record<string, string> = {}): Promise<Omit<CliRun, 'peakRssMiB'>> {
  let stdout = '';
  let stderr = '';
  const run = await runTimed(
    process.execPath,
    args,
    env,
    (chunk) => (stdout += chunk.toString()),
    (chunk) => (stderr += chunk.toString()),
  );
  return { ...run, stdout, stderr };
}

/**
 * Runs `command`, timed from spawn to exit, with a small fixed environment plus `env` (nothing else
 * of the bench's own, MYSQL_PWD included, reaches the child); its output goes to the callbacks.
 */
async function runTimed(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  onStdout: (chunk: Buffer) => void,
  onStderr: (chunk: Buffer) => void,
): Promise<{ ms: number; code: number | null }> {
  const started = performance.now();
  const child = spawn(command, args, {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runningChild = child;
  child.stdout.on('data', onStdout);
  child.stderr.on('data', onStderr);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    return { ms: performance.now() - started, code };
  } finally {
    runningChild = null;
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
