import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from 'mysql2/promise';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/coupon-audit');
const PROBE = new URL('./rss-probe.js', import.meta.url).pathname;

/** The floor: every child row's settingId read once, the two raw GROUP BY scans back to back. */
export async function measureFloor(conn: Connection): Promise<number> {
  const started = performance.now();
  await conn.query('SELECT settingId, COUNT(*) FROM g_coupons GROUP BY settingId');
  await conn.query('SELECT settingId, COUNT(*) FROM g_coupon_uses GROUP BY settingId');
  return performance.now() - started;
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
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', PROBE, BIN, ...args], {
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', COUPON_AUDIT_RSS_FILE: rssFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    const ms = performance.now() - started;
    const peakRssMiB = Number(readFileSync(rssFile, 'utf8')) / 1024;
    return { ms, code, peakRssMiB, stdout, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
