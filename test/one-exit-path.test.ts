import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseError, EXIT, exitCodeOf, repair } from '../src/index.js';
import type { JsonChange } from '../src/core/report.js';
import { runCli, startCli } from './helpers/cli.js';
import { connectionOptions, createTestDatabase, seed, type TestDatabase } from './helpers/database.js';
import { startKillRelay } from './helpers/kill-relay.js';
import { driftedIds } from './helpers/snapshot.js';

/**
 * One exit path (issue 13, item 10), on the real server, with no stand-in for our code or the
 * driver: an error raised inside a repair transaction that is not the database's is a bug (70)
 * and leaves the transaction rolled back; a repair session that cannot be set up is a database
 * error (3) and writes nothing.
 */

let db: TestDatabase;

/** What repair writes for the seed below: setting 1's issuedCount 5 → 2, setting 2's usedCount 3 → 1. */
const CHANGES: JsonChange[] = [
  { id: '1', counter: 'issuedCount', old: 5, new: 2 },
  { id: '2', counter: 'usedCount', old: 3, new: 1 },
];

async function auditRows(): Promise<number> {
  const [tables] = await db.query<{ n: number }[]>(
    "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'coupon_audit_log'",
  );
  if (Number(tables!.n) === 0) return 0;
  const [count] = await db.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM coupon_audit_log');
  return Number(count!.n);
}

async function reset(): Promise<void> {
  for (const table of ['g_coupons', 'g_coupon_uses', 'g_coupon_settings']) await db.query(`DELETE FROM ${table}`);
  await db.query('DROP TABLE IF EXISTS coupon_audit_log');
  await seed(db.conn, [
    { id: 1, issuedCount: 5, usedCount: 0, coupons: 2 },
    { id: 2, issuedCount: 1, usedCount: 3, coupons: 1, uses: 1 },
    { id: 3, issuedCount: 0, usedCount: 0 },
  ]);
}

beforeAll(async () => {
  db = await createTestDatabase('one_exit_path');
});
beforeEach(reset);
afterAll(async () => {
  await db?.drop();
});

