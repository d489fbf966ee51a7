import type { Connection, RowDataPacket } from 'mysql2/promise';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repair } from '../src/index.js';
import { auditScope, DEFAULT_MODEL } from '../src/core/model.js';
import { emptyRepairResult, type RepairBatchOptions, type RepairResult, repairSettings, WARM_MIN_ROWS } from '../src/core/repair.js';
import { ensureAuditTable } from '../src/db/applier.js';
import { resolveConnectionConfig } from '../src/db/connection-config.js';
import { Database } from '../src/db/database.js';
import { useEngine } from '../src/db/inspector.js';
import { runCli } from './helpers/cli.js';
import { createTestDatabase, seed, type TestDatabase } from './helpers/database.js';
import { counters, driftedIds, waitForLockWait, waitForMetadataLockWait } from './helpers/snapshot.js';

/**
 * Repair against an application that keeps writing. The application increments in the same
 * transaction as its child insert/delete (SPEC.md). Each interleaving ends with exact counters,
 * and no application statement fails.
 */

let db: TestDatabase;
let app: Connection;
let observer: Connection;

const S = 42; // the setting every interleaving works on: drifted by +3 before each test

beforeAll(async () => {
  db = await createTestDatabase('repair_live');
  app = await db.connect();
  observer = await db.connect();
});
afterAll(async () => {
  await app?.end();
  await observer?.end();
  await db?.drop();
});
beforeEach(async () => {
  await app.query('ROLLBACK'); // a failed test must not leave its locks to the next one
  await db.query('DELETE FROM g_coupons');
  await db.query('DELETE FROM g_coupon_uses');
  await db.query('DELETE FROM g_coupon_settings');
  await seed(db.conn, [
    { id: S, issuedCount: 5 + 3, usedCount: 0, coupons: 5 },
    { id: S + 1, issuedCount: 1, usedCount: 7, coupons: 1, uses: 2 },
  ]);
});

const insertCoupon = (conn: Connection, code: string) => conn.query('INSERT INTO g_coupons (settingId, code) VALUES (?, ?)', [S, code]);
const increment = (conn: Connection) => conn.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 1 WHERE id = ?', [S]);

/** The wrong protocol, for contrast: read the count, then write it (waiting for the row as needed). */
async function naiveRepair(conn: Connection): Promise<void> {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM g_coupons WHERE settingId = ?', [S]);
  await conn.query('UPDATE g_coupon_settings SET issuedCount = ? WHERE id = ?', [rows[0]!['n'], S]);
}

async function expectExact(): Promise<void> {
  const state = await counters(db.conn, S);
  expect(state.issued).toBe(state.coupons);
  expect(await driftedIds(db.conn)).toEqual([]);
}

describe('repair interleaved with application transactions', () => {
  it('application inserts a child and waits; repair runs; application increments and commits', async () => {
    await app.query('BEGIN');
    await insertCoupon(app, 'in-flight');
    const repair = await runCli(['repair', '--url', db.url, '--yes']);
    expect(repair.code).toBe(0);
    await increment(app); // must not fail or deadlock
    await app.query('COMMIT');
    await expectExact();
    expect((await counters(db.conn, S)).issued).toBe('6');
  });

  it('application increments first and waits; repair waits for the row; application commits', async () => {
    // The naive repair loses the increment in exactly this interleaving...
    await app.query('BEGIN');
    await insertCoupon(app, 'naive');
    await increment(app);
    const naive = await db.connect();
    const naiveDone = naiveRepair(naive); // counts 5 (the insert is not committed), then waits for the row
    await waitForLockWait(observer);
    await app.query('COMMIT');
    await naiveDone;
    await naive.end();
    const lost = await counters(db.conn, S);
    expect(lost).toMatchObject({ issued: '5', coupons: '6' }); // an increment lost: the scenario is sharp

    // ...and coupon-audit does not.
    await db.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 3 WHERE id = ?', [S]);
    await app.query('BEGIN');
    await insertCoupon(app, 'ours');
    await increment(app);
    const repairDone = runCli(['repair', '--url', db.url, '--yes', '--format', 'json', '--lock-wait-timeout', '10']);
    await waitForLockWait(observer);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await app.query('COMMIT');
    const repair = await repairDone;
    expect(repair.stderr).toBe('');
    expect(repair.code).toBe(0);
    // The 200 ms and more it waited for the application's row held nothing: not counted as holding.
    expect((JSON.parse(repair.stdout) as { summary: { lockHoldMs: { max: number } } }).summary.lockHoldMs.max).toBeLessThan(150);
    await expectExact();
    expect((await counters(db.conn, S)).issued).toBe('7');
  });

  it('application increments and waits; repair waits; application rolls back', async () => {
    await app.query('BEGIN');
    await insertCoupon(app, 'rolled-back');
    await increment(app);
    const repairDone = runCli(['repair', '--url', db.url, '--yes', '--lock-wait-timeout', '10']);
    await waitForLockWait(observer);
    await app.query('ROLLBACK');
    const repair = await repairDone;
    expect(repair.code).toBe(0);
    await expectExact();
    expect((await counters(db.conn, S)).issued).toBe('5');
  });

  it('another session holds a drifted row: exit 4 within seconds, that setting named, the others repaired; a rerun finishes', async () => {
    await app.query('BEGIN');
    await app.query('SELECT id FROM g_coupon_settings WHERE id = ? FOR UPDATE', [S]);
    const started = Date.now();
    const repair = await runCli(['repair', '--url', db.url, '--yes', '--lock-wait-timeout', '1']);
    const elapsed = Date.now() - started;
    expect(repair.code).toBe(4);
    expect(elapsed).toBeLessThan(15_000);
    expect(repair.stdout).toContain(`Not repaired, still locked by another session: setting ${S}.`);
    expect(repair.stdout).toContain('Repaired 1 setting');
    expect(await driftedIds(db.conn)).toEqual([String(S)]); // the other one is repaired
    await app.query('ROLLBACK');
    const rerun = await runCli(['repair', '--url', db.url, '--yes']);
    expect(rerun.code).toBe(0);
    await expectExact();
  });
});

