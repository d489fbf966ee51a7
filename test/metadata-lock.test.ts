import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditScope, DEFAULT_MODEL } from '../src/core/model.js';
import { RepairSession } from '../src/db/applier.js';
import { resolveConnectionConfig } from '../src/db/connection-config.js';
import { Database } from '../src/db/database.js';
import { useEngine } from '../src/db/inspector.js';
import { acquireRunLock, ensureLeaseTable, LEASE_TABLE } from '../src/db/run-lock.js';
import { check, DatabaseError, repair } from '../src/index.js';
import { runCli } from './helpers/cli.js';
import { connectionOptions, createTestDatabase, seed, type TestDatabase } from './helpers/database.js';
import { waitForMetadataLockWait } from './helpers/snapshot.js';

/**
 * A schema change queued on a table the tool reads: an ALTER TABLE waiting for a transaction that
 * read the table, and every later statement on the table waiting behind the ALTER. The tool's
 * statements wait at most --metadata-lock-wait (inspector.ts useEngine), then the run stops with
 * exit 3 and a sentence, instead of the server's lock_wait_timeout (a day on MariaDB), silent.
 */

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('metadata_lock');
  await seed(
    db.conn,
    Array.from({ length: 300 }, (_, i) => ({ id: i + 1, issuedCount: 1, usedCount: 0, coupons: 1 })),
  );
}, 60_000);
afterAll(async () => {
  await db?.drop();
});

/**
 * An application transaction that has read `table`, and an ALTER TABLE queued behind it. release()
 * ends the transaction, lets the ALTER finish and undoes it.
 */
async function queueAlter(table: string): Promise<{ release: () => Promise<void> }> {
  const holder: Connection = await mysql.createConnection(connectionOptions(db.name));
  const alterer: Connection = await mysql.createConnection(connectionOptions(db.name));
  await holder.query('START TRANSACTION');
  await holder.query(`SELECT * FROM ${table} LIMIT 1`);
  const alter = alterer.query(`ALTER TABLE ${table} ADD COLUMN held INT NULL`);
  // Queued: the processlist shows it waiting for the metadata lock.
  await waitForMetadataLockWait(db.conn, `ALTER TABLE ${table} ADD COLUMN held`);
  let released: Promise<void> | null = null;
  const release = (): Promise<void> =>
    (released ??= (async () => {
      await holder.query('ROLLBACK');
      await alter;
      await alterer.query(`ALTER TABLE ${table} DROP COLUMN held`);
      await Promise.all([holder.end(), alterer.end()]);
    })());
  // Should the bound not hold (a regression), the wait ends here and the test fails on its
  // assertions instead of hanging behind the ALTER until it times out.
  setTimeout(() => void release(), 15_000).unref();
  return { release };
}

describe('a read queued behind an ALTER TABLE', () => {
  it('check exits 3 after --metadata-lock-wait with one sentence, and runs once the ALTER is done', async () => {
    const queued = await queueAlter('g_coupons');
    let result;
    const started = performance.now();
    try {
      result = await runCli(['check', '--url', db.url, '--metadata-lock-wait', '1']);
    } finally {
      await queued.release();
    }
    const seconds = (performance.now() - started) / 1000;
    expect(result.code, result.stderr).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Gave up waiting for a lock while checking the schema');
    expect(result.stderr).toContain("most likely a table's metadata lock");
    expect(result.stderr).toContain('--metadata-lock-wait SECONDS');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    // One wait of 1 s (the start-up's first read of g_coupons), not the server's day.
    expect(seconds).toBeLessThan(20);
    const after = await runCli(['check', '--url', db.url]);
    expect(after.code, after.stderr).toBe(0);
  });

  it('doctor fails its database line with the sentence (exit 3), not its connection line', async () => {
    const queued = await queueAlter('g_coupons');
    let result;
    try {
      result = await runCli(['doctor', '--url', db.url, '--metadata-lock-wait', '1', '--format', 'json']);
    } finally {
      await queued.release();
    }
    expect(result.code, result.stderr).toBe(3);
    expect(JSON.parse(result.stdout).checks).toEqual([
      { name: 'database', status: 'fail', detail: expect.stringMatching(/^Gave up waiting for a lock while checking the schema \(error 1205\): most likely a table's metadata lock/) },
    ]);
  });

  it('repair exits 3 the same way and writes nothing', async () => {
    await db.query('UPDATE g_coupon_settings SET issuedCount = 9 WHERE id = 7');
    const queued = await queueAlter('g_coupon_uses');
    let result;
    try {
      result = await runCli(['repair', '--url', db.url, '--yes', '--metadata-lock-wait', '1']);
    } finally {
      await queued.release();
    }
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain("Gave up waiting for a lock while checking the schema (error 1205): most likely a table's metadata lock");
    const [rows] = await db.conn.query<RowDataPacket[]>('SELECT issuedCount FROM g_coupon_settings WHERE id = 7');
    expect(Number(rows[0]!['issuedCount'])).toBe(9);
    const [audit] = await db.conn.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'coupon_audit_log'");
    expect(Number(audit[0]!['n'])).toBe(0);
    // Once the ALTER is done, the same repair runs.
    const after = await runCli(['repair', '--url', db.url, '--yes']);
    expect(after.code, after.stderr).toBe(0);
  });

  it('a page statement queued mid-scan gives up too (the library: DatabaseError, exit code 3)', async () => {
    let queued: Promise<{ release: () => Promise<void> }> | null = null;
    let pages = 0;
    let pagesWhenQueued = -1;
    const run = check({
      url: db.url,
      pageSize: 1,
      concurrency: 1,
      metadataLockWait: 1,
      // After the first page: the ALTER queues on g_coupon_uses while the scan goes on.
      onProgress: () => {
        pages += 1;
        queued ??= queueAlter('g_coupon_uses').then((q) => ((pagesWhenQueued = pages), q));
      },
    });
    const error = await run.then(
      () => null,
      (e: unknown) => e,
    );
    await (await queued!)?.release();
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).exitCode).toBe(3);
    expect((error as DatabaseError).message).toMatch(/^Gave up waiting for a lock while comparing g_coupon_settings with its counts/);
    // Stopped in the scan, after the ALTER queued and before its 300 pages were done.
    expect(pagesWhenQueued).toBeGreaterThan(0);
    expect(pages).toBeLessThan(300);
  });

  it('--metadata-lock-wait takes 1-86400 seconds; anything else is a usage error (exit 2)', async () => {
    for (const value of ['0', '86401', '1.5', 'x']) {
      const result = await runCli(['check', '--url', db.url, '--metadata-lock-wait', value]);
      expect(result.code, value).toBe(2);
      expect(result.stderr).toContain('--metadata-lock-wait');
    }
    await expect(check({ url: db.url, metadataLockWait: 0 })).rejects.toMatchObject({ exitCode: 2 });
  });
});

