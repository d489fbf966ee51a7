import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { check, CouponAuditError, DatabaseError, repair, type ThrottleState } from '../src/index.js';
import { ThrowawayServer } from '../src/server/throwaway-server.js';
import { parseJson, runCli, runCliOnTerminal, startCli } from './helpers/cli.js';
import { loadSqlFile } from './helpers/database.js';
import { driftedIds } from './helpers/snapshot.js';

/**
 * --max-load, --critical-load, --pause-file and check's progress line, on a server of this file's
 * own (a throwaway mariadbd), so Threads_running is ours alone: load is sessions running
 * SELECT SLEEP(n), each a running thread.
 */

const SETTINGS = 2000;
let server: ThrowawayServer;
let url: string;
let conn: Connection;
let dir: string;

beforeAll(async () => {
  server = await ThrowawayServer.start();
  dir = mkdtempSync(join(tmpdir(), 'coupon-audit-throttle-'));
  const admin = await mysql.createConnection(server.connectionOptions());
  await admin.query('CREATE DATABASE throttle');
  await admin.end();
  conn = await mysql.createConnection({ ...server.connectionOptions('throttle'), supportBigNumbers: true, bigNumberStrings: true });
  await loadSqlFile(conn, 'sql/schema.sql');
  url = server.url('throttle');
}, 120_000);
afterAll(async () => {
  await conn?.end().catch(() => undefined);
  await server?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** Every setting's issuedCount set so that every 10th is drifted (+1), all others exact. */
async function resetData(): Promise<void> {
  await conn.query('DELETE FROM g_coupons');
  await conn.query('DELETE FROM g_coupon_settings');
  await conn.query('DELETE FROM coupon_audit_log').catch(() => undefined);
  // Both default to 1000: MySQL's cte_max_recursion_depth, MariaDB's max_recursive_iterations.
  await conn.query('SET SESSION cte_max_recursion_depth = 1000000').catch(() => undefined);
  await conn.query('SET SESSION max_recursive_iterations = 1000000').catch(() => undefined);
  await conn.query(
    `INSERT INTO g_coupon_settings (id, status, issuedCount, usedCount)
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${SETTINGS})
     SELECT i, 'ACTIVE', IF(i % 10 = 0, 2, 1), 0 FROM n`,
  );
  await conn.query(`INSERT INTO g_coupons (settingId, code) SELECT id, CONCAT('c', id) FROM g_coupon_settings`);
}

/** `n` sessions each running SELECT SLEEP(seconds); resolves once the server counts them running. */
async function load(n: number, seconds: number): Promise<{ ended: Promise<void>; stop: () => Promise<void> }> {
  const sessions = await Promise.all(Array.from({ length: n }, () => mysql.createConnection(server.connectionOptions())));
  const ids = await Promise.all(sessions.map(async (session) => ((await session.query<RowDataPacket[]>('SELECT CONNECTION_ID() AS id'))[0] as RowDataPacket[])[0]!['id'] as number));
  const ended = Promise.all(sessions.map((session) => session.query(`SELECT SLEEP(${seconds})`).catch(() => undefined))).then(async () => {
    await Promise.all(sessions.map((session) => session.end().catch(() => undefined)));
  });
  for (let tries = 0; (await threadsRunning()) < n + 1 && tries < 100; tries += 1) await new Promise((resolve) => setTimeout(resolve, 20));
  return {
    ended,
    stop: async () => {
      for (const id of ids) await conn.query(`KILL QUERY ${id}`).catch(() => undefined);
      await ended;
    },
  };
}

async function threadsRunning(): Promise<number> {
  const [rows] = await conn.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Threads_running'");
  return Number(rows[0]!['Value']);
}

const until = async (condition: () => boolean, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('--max-load and --critical-load', () => {
  beforeAll(resetData);
  let running: { stop: () => Promise<void> } | null = null;
  afterEach(async () => {
    await running?.stop();
    running = null;
  });

  it('check waits while Threads_running is above --max-load, says "throttled", and then finishes with the right answer', async () => {
    const sleeping = await load(5, 3);
    running = sleeping;
    const started = Date.now();
    const result = await runCli(['check', '--url', url, '--format', 'json', '--max-load', 'Threads_running=3', '--check-interval', '0.1', '--verbose']);
    const elapsed = Date.now() - started;
    expect(result.code).toBe(1);
    expect(parseJson(result).summary).toMatchObject({ scanned: SETTINGS, drifted: SETTINGS / 10 });
    expect(result.stderr).toMatch(/throttled: Threads_running=\d+ on server 127\.0\.0\.1:\d+ \(--max-load Threads_running=3\)/);
    expect(result.stderr).toMatch(/no longer waiting, after \d+\.\d s/);
    // It did not scan until the sleeping sessions ended (about 3 s after they started).
    expect(elapsed).toBeGreaterThan(2000);
    await sleeping.ended;
  });

  it('the same check with the limit above the load does not wait', async () => {
    running = await load(5, 3);
    const result = await runCli(['check', '--url', url, '--format', 'json', '--max-load', 'Threads_running=20', '--verbose']);
    expect(result.code).toBe(1);
    expect(result.stderr).not.toMatch(/throttled/);
  });

  it('check stops with exit 3 when Threads_running is above --critical-load, naming the variable and the server', async () => {
    running = await load(5, 30);
    const started = Date.now();
    const result = await runCli(['check', '--url', url, '--critical-load', 'Threads_running=3']);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^coupon-audit: Threads_running=\d+ on server 127\.0\.0\.1:\d+ is above --critical-load Threads_running=3; stopped after the statement or transaction in flight/m,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('an unknown status variable is exit 2', async () => {
    const result = await runCli(['check', '--url', url, '--max-load', 'No_such_status=3']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/has no status variable No_such_status/);
  });
});

/**
 * Repair between batches. The pause file is the barrier that makes these deterministic: the
 * progress callback creates it after a batch, the run pauses before the next one, the test raises
 * the load, then removes the file. One writer (writeConcurrency 1): with two, the other writer's
 * batch in flight when the file appears ends whole too, so the count at the barrier would be 50 or
 * 60.
 */
describe('repair between batches', () => {
  beforeEach(resetData);
  const pauseFile = (): string => join(dir, `pause-${Math.random().toString(36).slice(2)}`);

  it('--max-load: no batch starts while the load is above it; the repair then finishes, every counter exact', async () => {
    const file = pauseFile();
    const states: { state: ThrottleState | null; done: number }[] = [];
    let done = 0;
    const run = repair({
      url,
      batchSize: 10,
      writeConcurrency: 1,
      maxLoad: 'Threads_running=3',
      pauseFile: file,
      checkInterval: 0.05,
      onRepairProgress: (progress) => {
        done = progress.done;
        if (done === 50) writeFileSync(file, '');
      },
      onThrottle: (state) => states.push({ state, done }),
    });
    await until(() => states.at(-1)?.state?.reason === 'paused');
    expect(done).toBe(50);
    const sleeping = await load(5, 2);
    rmSync(file);
    await until(() => states.at(-1)?.state?.reason === 'load');
    const report = await run;
    await sleeping.ended;
    const throttled = states.filter((entry) => entry.state?.reason === 'load');
    expect(throttled.length).toBeGreaterThan(0);
    // Every throttled state was seen with 50 done: nothing was written while the load was high.
    expect(new Set(throttled.map((entry) => entry.done))).toEqual(new Set([50]));
    expect(states.at(-1)!.state).toBeNull();
    expect('changes' in report && report.summary.repaired).toBe(SETTINGS / 10);
    expect(await driftedIds(conn)).toEqual([]);
  });

  it('--critical-load: stops after the batch in flight (exit code 3); what committed is whole and exact, the rest untouched', async () => {
    const file = pauseFile();
    let paused = false;
    const run = repair({
      url,
      batchSize: 10,
      writeConcurrency: 1,
      criticalLoad: 'Threads_running=3',
      pauseFile: file,
      checkInterval: 0.05,
      onRepairProgress: ({ done }) => {
        if (done === 50) writeFileSync(file, '');
      },
      onThrottle: (state) => (paused = state?.reason === 'paused'),
    });
    const outcome = run.then(() => null, (error: unknown) => error);
    await until(() => paused);
    running = await load(5, 30);
    rmSync(file);
    const error = await outcome;
    await running.stop();
    running = null;
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as CouponAuditError).exitCode).toBe(3);
    expect((error as Error).message).toMatch(/^Threads_running=\d+ on server 127\.0\.0\.1:\d+ is above criticalLoad Threads_running=3/);
    // Five batches of ten committed, whole, with their audit rows; the rest are still drifted.
    const [audit] = await conn.query<RowDataPacket[]>('SELECT settingId FROM coupon_audit_log ORDER BY settingId');
    expect(audit.map((row) => Number(row['settingId']))).toEqual(Array.from({ length: 50 }, (_, i) => (i + 1) * 10));
    expect((await driftedIds(conn)).map(Number)).toEqual(Array.from({ length: SETTINGS / 10 - 50 }, (_, i) => (i + 51) * 10));
  });
  let running: { stop: () => Promise<void> } | null = null;
  afterEach(async () => {
    await running?.stop();
    running = null;
  });
});

describe('--pause-file', () => {
  beforeAll(resetData);

  it('check does not finish while the file exists, and finishes once it is removed', async () => {
    const file = join(dir, 'pause-check');
    writeFileSync(file, '');
    const run = startCli(['check', '--url', url, '--format', 'json', '--pause-file', file, '--check-interval', '0.1', '--verbose']);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(run.exited()).toBe(false);
    rmSync(file);
    const result = await run.done;
    expect(result.code).toBe(1);
    expect(parseJson(result).summary).toMatchObject({ scanned: SETTINGS, drifted: SETTINGS / 10 });
    expect(result.stderr).toContain(`paused: ${file} exists (remove it to go on)`);
    expect(existsSync(file)).toBe(false);
  });

  it("the library's progress: elapsedMs counts from the scan's start, not from each page's", async () => {
    const seen: { elapsedMs: number; at: number }[] = [];
    const report = await check({
      url,
      pageSize: 50,
      concurrency: 1,
      onProgress: (progress) => seen.push({ elapsedMs: progress.elapsedMs, at: performance.now() }),
    });
    expect(report.summary.scanned).toBe(SETTINGS);
    expect(seen.length).toBeGreaterThanOrEqual(SETTINGS / 50);
    // The scan's clock only goes forward, and from the first report to the last as much time passed
    // on it as on the test's (a page's own time would start again near zero each page, and stay
    // near one page's length). Compared over the whole run, not report by report: a collection
    // between the progress and its callback moves one report by a millisecond or two.
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.elapsedMs).toBeGreaterThanOrEqual(seen[i - 1]!.elapsedMs);
    const first = seen[0]!;
    const last = seen[seen.length - 1]!;
    expect(last.at - first.at).toBeGreaterThan(20);
    expect(last.elapsedMs - first.elapsedMs).toBeGreaterThanOrEqual(last.at - first.at - 3);
  });

  it('the library: pauses between pages too, and a signal ends the pause', async () => {
    const file = join(dir, 'pause-library');
    const controller = new AbortController();
    let pages = 0;
    let paused = false;
    const run = check({
      url,
      pageSize: 100,
      concurrency: 1,
      pauseFile: file,
      checkInterval: 0.05,
      signal: controller.signal,
      onProgress: () => {
        pages += 1;
        if (pages === 3) writeFileSync(file, '');
      },
      onThrottle: (state) => (paused = state?.reason === 'paused'),
    }).then(() => null, (error: unknown) => error);
    await until(() => paused);
    // The page that had started when the file appeared (the next one starts while Node reads the
    // rows of the one before: detect-drift.ts TaskPool) ends; none starts after it.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const seen = pages;
    expect([3, 4]).toContain(seen);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(pages).toBe(seen);
    controller.abort();
    expect(((await run) as CouponAuditError).exitCode).toBe(130);
    rmSync(file);
  });
});

describe('check progress line', () => {
  beforeAll(resetData);

  it('on a terminal: settings scanned of an estimated total, rate and time left, on stderr', async () => {
    const result = await runCliOnTerminal(['check', '--url', url, '--page-size', '1', '--concurrency', '1']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Checking: [\d,]+\/~[\d,]+ settings \(estimated total\), [\d,]+\/s, ~\d+ (s|min) left, \d+ drifted/);
  });

  it('off a terminal: none', async () => {
    const result = await runCli(['check', '--url', url, '--page-size', '50']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('');
  });
});