describe('an ALTER of the audit table queued behind another session', () => {
  it("the batch's audit insert waits for the metadata lock no longer than --lock-wait-timeout: its rows are let go, the run ends (exit 4) at once", async () => {
    // The audit table, made by a first repair of the other setting; then more drifted settings.
    expect((await runCli(['repair', '--url', db.url, '--yes', '--ids', String(S + 1)])).code).toBe(0);
    const more = Array.from({ length: 8 }, (_, k) => 60 + k);
    await seed(db.conn, more.map((id) => ({ id, issuedCount: 3, usedCount: 0, coupons: 1 })));
    const reader = await db.connect();
    const alterer = await db.connect();
    let alter = null as Promise<unknown> | null;
    let pauseDir: string | null = null;
    try {
      // A long transaction that read the audit table holds its metadata lock; an ALTER then queues
      // for it, and every later statement on the table queues behind the ALTER.
      await reader.query('BEGIN');
      await reader.query('SELECT COUNT(*) FROM coupon_audit_log');
      // The repair waits at its first page on a pause file: after the privilege probes (they read
      // the audit table too), before any batch. There the ALTER is queued, and once the server shows
      // it waiting for the table, the pause ends.
      pauseDir = mkdtempSync(join(tmpdir(), 'ca-pause-'));
      const pauseFile = join(pauseDir, 'pause');
      writeFileSync(pauseFile, '');
      let queued: Promise<void> | null = null;
      const queueAlter = async (): Promise<void> => {
        alter = alterer.query('ALTER TABLE coupon_audit_log ADD COLUMN queued INT NULL');
        await waitForMetadataLockWait(observer, 'ALTER TABLE coupon_audit_log');
        rmSync(pauseFile);
      };
      const started = Date.now();
      const result = await repair({
        url: db.url,
        lockWaitTimeout: 1,
        pauseFile,
        checkInterval: 0.05,
        onThrottle: (state) => {
          if (state?.reason === 'paused') queued ??= queueAlter();
        },
      });
      await queued;
      expect(alter).not.toBeNull();
      // The batch's tries (4 × 1 s and backoff), not those of each setting after it (9 × 4 × 1 s more).
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(result.summary).toMatchObject({ repaired: 0, failed: 9 });
      const reason = "every try waited past --lock-wait-timeout for something other than a setting row: most likely a table's metadata lock (an ALTER TABLE or LOCK TABLES queued on it?)";
      expect(result.failed).toEqual([S, ...more].map((id) => ({ id: String(id), reason })).sort((a, b) => Number(a.id) - Number(b.id)));
      // Its row was let go: the application writes it at once.
      await app.query('SET SESSION innodb_lock_wait_timeout = 1');
      await increment(app);
    } finally {
      await reader.query('ROLLBACK').catch(() => undefined);
      await alter?.catch(() => undefined);
      await reader.end();
      await alterer.end();
      if (pauseDir !== null) rmSync(pauseDir, { recursive: true, force: true });
    }
    expect((await runCli(['repair', '--url', db.url, '--yes'])).code).toBe(0);
    await expectExact();
    expect(await driftedIds(db.conn)).toEqual([]);
  }, 30_000);
});