describe('an ALTER TABLE of the settings table queued after the scan, while repair writes', () => {
  it("stops the batches after one batch's tries (exit 4, the reason named), not four tries of each setting alone", async () => {
    const drifted = Array.from({ length: 12 }, (_, i) => 101 + i);
    // Only these 12 drift (the cases before may have left others).
    expect((await runCli(['repair', '--url', db.url, '--yes'])).code).toBe(0);
    await db.query(`UPDATE g_coupon_settings SET issuedCount = 5 WHERE id IN (${drifted.join(', ')})`);
    let queued: Promise<{ release: () => Promise<void> }> | null = null;
    const started = performance.now();
    const result = await repair({
      url: db.url,
      batchSize: 1,
      writeConcurrency: 1,
      lockWaitTimeout: 1,
      metadataLockWait: 30,
      // In the first transaction, before its COMMIT: the ALTER queues behind it (and an
      // application transaction), and each lock statement after it waits behind the ALTER. It is
      // let go after 8 s: the final reread then goes ahead.
      beforeCommit: async () => {
        if (queued !== null) return;
        queued = queueAlter('g_coupon_settings');
        const alter = await queued;
        setTimeout(() => void alter.release(), 8_000).unref();
      },
    });
    await (await queued!)?.release();
    const seconds = (performance.now() - started) / 1000;
    expect(result.summary).toMatchObject({ repaired: 1, failed: 11 });
    const reason = "every try waited past --lock-wait-timeout for something other than a setting row: most likely a table's metadata lock (an ALTER TABLE or LOCK TABLES queued on it?)";
    expect(result.failed).toEqual(drifted.slice(1).map((id) => ({ id: String(id), reason })));
    // One batch's 4 tries of 1 s and the wait for the ALTER to be let go; a setting's 4 tries
    // each (11 × 4 s) would have outlasted the ALTER and repaired the rest.
    expect(seconds).toBeLessThan(25);
    // Put right for the cases after this one.
    expect((await runCli(['repair', '--url', db.url, '--yes'])).code).toBe(0);
  }, 60_000);
});

describe('the bound on every connection', () => {
  it('is set where the pool hands a connection out, and set again after a repair writer used it', async () => {
    const database = await Database.connect(resolveConnectionConfig({ url: db.url, env: {} }), { poolSize: 1 });
    const bound = async (): Promise<number> => Number((await database.query('/* coupon-audit */ SELECT @@SESSION.lock_wait_timeout AS s', 'test'))[0]!['s']);
    try {
      const { engine } = await useEngine(database, { metadataLockWaitSeconds: 7 });
      expect(await bound()).toBe(7);
      // The writer bounds its own waits by --lock-wait-timeout, then puts the server's defaults back.
      const writer = await RepairSession.open(database, auditScope(DEFAULT_MODEL), [], 3, engine);
      await writer.close();
      // The pool's one connection again: the run's bound, not the server's day (86400).
      expect(await bound()).toBe(7);
    } finally {
      await database.close();
    }
  });
});

describe('the lease run lock (a cluster: no server-wide GET_LOCK) behind an ALTER TABLE of its table', () => {
  it('gives up after one wait, not two (the insert, then the read of who holds it)', async () => {
    const database = await Database.connect(resolveConnectionConfig({ url: db.url, env: {} }), { poolSize: 2 });
    try {
      const server = await useEngine(database, { metadataLockWaitSeconds: 2 });
      await ensureLeaseTable(database);
      const queued = await queueAlter(LEASE_TABLE);
      const started = performance.now();
      let error: unknown = null;
      try {
        // The engine as a cluster's: the run lock is the lease row (run-lock.ts LeaseRunLock).
        await acquireRunLock(database, { ...server.engine, namedLockIsClusterWide: false }, { waitSeconds: 0, owner: 'metadata-lock-test' });
      } catch (caught) {
        error = caught;
      } finally {
        await queued.release();
      }
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as DatabaseError).message).toMatch(/^Gave up waiting for a lock while taking the run lock/);
      // One wait of 2 s; the insert's 1205 taken for two repairs' collision and retried made it
      // two waits (4 s and more).
      expect((performance.now() - started) / 1000).toBeLessThan(3.5);
    } finally {
      await database.close();
    }
  });
});
