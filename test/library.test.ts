import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, check, ConfigError, CouponAuditError, DatabaseError, repair, type RepairOptions, RunLockedError, UsageError } from '../src/index.js';
import { runCli } from './helpers/cli.js';
import { IDLE_TRANSACTION_SECONDS } from '../src/db/applier.js';
import { connectionOptions, createTestDatabase, seed, type TestDatabase } from './helpers/database.js';
import { driftedIds, settingsSnapshot } from './helpers/snapshot.js';

/** The library API (SPEC.md "A library as well as a command"), called in-process. */

let db: TestDatabase;
const N = 400; // drifted settings: with batchSize 1 a repair takes hundreds of transactions

beforeAll(async () => {
  db = await createTestDatabase('library');
  await seed(db.conn, [
    ...Array.from({ length: N }, (_, i) => ({ id: i + 1, issuedCount: 5, usedCount: 0, coupons: 2 })),
    { id: 9007199254740993n, issuedCount: 1, usedCount: 0 },
  ]);
}, 60_000);
afterAll(async () => {
  await db?.drop();
});

describe('check()', () => {
  it('resolves to what check --format json prints, ids as strings; never prints', async () => {
    const writes: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stdout.write;
    let report;
    try {
      report = await check({ url: db.url, ids: ['9007199254740993', 3, 4n] });
    } finally {
      process.stdout.write = original;
    }
    expect(writes).toEqual([]);
    const cli = JSON.parse((await runCli(['check', '--url', db.url, '--ids', '9007199254740993,3,4', '--format', 'json'])).stdout);
    expect(report).toEqual(cli);
    expect(report.drifted.map((setting) => setting.id)).toEqual(['3', '4', '9007199254740993']);
  });

  it('ids: [] audits no setting (README): check and repair resolve with nothing scanned, nothing written', async () => {
    const before = await settingsSnapshot(db.conn);
    expect((await check({ url: db.url, ids: [] })).summary).toMatchObject({ scanned: 0, drifted: 0 });
    expect((await repair({ url: db.url, ids: [] })).summary).toMatchObject({ scanned: 0, drifted: 0, repaired: 0 });
    expect(await settingsSnapshot(db.conn)).toEqual(before);
  });

  it("takes none of repair()'s options: one given a value is refused, one left undefined is passed over, and a RepairOptions object does not compile", async () => {
    const shared: RepairOptions = { url: db.url, ids: ['9'], batchSize: 10 };
    // @ts-expect-error -- a RepairOptions object is not check()'s (npm test type-checks the tests)
    const refused = await check(shared).then(() => null, (e: unknown) => e);
    expect(refused).toBeInstanceOf(UsageError);
    expect((refused as UsageError).message).toBe('check(): unknown option batchSize (an option of repair()); nothing was read or written.');
    const report = await check({ url: db.url, ids: ['9'], dryRun: undefined, batchSize: undefined });
    expect(report.summary.scanned).toBe(1);
  });

  it('rejects with typed errors that carry the exit code', async () => {
    const cases: [() => Promise<unknown>, new (...args: never[]) => CouponAuditError, number][] = [
      [() => check({ url: 'postgres://x/y' }), UsageError, 2],
      [() => check({ url: db.url, ids: [2 ** 53 + 1] }), UsageError, 2],
      [() => check({ url: db.url, pageSize: 0 }), UsageError, 2],
      [() => check({ url: db.url, config: { counters: { issuedCount: { table: 'nope', foreignKey: 'settingId' } } } }), ConfigError, 2],
      [() => check({ url: db.url.replace(/\/[^/]*$/, '/no_such_database_here') }), DatabaseError, 3],
    ];
    for (const [call, type, exitCode] of cases) {
      const error = await call().then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(type);
      expect((error as CouponAuditError).exitCode).toBe(exitCode);
    }
  });
});

