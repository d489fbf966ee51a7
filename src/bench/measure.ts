import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection, RowDataPacket } from 'mysql2/promise';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/coupon-audit');
const PROBE = new URL('./rss-probe.js', import.meta.url).pathname;

/** The child process running now (so a signal can end it before the bench restores the server). */
export let runningChild: ChildProcess | null = null;

/** The floor: every child row's settingId read once, the two raw GROUP BY scans back to back (mysql2, one connection). */
export async function measureFloor(conn: Connection): Promise<number> {
  const started = performance.now();
  await conn.query('SELECT settingId, COUNT(*) FROM g_coupons GROUP BY settingId');
  await conn.query('SELECT settingId, COUNT(*) FROM g_coupon_uses GROUP BY settingId');
  return performance.now() - started;
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

/** Runs node with `args`, timed from spawn to exit, with a small fixed environment. */
async function runProcess(args: readonly string[], env: Record<string, string> = {}): Promise<Omit<CliRun, 'peakRssMiB'>> {
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runningChild = child;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    return { ms: performance.now() - started, code, stdout, stderr };
  } finally {
    runningChild = null;
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