/**
 * Four application connections incrementing (and rolling back, and deleting) on `ids` in the same
 * transaction as their child rows, until stopped: how many transactions they committed, and any
 * statement of theirs that failed.
 */
async function startWorkload(ids: readonly number[]): Promise<{ stop: () => Promise<{ failures: string[]; transactions: number }> }> {
  const workers = await Promise.all([1, 2, 3, 4].map(() => db.connect()));
  const failures: string[] = [];
  let transactions = 0;
  let stop = false;
  const work = async (conn: Connection, worker: number) => {
    await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    // Each worker writes its own settings (every fourth), all of them between the four: two workers
    // on one setting can deadlock each other (an insert waiting on the other's uncommitted insert
    // into the same index while that one waits for the setting's row), which says nothing of repair.
    const mine = ids.filter((_, index) => index % workers.length === worker);
    for (let i = 0; !stop; i += 1) {
      const id = mine[i % mine.length]!;
      const op = (worker * 7 + i) % 5;
      try {
        await conn.query('BEGIN');
        if (op === 0) {
          await conn.query('INSERT INTO g_coupons (settingId, code) VALUES (?, ?)', [id, `w${worker}-${i}`]);
          await conn.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 1 WHERE id = ?', [id]);
          await conn.query('COMMIT');
        } else if (op === 1) {
          await conn.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 1 WHERE id = ?', [id]);
          await conn.query('INSERT INTO g_coupons (settingId, code) VALUES (?, ?)', [id, `w${worker}-${i}`]);
          await conn.query('COMMIT');
        } else if (op === 2) {
          await conn.query('INSERT INTO g_coupon_uses (settingId) VALUES (?)', [id]);
          await conn.query('UPDATE g_coupon_settings SET usedCount = usedCount + 1 WHERE id = ?', [id]);
          await conn.query('ROLLBACK'); // a failed redeem
        } else if (op === 3) {
          await conn.query('UPDATE g_coupon_settings SET usedCount = usedCount + 1 WHERE id = ?', [id]);
          await conn.query('INSERT INTO g_coupon_uses (settingId) VALUES (?)', [id]);
          await conn.query('COMMIT');
        } else {
          const [rows] = await conn.query<RowDataPacket[]>('SELECT id FROM g_coupons WHERE settingId = ? ORDER BY id DESC LIMIT 1', [id]);
          const couponId = rows[0]?.['id'];
          const [deleted] = couponId === undefined ? [{ affectedRows: 0 }] : await conn.query('DELETE FROM g_coupons WHERE id = ?', [couponId]);
          if ((deleted as { affectedRows: number }).affectedRows === 1) {
            await conn.query('UPDATE g_coupon_settings SET issuedCount = issuedCount - 1 WHERE id = ?', [id]);
          }
          await conn.query('COMMIT');
        }
        transactions += 1;
      } catch (error) {
        failures.push(`worker ${worker} op ${op}: ${(error as Error).message}`);
        await conn.query('ROLLBACK').catch(() => undefined);
      }
    }
  };
  const running = workers.map((conn, index) => work(conn, index));
  return {
    stop: async () => {
      stop = true;
      await Promise.all(running);
      await Promise.all(workers.map((conn) => conn.end()));
      return { failures, transactions };
    },
  };
}