describe('repair()', () => {
  it('refuses an option it does not take (from plain JavaScript: `dryrun: true` would repair for real), before reading anything', async () => {
    const before = await settingsSnapshot(db.conn);
    const untyped = (options: unknown) => options as never;
    const cases: [() => Promise<unknown>, string][] = [
      [() => repair(untyped({ url: db.url, dryrun: true })), 'repair(): unknown option dryrun (did you mean dryRun?); nothing was read or written.'],
      [() => repair(untyped({ url: db.url, dry_run: true, batchsize: 5 })), 'repair(): unknown options dry_run (did you mean dryRun?), batchsize (did you mean batchSize?)'],
      [() => check(untyped({ url: db.url, dryRun: true })), 'check(): unknown option dryRun (an option of repair())'],
      [() => check(untyped({ url: db.url, nope: 1 })), 'check(): unknown option nope;'],
      [() => repair(untyped('mysql://x')), 'repair() takes an options object'],
      // A value the types refuse is refused, never read loosely: 'true' is no dry run, and would have repaired.
      [() => repair(untyped({ url: db.url, dryRun: 'true' })), "repair(): dryRun expects a boolean (got a string); nothing was read or written."],
      [() => repair(untyped({ url: db.url, dryRun: 1 })), 'repair(): dryRun expects a boolean (got a number)'],
      [() => check(untyped({ url: db.url, ids: '1,2' })), 'check(): ids expects an array (got a string)'],
      [() => check(untyped({ url: db.url, ids: [1, { id: 2 }] })), 'check(): ids[1] expects a string, number or bigint (got an object)'],
      [() => check(untyped({ url: db.url, columns: [1] })), 'check(): columns[0] expects a string'],
      [() => check(untyped({ url: 42 })), 'check(): url expects a string (got a number)'],
      [() => check(untyped({ url: db.url, signal: {} })), 'check(): signal expects an AbortSignal'],
      [() => check(untyped({ url: db.url, pageSize: '5' })), 'check(): pageSize expects a number (got a string)'],
      [() => repair(untyped({ url: db.url, beforeCommit: 'yes' })), 'repair(): beforeCommit expects a function'],
      // No url: the library reads no DATABASE_URL, so the CLI's advice would mislead.
      [() => check(untyped({})), 'check(): url is required (mysql://user:password@host:3306/db)'],
      [() => repair(untyped({ url: db.url, maxChanges: -1 })), 'maxChanges expects a whole number from 0 to 1000000000'],
      [() => repair(untyped({ url: db.url, waitLock: Number.NaN })), 'waitLock expects a number of seconds 0 or more'],
      [() => repair(untyped({ url: db.url, auditTable: 'other.audit' })), "repair(): auditTable: 'other.audit' has a dot"],
      // The lag is read from replicaUrl's server only: without one a lag limit would never apply.
      [() => check({ url: db.url, maxLag: 5 }), 'maxLag limits the lag of the replica that replicaUrl names, and none is named: give replicaUrl'],
      [() => repair({ url: db.url, dryRun: true, maxLag: 0, maxLagWait: 30 }), 'maxLag and maxLagWait limit the lag of the replica that replicaUrl names'],
    ];
    for (const [call, message] of cases) {
      const error = await call().then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).exitCode).toBe(2);
      expect((error as Error).message).toContain(message);
    }
    expect(await settingsSnapshot(db.conn)).toEqual(before);
  });

  it('an aborted signal stops after the transaction in flight and rejects (exit code 130); what committed is whole; a rerun converges', async () => {
    const controller = new AbortController();
    let progressed = 0;
    const run = repair({
      url: db.url,
      batchSize: 1,
      signal: controller.signal,
      onRepairProgress: ({ done }) => {
        progressed = done;
        if (done === 20) controller.abort();
      },
    });
    const error = await run.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as AbortedError).exitCode).toBe(130);
    // It had written: the error names the run, whose audit rows are what committed.
    const runId = (error as AbortedError).runId;
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    expect(progressed).toBeGreaterThanOrEqual(20);
    expect(progressed).toBeLessThan(N);
    // Every committed transaction wrote its setting and its audit row together.
    const [audit] = await db.conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n, COUNT(DISTINCT runId) AS runs FROM coupon_audit_log');
    const repairedSoFar = (N + 1) - (await driftedIds(db.conn)).length;
    expect(Number(audit[0]!['n'])).toBe(repairedSoFar);
    expect(repairedSoFar).toBeGreaterThanOrEqual(20);
    expect(Number(audit[0]!['runs'])).toBe(1);
    const [ofRun] = await db.conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM coupon_audit_log WHERE runId = ?', [runId]);
    expect(Number(ofRun[0]!['n'])).toBe(repairedSoFar);

    const finished = await repair({ url: db.url });
    expect(finished.command).toBe('repair');
    expect('runId' in finished && finished.summary.stillDrifted).toBe(0);
    expect(await driftedIds(db.conn)).toEqual([]);
    expect((await check({ url: db.url })).summary.drifted).toBe(0);
  }, 60_000);

  it('a signal aborted during the last transaction rejects too (it committed; a rerun finds nothing)', async () => {
    await db.query('UPDATE g_coupon_settings SET issuedCount = 98 WHERE id = 8');
    const controller = new AbortController();
    const error = await repair({ url: db.url, ids: ['8'], signal: controller.signal, beforeCommit: () => controller.abort() }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect(await driftedIds(db.conn)).not.toContain('8');
  });

  it('a signal aborted before the run rejects at once and writes nothing', async () => {
    await db.query('UPDATE g_coupon_settings SET issuedCount = 99 WHERE id = 7');
    const error = await repair({ url: db.url, signal: AbortSignal.abort() }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as AbortedError).runId).toBeUndefined(); // nothing written, no run to look up
    expect(await driftedIds(db.conn)).toEqual(['7']);
  });

  it('a signal aborted before the run connects to nothing (a closed port rejects with AbortedError, not DatabaseError); its reason is the cause', async () => {
    const reason = new Error('shutting down');
    for (const run of [() => check({ url: 'mysql://root@127.0.0.1:1/none', signal: AbortSignal.abort(reason) }), () => repair({ url: 'mysql://root@127.0.0.1:1/none', signal: AbortSignal.abort(reason) })]) {
      const error = await run().then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(AbortedError);
      expect((error as AbortedError).cause).toBe(reason);
    }
  });

  it('a signal aborted during the last page rejects: check and the dry run resolve to no report; repair creates no audit table', async () => {
    // One page (ids 9, right, and 7, left drifted by the test before): the scan has no page after it
    // to look at the signal before.
    const abortOnProgress = () => {
      const controller = new AbortController();
      return { signal: controller.signal, onProgress: () => controller.abort() };
    };
    for (const run of [() => check({ url: db.url, ids: ['9'], ...abortOnProgress() }), () => repair({ url: db.url, ids: ['9'], dryRun: true, ...abortOnProgress() })]) {
      expect(await run().then(() => null, (e: unknown) => e)).toBeInstanceOf(AbortedError);
    }
    const audit = `audit_${randomBytes(4).toString('hex')}`;
    const error = await repair({ url: db.url, ids: ['7'], auditTable: audit, ...abortOnProgress() }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    const [tables] = await db.conn.query<RowDataPacket[]>('SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [db.name, audit]);
    expect(tables).toEqual([]);
    expect(await driftedIds(db.conn)).toEqual(['7']);
  });

  it("messages name this API's options, but quoted text is the config's or the server's, as written, and a caller's own error is passed on untouched", async () => {
    const where = "code NOT LIKE '--ids%' AND nosuch = 1";
    const filtered = await check({ url: db.url, config: { counters: { issuedCount: { table: 'g_coupons', foreignKey: 'settingId', where } } } }).then(() => null, (e: unknown) => e);
    expect((filtered as ConfigError).message).toContain(`the filter "${where}" does not work here`);
    const mine = new UsageError('stopped by --my-guard, see --wait-lock');
    await db.query('UPDATE g_coupon_settings SET issuedCount = 96 WHERE id = 6');
    expect(await repair({ url: db.url, ids: ['6'], beforeCommit: () => Promise.reject(mine) }).then(() => null, (e: unknown) => e)).toBe(mine);
    expect(mine.message).toBe('stopped by --my-guard, see --wait-lock');
    expect(await driftedIds(db.conn)).toContain('6');
    await repair({ url: db.url, ids: ['6'] });
  });

  it('the recount API: one setting, dry run first; a second repair while the run lock is held rejects with exit code 5', async () => {
    const plan = await repair({ url: db.url, ids: ['7'], dryRun: true });
    expect(plan.drifted).toEqual([{ id: '7', status: 'ACTIVE', counters: { issuedCount: { cached: 99, actual: 2, expected: 2 }, usedCount: { cached: 0, actual: 0, expected: 0 } } }]);
    const holder = await mysql.createConnection(connectionOptions(db.name));
    try {
      await holder.query('SELECT GET_LOCK(?, 0)', [`coupon-audit:repair:${db.name}`]);
      const error = await repair({ url: db.url, ids: ['7'] }).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(RunLockedError);
      expect((error as RunLockedError).exitCode).toBe(5);
      // What to do, in this API's names: a program has options, not the CLI's flags.
      expect((error as RunLockedError).message).toContain('waitLock');
      expect((error as RunLockedError).message).not.toMatch(/--[a-z]/);
      const critical = await check({ url: db.url, ids: ['7'], criticalLoad: { Threads_running: 0 } }).then(() => null, (e: unknown) => e);
      expect((critical as UsageError).message).toBe('criticalLoad Threads_running=0 is passed at every read: the statement that reads it is running (it would stop at once). Give 1 or more.');
    } finally {
      await holder.end();
    }
    const done = await repair({ url: db.url, ids: ['7'] });
    expect('changes' in done && done.changes).toEqual([{ id: '7', counter: 'issuedCount', old: 99, new: 2 }]);
  });

  it('recounts called in parallel with waitLock take turns: the waiters do not count as running threads, so the holder is not throttled by them', async () => {
    // A trial's endpoint: 30 parallel recounts waiting on the server's GET_LOCK were 30 threads
    // running, the holder paused under --max-load Threads_running=25, and all gave up after waitLock.
    const ids = Array.from({ length: 12 }, (_, i) => String(300 + i));
    await db.query(`UPDATE g_coupon_settings SET issuedCount = 50 WHERE id IN (${ids.join(', ')})`);
    const started = performance.now();
    const results = await Promise.allSettled(ids.map((id) => repair({ url: db.url, ids: [id], waitLock: 20, maxLoad: { Threads_running: 8 }, checkInterval: 0.1 })));
    expect(results.filter((result) => result.status === 'rejected').map((result) => String((result as PromiseRejectedResult).reason))).toEqual([]);
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(await driftedIds(db.conn)).not.toContain('300');
  }, 30_000);
});