/** The promise's rejection (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

describe('an error raised inside a repair transaction (the library’s beforeCommit, called before each COMMIT)', () => {
  it('a TypeError rejects the run with that very error, which main’s mapper exits 70 for (not 3); the transaction is rolled back', async () => {
    const seen: JsonChange[][] = [];
    const bug = new TypeError("Cannot read properties of undefined (reading 'id')");
    const error = await rejection(
      repair({
        url: db.url,
        beforeCommit: ({ changes }) => {
          seen.push(changes);
          throw bug;
        },
      }),
    );
    expect(error).toBe(bug);
    expect(error).not.toBeInstanceOf(DatabaseError);
    expect(exitCodeOf(error)).toBe(EXIT.INTERNAL);
    // Inside the transaction: its writes were made (the hook sees them) and then rolled back; not retried.
    expect(seen).toEqual([CHANGES]);
    expect(await driftedIds(db.conn)).toEqual(['1', '2']);
    expect(await auditRows()).toBe(0);
    // Nothing held: the run lock went with the failed run, so a rerun repairs at once.
    const rerun = await runCli(['repair', '--url', db.url, '--yes', '--quiet']);
    expect(rerun.code).toBe(0);
    expect(await driftedIds(db.conn)).toEqual([]);
  });

  it('a TypeError of Node’s own, which carries a code (ERR_INVALID_ARG_TYPE) like a driver error does, is still a bug: 70, not 3', async () => {
    const error = await rejection(
      repair({
        url: db.url,
        beforeCommit: () => {
          Buffer.from(undefined as unknown as string); // throws TypeError [ERR_INVALID_ARG_TYPE]
        },
      }),
    );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as NodeJS.ErrnoException).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(exitCodeOf(error)).toBe(EXIT.INTERNAL);
    expect(await driftedIds(db.conn)).toEqual(['1', '2']);
    expect(await auditRows()).toBe(0);
  });

  it('the hook’s own failure with a code (a missing file: ENOENT) comes back unchanged, not as a database error', async () => {
    const error = await rejection(
      repair({
        url: db.url,
        beforeCommit: () => {
          readFileSync('/nonexistent/coupon-audit-guard.json');
        },
      }),
    );
    expect(error).not.toBeInstanceOf(DatabaseError);
    expect((error as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect((error as Error).message).toContain('/nonexistent/coupon-audit-guard.json');
    expect(await driftedIds(db.conn)).toEqual(['1', '2']);
    expect(await auditRows()).toBe(0);
  });

  it('a hook that returns lets the transaction commit what it was shown', async () => {
    const seen: JsonChange[][] = [];
    const report = await repair({ url: db.url, beforeCommit: ({ changes }) => void seen.push(changes) });
    expect(seen).toEqual([CHANGES]);
    expect(report.changes).toEqual(CHANGES);
    expect(await driftedIds(db.conn)).toEqual([]);
    expect(await auditRows()).toBe(2);
  });
});

describe('the repair session cannot be set up: its connection is killed between connect and configure', () => {
  it('exits 3 (not 70) with one sentence saying so, writes nothing, holds nothing; a rerun repairs', async () => {
    const server = new URL(db.url);
    const admin = await mysql.createConnection(connectionOptions());
    // The repair session's first set-up statement (RepairSession.open); nothing else sends it.
    const relay = await startKillRelay({ host: server.hostname, port: Number(server.port || 3306) }, 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', async (id) => {
      await admin.query('KILL CONNECTION ?', [id]);
    });
    try {
      const url = new URL(db.url);
      url.port = String(relay.port);
      const result = await runCli(['repair', '--url', url.toString(), '--yes']);
      expect(relay.killed).toHaveLength(1);
      expect(result.code).toBe(EXIT.DATABASE);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^coupon-audit: Lost the connection to 127\.0\.0\.1:\d+ while setting up the repair session/);
      expect(result.stderr).not.toContain('internal error');
      expect(result.stdout).toBe('');
    } finally {
      await relay.close();
      await admin.end();
    }
    expect(await driftedIds(db.conn)).toEqual(['1', '2']);
    expect(await auditRows()).toBe(0);
    // The run lock went with the failed run.
    const rerun = await runCli(['repair', '--url', db.url, '--yes', '--quiet']);
    expect(rerun.code).toBe(0);
    expect(await driftedIds(db.conn)).toEqual([]);
  });
});

describe('a signal outside repair’s transactions (during the scan) ends through main too', () => {
  it.each([
    ['check', 'SIGINT', 130],
    ['repair', 'SIGTERM', 143],
  ] as const)('%s, %s mid-scan: exit %i, and the metrics file says so (it was not written on the old process.exit path)', async (command, signal, code) => {
    // 3000 settings, each with a code whose count sleeps 2 ms: the scan reads for seconds.
    await seed(db.conn, Array.from({ length: 3000 }, (_, i) => ({ id: i + 10, issuedCount: 1, usedCount: 0, coupons: 1 })));
    const dir = mkdtempSync(join(tmpdir(), 'coupon-audit-exit-'));
    try {
      const config = join(dir, 'slow.json');
      writeFileSync(config, JSON.stringify({ counters: { issuedCount: { table: 'g_coupons', foreignKey: 'settingId', where: 'SLEEP(0.002) = 0' } } }));
      const metrics = join(dir, 'run.prom');
      const run = startCli([command, '--url', db.url, '--config', config, '--metrics-file', metrics, ...(command === 'repair' ? ['--yes'] : [])]);
      let reading = false;
      for (let i = 0; i < 200 && !reading && !run.exited(); i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const [rows] = await db.conn.query<RowDataPacket[]>(
          "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE '/* coupon-audit */%SLEEP%'",
          [db.name],
        );
        reading = rows.length > 0;
      }
      expect(reading).toBe(true);
      run.child.kill(signal);
      const result = await run.done;
      expect(result.code).toBe(code);
      expect(result.stderr).toMatch(new RegExp(`^coupon-audit: interrupted by ${signal}\\n$`, 'm'));
      const text = readFileSync(metrics, 'utf8');
      const labels = `\\{command="${command}",database="${db.name}"\\}`;
      expect(text).toMatch(new RegExp(`^coupon_audit_last_run_exit_code${labels} ${code}$`, 'm'));
      expect(text).toMatch(new RegExp(`^coupon_audit_last_run_success${labels} 0$`, 'm'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(await driftedIds(db.conn)).toEqual(['1', '2']);
    expect(await auditRows()).toBe(0);
  }, 60_000);
});