describe('repair under a concurrent workload', () => {
  it('keeps every counter exact and never fails an application transaction', async () => {
    const HOT = [101, 102, 103, 104];
    await seed(db.conn, HOT.map((id) => ({ id, issuedCount: 3, usedCount: 1, coupons: 3, uses: 1 })));
    const workload = await startWorkload(HOT);
    let outcome: { failures: string[]; transactions: number } | null = null;
    try {
      for (let round = 0; round < 6; round += 1) {
        // Committed drift, as a bug in the application would leave it.
        await db.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 5, usedCount = NULL WHERE id = ?', [HOT[round % HOT.length]]);
        await db.query('UPDATE g_coupon_settings SET usedCount = usedCount - 2 WHERE id = ?', [HOT[(round + 1) % HOT.length]]);
        const repair = await runCli(['repair', '--url', db.url, '--yes', '--format', 'json']);
        expect(repair.stderr).toBe('');
        expect(repair.code).toBe(0);
        const summary = (JSON.parse(repair.stdout) as { summary: { repaired: number; failed: number } }).summary;
        expect(summary.repaired).toBeGreaterThanOrEqual(2);
        expect(summary.failed).toBe(0);
        expect(await driftedIds(db.conn)).toEqual([]); // one statement: one consistent snapshot
      }
    } finally {
      outcome = await workload.stop();
    }
    expect(outcome.failures).toEqual([]);
    expect(outcome.transactions).toBeGreaterThan(50);
    expect(await driftedIds(db.conn)).toEqual([]);
  });

  it.each([1, 2])('with --write-concurrency %i, that many transactions are in flight at once; every counter stays exact', async (writeConcurrency) => {
    // 40 drifted settings in batches of 4, the application writing to all of them meanwhile.
    const ids = Array.from({ length: 40 }, (_, i) => 201 + i);
    await seed(db.conn, ids.map((id) => ({ id, issuedCount: 3 + (id % 3), usedCount: id % 2 === 0 ? null : 9, coupons: 3, uses: 1 })));
    const workload = await startWorkload(ids);
    let inFlight = 0;
    let most = 0;
    let report: Awaited<ReturnType<typeof repair>> | null = null;
    let outcome: { failures: string[]; transactions: number } | null = null;
    try {
      report = await repair({
        url: db.url,
        batchSize: 4,
        writeConcurrency,
        // Inside each transaction, its locks held: overlapping calls are transactions in flight at once.
        beforeCommit: async () => {
          inFlight += 1;
          most = Math.max(most, inFlight);
          await sleep(40);
          inFlight -= 1;
        },
      });
    } finally {
      outcome = await workload.stop();
    }
    expect(most).toBe(writeConcurrency);
    expect(report!.summary.failed).toBe(0);
    expect(report!.summary.stillDrifted).toBe(0);
    expect(report!.summary.transactions).toBeGreaterThanOrEqual(10);
    expect(outcome.failures).toEqual([]);
    expect(outcome.transactions).toBeGreaterThan(20);
    expect(await driftedIds(db.conn)).toEqual([]);
  });

  it('an extra connection the server refuses (a user limit) leaves its batches to the first; every setting repaired', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => 301 + i);
    await seed(db.conn, ids.map((id) => ({ id, issuedCount: 9, usedCount: 9, coupons: 1, uses: 1 })));
    const user = `ca_onecon_${randomBytes(3).toString('hex')}`;
    await db.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'onecon-pw' WITH MAX_USER_CONNECTIONS 1`);
    await db.query(`GRANT ALL ON \`${db.name}\`.* TO '${user}'@'%'`);
    const url = new URL(db.url);
    url.username = user;
    url.password = 'onecon-pw';
    const database = await Database.connect(resolveConnectionConfig({ url: url.toString(), env: {} }), { poolSize: 3 });
    try {
      const { engine } = await useEngine(database, { metadataLockWaitSeconds: 60 });
      await ensureAuditTable(database, DEFAULT_MODEL.auditTable);
      const result = emptyRepairResult(`onecon-${user}`);
      // The pool's one connection becomes the first repair connection; opening a second is refused.
      await repairSettings(database, ids.map(BigInt), { scope: auditScope(DEFAULT_MODEL), runId: result.runId, engine, batchSize: 5, concurrency: 2 }, result);
      expect([...new Set(result.changes.map((change) => Number(change.settingId)))]).toEqual(ids);
      expect(result.repaired).toBe(ids.length);
      expect(result.transactions).toBe(6);
      expect(result.failed).toEqual([]);
      expect(await driftedIds(db.conn)).toEqual([String(S), String(S + 1)]); // beforeEach's two, not asked for
      // The one connection was the writer's: back in the pool with the server's defaults and the
      // run's --metadata-lock-wait (useEngine's 60 above), so the final reread does not wait on a
      // metadata lock for only the repair's 2 seconds, nor for the server's day.
      const [defaults] = await database.query(
        '/* coupon-audit */ SELECT @@SESSION.lock_wait_timeout = 60 AS lockWait, ' +
          '@@SESSION.idle_transaction_timeout = @@GLOBAL.idle_transaction_timeout AS idle, @@SESSION.innodb_lock_wait_timeout = @@GLOBAL.innodb_lock_wait_timeout AS rowWait',
        'reading the session',
      );
      expect(Object.fromEntries(Object.entries(defaults!).map(([key, value]) => [key, Number(value)]))).toEqual({ lockWait: 1, idle: 1, rowWait: 1 });
      // The limit was real: a second connection as that user is refused (a long one: a short one
      // would wait for the first to come back, database.ts acquire).
      const one = await database.session('one');
      await expect(database.session('two', { long: true })).rejects.toThrow(/max_user_connections|too many|resource/i);
      one.release();
    } finally {
      await database.close();
      await db.query(`DROP USER IF EXISTS '${user}'@'%'`);
    }
  });

  it('a batch whose settings had WARM_MIN_ROWS children or more is counted once before its transaction, and again under its locks', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => 501 + i);
    await seed(db.conn, ids.map((id) => ({ id, issuedCount: 9, usedCount: 9, coupons: 1, uses: 1 })));
    // Setting 505 has WARM_MIN_ROWS codes more (and caches none of them).
    await db.query(`INSERT INTO g_coupons (settingId, code) SELECT 505, CONCAT('warm-', seq) FROM seq_1_to_${WARM_MIN_ROWS}`);
    const database = await Database.connect(resolveConnectionConfig({ url: db.url, env: {} }), { poolSize: 2 });
    const insertCoupon505 = async (): Promise<void> => {
      await app.query('BEGIN');
      await app.query("INSERT INTO g_coupons (settingId, code) VALUES (505, 'late')");
      await app.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 1 WHERE id = 505');
      await app.query('COMMIT');
    };
    /** The statements the repair connection sent, by kind, in order. */
    const sent: string[] = [];
    const watching = new Proxy(database, {
      get(target, key) {
        if (key === 'session') {
          return async (context: string) => {
            const session = await target.session(context);
            const query = session.query.bind(session);
            session.query = (async (sql: string, options?: never) => {
              const kind = /^\/\* coupon-audit \*\/ (START TRANSACTION|COMMIT|SELECT `settingId` AS settingId, COUNT\(\*\) AS n FROM `g_coupons` WHERE `settingId` IN \(([\d, ]+)\))/.exec(sql);
              if (kind !== null) sent.push(kind[2] === undefined ? kind[1]! : `count ${kind[2].split(', ')[0]}…`);
              const rows = await query(sql, options);
              // The application adds a code to 505 after the count ahead, before the batch locks it:
              // what is written must be the count taken under the lock.
              if (kind?.[2] !== undefined && sent.length === 1) {
                await insertCoupon505();
              }
              return rows;
            }) as typeof session.query;
            return session;
          };
        }
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    try {
      const { engine } = await useEngine(database, { metadataLockWaitSeconds: 60 });
      await ensureAuditTable(database, DEFAULT_MODEL.auditTable);
      const result = emptyRepairResult(`warm-${randomBytes(3).toString('hex')}`);
      const childRows = new Map([[505n, WARM_MIN_ROWS + 1]]);
      await repairSettings(watching, ids.map(BigInt), { scope: auditScope(DEFAULT_MODEL), runId: result.runId, engine, batchSize: 5, concurrency: 1, childRows }, result);
      expect(sent).toEqual(['count 501…', 'START TRANSACTION', 'count 501…', 'COMMIT', 'START TRANSACTION', 'count 506…', 'COMMIT']);
      expect(result.repaired).toBe(10);
      // Its one seeded code, WARM_MIN_ROWS more, and the late one: not the count ahead's WARM_MIN_ROWS + 1.
      expect(await counters(db.conn, 505)).toMatchObject({ issued: String(WARM_MIN_ROWS + 2), coupons: String(WARM_MIN_ROWS + 2) });
      expect(await driftedIds(db.conn)).toEqual([String(S), String(S + 1)]); // beforeEach's two, not asked for
      // The one connection was the writer's: back in the pool with the server's defaults and the
      // run's --metadata-lock-wait (useEngine's 60 above), so the final reread does not wait on a
      // metadata lock for only the repair's 2 seconds, nor for the server's day.
      const [defaults] = await database.query(
        '/* coupon-audit */ SELECT @@SESSION.lock_wait_timeout = 60 AS lockWait, ' +
          '@@SESSION.idle_transaction_timeout = @@GLOBAL.idle_transaction_timeout AS idle, @@SESSION.innodb_lock_wait_timeout = @@GLOBAL.innodb_lock_wait_timeout AS rowWait',
        'reading the session',
      );
      expect(Object.fromEntries(Object.entries(defaults!).map(([key, value]) => [key, Number(value)]))).toEqual({ lockWait: 1, idle: 1, rowWait: 1 });
    } finally {
      await database.close();
    }
  });

  describe('two writers, one stops', () => {
    let database: Database;
    let holder: Connection | null = null;
    beforeAll(async () => {
      database = await Database.connect(resolveConnectionConfig({ url: db.url, env: {} }), { poolSize: 4 });
      await ensureAuditTable(database, DEFAULT_MODEL.auditTable);
    });
    afterAll(async () => {
      await database?.close();
    });
    afterEach(async () => {
      await holder?.end();
      holder = null;
    });
    /** repairSettings on `ids` with two writers and batches of five (the built-in model), `options` on top; resolves to its result. */
    const twoWriters = async (ids: readonly number[], options: Partial<RepairBatchOptions>): Promise<RepairResult> => {
      const { engine } = await useEngine(database, { metadataLockWaitSeconds: 60 });
      const result = emptyRepairResult(`two-writers-${randomBytes(3).toString('hex')}`);
      const base = { scope: auditScope(DEFAULT_MODEL), runId: result.runId, engine, batchSize: 5, concurrency: 2 };
      await repairSettings(database, ids.map(BigInt), { ...base, ...options }, result);
      return result;
    };
    const auditedIds = async (): Promise<number[]> =>
      (await db.query<RowDataPacket[]>('SELECT DISTINCT settingId FROM coupon_audit_log ORDER BY settingId')).map((row) => Number(row['settingId']));

    it("one writer's failure stops the other after its transaction in flight: it settles no held row afterwards", async () => {
      await db.query('DELETE FROM coupon_audit_log');
      const ids = Array.from({ length: 10 }, (_, i) => 401 + i);
      await seed(db.conn, ids.map((id) => ({ id, issuedCount: 9, usedCount: 9, coupons: 1, uses: 1 })));
      // The application holds 408 and 409 for 2.5 s: the second writer's batch (406-410) skips them
      // and then waits for them one at a time, 1 s per try.
      holder = await db.connect();
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM g_coupon_settings WHERE id IN (408, 409) FOR UPDATE');
      const released = sleep(2500).then(() => holder!.query('COMMIT'));
      const failure = new Error('the first batch is refused');
      const started = Date.now();
      const outcome = await twoWriters(ids, {
        lockWaitTimeoutSeconds: 1,
        // The first writer's batch (401-405) fails 300 ms in, while the second waits for 408.
        beforeCommit: async (batch) => {
          if (batch.includes(401n)) {
            await sleep(300);
            throw failure;
          }
        },
      }).then(() => null, (error: unknown) => error);
      const elapsed = Date.now() - started;
      await released;
      expect(outcome).toBe(failure);
      expect(elapsed).toBeLessThan(2400); // it did not wait out the holder
      // 406, 407 and 410 committed in the second writer's batch; 408 and 409 never, the first batch never.
      expect(await auditedIds()).toEqual([406, 407, 410]);
    });

    it('a signal that comes once every batch is taken leaves nothing undone: not interrupted', async () => {
      const ids = Array.from({ length: 15 }, (_, i) => 501 + i);
      await seed(db.conn, ids.map((id) => ({ id, issuedCount: 9, usedCount: 9, coupons: 1, uses: 1 })));
      const controller = new AbortController();
      let gates = 0;
      const result = await twoWriters(ids, {
        signal: controller.signal,
        // Each writer's first gate opens at once; the next two (both writers back for more, a few
        // ms apart) open after 100 and 300 ms: the first one back takes the last batch, whose
        // transaction receives the signal while the other still waits at its gate.
        throttle: async () => {
          gates += 1;
          if (gates === 3) await sleep(100);
          if (gates > 3) await sleep(300);
        },
        beforeCommit: (batch) => {
          if (batch.includes(515n)) controller.abort(new Error('stop'));
        },
      });
      expect(controller.signal.aborted).toBe(true);
      expect([...new Set(result.changes.map((change) => Number(change.settingId)))].sort((a, b) => a - b)).toEqual(ids);
      expect(result.repaired).toBe(ids.length);
      expect(result.interrupted).toBe(false);
    });
  });
});