describe('a repair transaction left idle (a stopped or stalled process)', () => {
  it('the server ends it within IDLE_TRANSACTION_SECONDS, before an application waiting on its row times out; the error says why', async () => {
    const app = await mysql.createConnection(connectionOptions(db.name));
    try {
      await app.query('SET SESSION innodb_lock_wait_timeout = 50'); // InnoDB's default
      await app.query('UPDATE g_coupon_settings SET issuedCount = 99 WHERE id = 7');
      let waitedMs = 0;
      // The application's increment, sent while repair holds setting 7's row and sits idle in beforeCommit.
      const error = await repair({
        url: db.url,
        ids: ['7'],
        beforeCommit: async () => {
          const started = Date.now();
          await app.query('UPDATE g_coupon_settings SET usedCount = usedCount + 1 WHERE id = 7');
          waitedMs = Date.now() - started;
          await app.query('UPDATE g_coupon_settings SET usedCount = usedCount - 1 WHERE id = 7');
        },
      }).then(() => null, (e: unknown) => e);
      expect(waitedMs).toBeGreaterThanOrEqual((IDLE_TRANSACTION_SECONDS - 1) * 1000);
      expect(waitedMs).toBeLessThan(IDLE_TRANSACTION_SECONDS * 1000 + 5000);
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as DatabaseError).message).toMatch(
        /^The server ended the repair's connection while repairing settings 7…7, most likely because its transaction sat idle 10 s \(idle_transaction_timeout,.*Rerun to finish\.$/,
      );
      // Rolled back: setting 7 still drifts, and a rerun repairs it.
      expect(await driftedIds(db.conn)).toContain('7');
      expect((await repair({ url: db.url, ids: ['7'] })).summary).toMatchObject({ repaired: 1 });
    } finally {
      await app.end();
    }
  }, 30_000);

  it('a connection killed while a statement runs past that long is the plain lost connection, not the idle limit', async () => {
    const app = await mysql.createConnection(connectionOptions(db.name));
    try {
      await app.query('UPDATE g_coupon_settings SET issuedCount = 99 WHERE id = 9');
      // The application holds setting 9: repair skips it, then waits for it alone (FOR UPDATE).
      await app.query('BEGIN');
      await app.query('SELECT id FROM g_coupon_settings WHERE id = 9 FOR UPDATE');
      const run = repair({ url: db.url, ids: ['9'], lockWaitTimeout: 30 }).then(() => null, (e: unknown) => e);
      let waiter: number | null = null;
      for (let tries = 0; waiter === null && tries < 100; tries += 1) {
        const [rows] = await db.conn.query<RowDataPacket[]>(
          "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE '%FOR UPDATE' AND ID <> CONNECTION_ID()",
          [db.name],
        );
        waiter = rows.length > 0 ? Number(rows[0]!['ID']) : null;
        if (waiter === null) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(waiter).not.toBeNull();
      await new Promise((resolve) => setTimeout(resolve, (IDLE_TRANSACTION_SECONDS + 1) * 1000));
      await db.conn.query(`KILL CONNECTION ${waiter}`);
      const error = await run;
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as Error).message).toMatch(/^Lost the connection to /);
      expect((error as Error).message).not.toContain('idle');
    } finally {
      await app.end();
    }
  }, 40_000);

  it('a writer connection dropped while the run waited between transactions (a pause file) is the plain lost connection too', async () => {
    const pause = join(tmpdir(), `coupon-audit-idle-${randomBytes(4).toString('hex')}`);
    await db.query('UPDATE g_coupon_settings SET issuedCount = 99 WHERE id IN (11, 12, 13)');
    let commits = 0;
    try {
      // Paused after its first transaction, by the pause file that transaction's beforeCommit makes.
      const run = repair({
        url: db.url,
        ids: ['11', '12', '13'],
        batchSize: 1,
        writeConcurrency: 1,
        pauseFile: pause,
        checkInterval: 0.1,
        maxLoad: 'none', // no status read between batches: the killed connections are not used before the next batch
        beforeCommit: () => {
          commits += 1;
          if (commits === 1) writeFileSync(pause, '');
        },
      }).then(() => null, (e: unknown) => e);
      for (let tries = 0; commits === 0 && tries < 100; tries += 1) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(commits).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, (IDLE_TRANSACTION_SECONDS + 1) * 1000));
      // Its connections but the run lock's (which would stop it otherwise): the writer among them.
      const [[lock]] = await db.conn.query<RowDataPacket[]>('SELECT IS_USED_LOCK(?) AS id', [`coupon-audit:repair:${db.name}`]);
      const [sessions] = await db.conn.query<RowDataPacket[]>(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID() AND ID <> ? AND COMMAND = 'Sleep'",
        [db.name, Number(lock!['id'])],
      );
      expect(sessions.length).toBeGreaterThan(0);
      for (const row of sessions) await db.conn.query(`KILL CONNECTION ${Number(row['ID'])}`);
      rmSync(pause, { force: true });
      const error = await run;
      expect(commits).toBe(1);
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as Error).message).toMatch(/^Lost the connection to /);
      expect((error as Error).message).not.toContain('idle');
    } finally {
      rmSync(pause, { force: true });
    }
  }, 40_000);
});

describe('statements are marked', () => {
  it('every statement check, repair and doctor send starts with /* coupon-audit */ (general log)', async () => {
    const user = `ca_tag_${randomBytes(3).toString('hex')}`;
    await db.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'tag-pw'`);
    await db.query(`GRANT ALL ON \`${db.name}\`.* TO '${user}'@'%'`);
    const [before] = await db.conn.query<RowDataPacket[]>('SELECT @@general_log AS on_, @@log_output AS output');
    await db.query("SET GLOBAL log_output = 'TABLE', general_log = ON");
    try {
      await db.query('UPDATE g_coupon_settings SET usedCount = 3 WHERE id = 9');
      const target = new URL(db.url);
      target.username = user;
      target.password = 'tag-pw';
      for (const args of [['check'], ['repair', '--yes'], ['repair', '--dry-run'], ['doctor']]) {
        const result = await runCli([...args, '--url', target.toString()]);
        expect(result.code, `${args.join(' ')} ${result.stderr}`).toBeLessThan(2);
      }
      const [rows] = await db.conn.query<RowDataPacket[]>(
        "SELECT CONVERT(argument USING utf8mb4) AS sql_ FROM mysql.general_log WHERE command_type = 'Query' AND user_host LIKE ?",
        [`${user}[%`],
      );
      expect(rows.length).toBeGreaterThan(20);
      const untagged = rows.map((row) => String(row['sql_'])).filter((sql) => !sql.startsWith('/* coupon-audit */'));
      expect(untagged).toEqual([]);
      // No trigger on the settings table (MariaDB lists them to this account): the batch's UPDATE,
      // which changed every row it was given, is followed by its audit rows, not by a read-back.
      const [writer] = await db.conn.query<RowDataPacket[]>(
        "SELECT thread_id AS thread, CONVERT(argument USING utf8mb4) AS sql_ FROM mysql.general_log WHERE command_type = 'Query' AND user_host LIKE ? ORDER BY event_time",
        [`${user}[%`],
      );
      // The batch's write (a CASE per counter), not the privilege probe's UPDATE … WHERE 1 = 0.
      const update = writer.findIndex((row) => String(row['sql_']).startsWith('/* coupon-audit */ UPDATE `g_coupon_settings`') && String(row['sql_']).includes(' CASE '));
      expect(update).toBeGreaterThan(-1);
      const after = writer.slice(update + 1).filter((row) => row['thread'] === writer[update]!['thread']).map((row) => String(row['sql_']));
      const audit = after.findIndex((sql) => sql.startsWith('/* coupon-audit */ INSERT INTO `coupon_audit_log`'));
      expect(audit).toBeGreaterThan(-1);
      expect(after.slice(0, audit).filter((sql) => sql.includes('FROM `g_coupon_settings`'))).toEqual([]);
    } finally {
      await db.query(`SET GLOBAL general_log = ${Number(before[0]!['on_']) === 1 ? 'ON' : 'OFF'}, log_output = ?`, [String(before[0]!['output'])]);
      await db.query(`DROP USER '${user}'@'%'`);
    }
  });
});
