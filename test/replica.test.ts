import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { check, type CouponAuditError, DatabaseError, type ThrottleState } from '../src/index.js';
import { ReplicationPair } from '../src/server/replication-pair.js';
import { ThrowawayServer } from '../src/server/throwaway-server.js';
import { parseJson, runCli, startCli } from './helpers/cli.js';
import { loadSqlFile } from './helpers/database.js';
import { driftedIds } from './helpers/snapshot.js';

/**
 * --replica-url on a real primary and replica (two throwaway mariadbd with binlog replication,
 * GTIDs): the scan reads the replica, a drift the replica has not applied yet is never missed,
 * what only the replica shows is not reported, repair writes on the primary alone, and lag or
 * stopped replication pauses or stops the run. Lag is made by stopping the replica's SQL thread,
 * or by a row lock on the replica that its SQL thread waits for.
 */

const SETTINGS = 30_000;
/** Every 1000th setting's issuedCount is one too high. */
const DRIFTED = Array.from({ length: SETTINGS / 1000 }, (_, i) => String((i + 1) * 1000));

let pair: ReplicationPair;
let primary: Connection;
let replica: Connection;
let primaryUrl: string;
let replicaUrl: string;
let dir: string;

beforeAll(async () => {
  pair = await ReplicationPair.start();
  dir = mkdtempSync(join(tmpdir(), 'coupon-audit-replica-'));
  const admin = await mysql.createConnection(pair.primary.connectionOptions());
  await admin.query('CREATE DATABASE shop');
  await admin.end();
  const options = { supportBigNumbers: true, bigNumberStrings: true };
  primary = await mysql.createConnection({ ...pair.primary.connectionOptions('shop'), ...options });
  await loadSqlFile(primary, 'sql/schema.sql');
  await primary.query('SET SESSION max_recursive_iterations = 1000000').catch(() => undefined);
  await primary.query('SET SESSION cte_max_recursion_depth = 1000000').catch(() => undefined);
  await primary.query(
    `INSERT INTO g_coupon_settings (id, status, issuedCount, usedCount)
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${SETTINGS})
     SELECT i, 'ACTIVE', IF(i % 1000 = 0, 3, 2), IF(i % 3 = 0, 1, 0) FROM n`,
  );
  await primary.query(`INSERT INTO g_coupons (settingId, code) SELECT id, CONCAT('a', id) FROM g_coupon_settings`);
  await primary.query(`INSERT INTO g_coupons (settingId, code) SELECT id, CONCAT('b', id) FROM g_coupon_settings`);
  await primary.query('INSERT INTO g_coupon_uses (settingId) SELECT id FROM g_coupon_settings WHERE id % 3 = 0');
  await pair.waitCaughtUp();
  replica = await mysql.createConnection({ ...pair.replica.connectionOptions('shop'), ...options });
  primaryUrl = pair.primary.url('shop');
  replicaUrl = pair.replica.url('shop');
}, 180_000);

afterAll(async () => {
  await primary?.end().catch(() => undefined);
  await replica?.end().catch(() => undefined);
  await pair?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** Rows the server has read so far (MariaDB has no Innodb_rows_read): the sum of the Handler_read_* counters. */
async function rowsRead(conn: Connection): Promise<number> {
  const [rows] = await conn.query<RowDataPacket[]>(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Handler_read_key', 'Handler_read_next', 'Handler_read_prev', 'Handler_read_rnd_next')",
  );
  return rows.reduce((sum, row) => sum + Number(row['Value']), 0);
}

async function value(conn: Connection, sql: string): Promise<string | null> {
  const [rows] = await conn.query<RowDataPacket[]>(sql);
  const v: unknown = rows[0]?.['v'];
  return v == null ? null : String(v);
}

async function sqlThreadState(): Promise<{ running: string; lag: number | null }> {
  const [rows] = await replica.query<RowDataPacket[]>('SHOW SLAVE STATUS');
  const row = rows[0]!;
  return { running: String(row['Slave_SQL_Running']), lag: row['Seconds_Behind_Master'] == null ? null : Number(row['Seconds_Behind_Master']) };
}

const until = async (condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

/**
 * Makes the replica lag with its SQL thread running: a replica session locks setting `id`, then
 * the primary commits a change to it, which the SQL thread waits to apply. release() lets it.
 */
async function blockReplicaOn(id: number, change: string): Promise<{ release: () => Promise<void> }> {
  const locker = await mysql.createConnection(pair.replica.connectionOptions('shop'));
  await locker.query('BEGIN');
  await locker.query('SELECT id FROM g_coupon_settings WHERE id = ? FOR UPDATE', [id]);
  await primary.query(change, [id]);
  // The SQL thread waits on the lock: the replica falls behind.
  await until(async () => ((await sqlThreadState()).lag ?? 0) >= 1);
  return {
    release: async () => {
      await locker.query('ROLLBACK');
      await locker.end();
      await pair.waitCaughtUp();
    },
  };
}

describe('check --replica-url', () => {
  beforeEach(async () => {
    await pair.waitCaughtUp();
  });

  it('scans the replica: the same report as on the primary, while the primary reads a small fraction of the rows', async () => {
    const onPrimary = await runCli(['check', '--url', primaryUrl, '--format', 'json']);
    expect(onPrimary.code).toBe(1);

    const before = { primary: await rowsRead(primary), replica: await rowsRead(replica) };
    const result = await runCli(['check', '--url', primaryUrl, '--replica-url', replicaUrl, '--format', 'json']);
    const read = { primary: (await rowsRead(primary)) - before.primary, replica: (await rowsRead(replica)) - before.replica };

    expect(result.code).toBe(1);
    expect(result.stdout).toBe(onPrimary.stdout);
    expect(parseJson(result).drifted.map((setting) => setting.id)).toEqual(DRIFTED);
    // The replica read every setting and every child row; the primary, under 5% of that.
    expect(read.replica).toBeGreaterThan(SETTINGS * 3);
    expect(read.primary).toBeLessThan(read.replica * 0.05);
  });

  it('a drift committed on the primary that the lagging replica has not applied yet is still found (the run waits for it)', async () => {
    const blocked = await blockReplicaOn(4242, 'UPDATE g_coupon_settings SET issuedCount = issuedCount + 7 WHERE id = ?');
    try {
      // The replica still shows the old, right value.
      expect(await value(replica, 'SELECT issuedCount AS v FROM g_coupon_settings WHERE id = 4242')).toBe('2');
      const started = Date.now();
      const run = startCli(['check', '--url', primaryUrl, '--replica-url', replicaUrl, '--format', 'json', '--verbose']);
      // It waits on the replica for the primary's position, and keeps waiting while the replica lags.
      await until(async () => {
        const [rows] = await replica.query<RowDataPacket[]>("SELECT 1 FROM information_schema.PROCESSLIST WHERE INFO LIKE '%coupon-audit%MASTER_GTID_WAIT%'");
        return rows.length > 0;
      });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(run.exited()).toBe(false);
      await blocked.release();
      const result = await run.done;
      expect(result.code).toBe(1);
      expect(parseJson(result).drifted.map((setting) => setting.id)).toEqual([...DRIFTED.slice(0, 4), '4242', ...DRIFTED.slice(4)]);
      expect(result.stderr).toMatch(/waiting for replica 127\.0\.0\.1:\d+ to apply the primary's writes/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500); // it waited through the 1.5 s above
    } finally {
      await primary.query('UPDATE g_coupon_settings SET issuedCount = 2 WHERE id = 4242');
    }
  });

  it('a replica that stays behind longer than --max-lag-wait: exit 3 naming the replica, no report', async () => {
    const blocked = await blockReplicaOn(4343, 'UPDATE g_coupon_settings SET issuedCount = issuedCount + 7 WHERE id = ?');
    try {
      const result = await runCli(['check', '--url', primaryUrl, '--replica-url', replicaUrl, '--format', 'json', '--max-lag-wait', '2']);
      expect(result.code).toBe(3);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        /^coupon-audit: The replica 127\.0\.0\.1:\d+ had not applied the primary's writes up to [\d-]+ after 2 s \(--max-lag-wait; \d+ s behind\)/m,
      );
    } finally {
      await blocked.release();
      await primary.query('UPDATE g_coupon_settings SET issuedCount = 2 WHERE id = 4343');
    }
  });

  it("the replica's SQL thread stopped with a drift it has not applied: exit 3 naming the replica and its state, never a clean report", async () => {
    await pair.stopReplicaSqlThread();
    try {
      await primary.query('UPDATE g_coupon_settings SET usedCount = 9 WHERE id = 17');
      const result = await runCli(['check', '--url', primaryUrl, '--replica-url', replicaUrl, '--format', 'json']);
      expect(result.code).toBe(3);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        /^coupon-audit: The replica 127\.0\.0\.1:\d+ has its replication SQL thread stopped \(Slave_IO_Running=Yes, Slave_SQL_Running=No\), so it may not have the primary's latest writes; nothing was checked/m,
      );
    } finally {
      await pair.startReplicaSqlThread();
    }
    await pair.waitCaughtUp();
    const after = await runCli(['check', '--url', primaryUrl, '--replica-url', replicaUrl, '--format', 'json', '--ids', '17']);
    expect(parseJson(after).drifted.map((setting) => setting.id)).toEqual(['17']);
    await primary.query('UPDATE g_coupon_settings SET usedCount = 0 WHERE id = 17');
  });

  it('what only the replica shows drifted (its data differs) is confirmed on the primary and not reported', async () => {
    await replica.query('SET SESSION sql_log_bin = 0');
    await replica.query('UPDATE g_coupon_settings SET issuedCount = 99 WHERE id IN (5, 6)');
    try {
      const result = await runCli(['check', '--url', primaryUrl, '--replica-url', replicaUrl, '--format', 'json', '--verbose']);
      expect(result.code).toBe(1);
      expect(parseJson(result).drifted.map((setting) => setting.id)).toEqual(DRIFTED);
      expect(result.stderr).toMatch(/2 settings drifted on the replica 127\.0\.0\.1:\d+ were right on the primary \(not reported\): 5, 6/);
    } finally {
      await replica.query('UPDATE g_coupon_settings SET issuedCount = 2 WHERE id IN (5, 6)');
    }
  });

  it('lag above --max-lag during the scan pauses it ("throttled"); it goes on once the replica catches up', async () => {
    const file = join(dir, 'barrier-lag');
    const states: { state: ThrottleState | null; pages: number }[] = [];
    let pages = 0;
    const run = check({
      url: primaryUrl,
      replicaUrl,
      pageSize: 1000,
      concurrency: 1,
      pauseFile: file,
      checkInterval: 0.1,
      maxLag: 1,
      onProgress: () => {
        pages += 1;
        if (pages === 3) writeFileSync(file, '');
      },
      onThrottle: (state) => states.push({ state, pages }),
    });
    await until(() => states.at(-1)?.state?.reason === 'paused');
    const blocked = await blockReplicaOn(20_001, 'UPDATE g_coupon_settings SET usedCount = usedCount + 5 WHERE id = ?');
    try {
      await until(async () => ((await sqlThreadState()).lag ?? 0) > 1);
      rmSync(file);
      await until(() => states.at(-1)?.state?.reason === 'lag');
      expect(states.at(-1)!.state!.message).toMatch(/^throttled: replica 127\.0\.0\.1:\d+ is \d+ s behind \(--max-lag 1\)$/);
      await new Promise((resolve) => setTimeout(resolve, 500));
      // Page 4 may have started before the file appeared (it starts while Node reads page 3's rows).
      expect([3, 4]).toContain(pages);
    } finally {
      await blocked.release();
    }
    const report = await run;
    expect(states.at(-1)!.state).toBeNull();
    expect(report.summary.scanned).toBe(SETTINGS);
    // Settings past the pause were read after the replica applied the change.
    expect(report.drifted.map((setting) => setting.id)).toContain('20001');
    await primary.query('UPDATE g_coupon_settings SET usedCount = usedCount - 5 WHERE id = 20001');
  });

  it('replication stopped during the scan: the run stops with exit code 3', async () => {
    const file = join(dir, 'barrier-stop');
    let pages = 0;
    let paused = false;
    const run = check({
      url: primaryUrl,
      replicaUrl,
      pageSize: 1000,
      concurrency: 1,
      pauseFile: file,
      checkInterval: 0.1,
      onProgress: () => {
        pages += 1;
        if (pages === 2) writeFileSync(file, '');
      },
      onThrottle: (state) => (paused = state?.reason === 'paused'),
    }).then(() => null, (error: unknown) => error);
    await until(() => paused);
    await pair.stopReplicaSqlThread();
    try {
      rmSync(file);
      const error = await run;
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as CouponAuditError).exitCode).toBe(3);
      expect((error as Error).message).toMatch(/^The replica 127\.0\.0\.1:\d+ has its replication SQL thread stopped/);
      expect([2, 3]).toContain(pages); // page 3 may have started before the file appeared
    } finally {
      await pair.startReplicaSqlThread();
    }
  });

  it('a missing SLAVE MONITOR privilege on the replica: exit 3 with the GRANT', async () => {
    // An account of one host: the GRANT names the account the replica matched, not 'checker'@'%'
    // (which does not exist: pasted, it would fail with 1133).
    await primary.query("CREATE USER 'checker'@'127.0.0.1' IDENTIFIED BY 'pw'");
    await primary.query("GRANT SELECT ON shop.* TO 'checker'@'127.0.0.1'");
    await pair.waitCaughtUp();
    const url = (server: string) => server.replace('mysql://root@', 'mysql://checker:pw@');
    const result = await runCli(['check', '--url', url(primaryUrl), '--replica-url', url(replicaUrl)]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/GRANT SLAVE MONITOR ON \*\.\* TO 'checker'@'127\.0\.0\.1';/);
    expect(result.stderr).not.toContain('pw');
    await primary.query("DROP USER 'checker'@'127.0.0.1'");
  });

  it('a replica of another server (MASTER_GTID_WAIT compares sequence numbers only) is refused, never scanned as clean: exit 3; doctor FAILs it', async () => {
    // A second primary with fewer transactions than the replica has applied: its position is "reached".
    const other = await ThrowawayServer.start({ args: ['--server-id=7', '--log-bin=bin', '--binlog-format=ROW'] });
    try {
      const admin = await mysql.createConnection(other.connectionOptions());
      await admin.query('CREATE DATABASE shop');
      await admin.end();
      const conn = await mysql.createConnection(other.connectionOptions('shop'));
      await loadSqlFile(conn, 'sql/schema.sql');
      await conn.query("INSERT INTO g_coupon_settings (id, status, issuedCount, usedCount) VALUES (1, 'ACTIVE', 5, 0)"); // drifted
      await conn.end();
      const result = await runCli(['check', '--url', other.url('shop'), '--replica-url', replicaUrl]);
      expect(result.code, result.stderr).toBe(3);
      // Its replica has applied more than this primary ever logged (else: its last one was written on server 1, not 7).
      expect(result.stderr).toMatch(/given as --replica-url does not replicate --url 127\.0\.0\.1:\d+: its last transaction of GTID domain 0 \(0-1-\d+\) is past the primary's \(0-7-\d+\): it replicates another server, or more than one source writes GTID domain 0, where waiting for the primary's position proves nothing; nothing was checked\./);
      expect(result.stdout).toBe('');
      const doctor = await runCli(['doctor', '--url', other.url('shop'), '--replica-url', replicaUrl, '--format', 'json']);
      expect(doctor.code).toBe(3);
      const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks;
      expect(checks.find((check) => check.name === 'replication')).toMatchObject({ status: 'fail', detail: expect.stringContaining('does not replicate --url') });

      // The other primary with more transactions than the replica has applied: no position to
      // compare, and the replica, 0 s behind its own source, never reaches this one's.
      const more = await mysql.createConnection(other.connectionOptions('shop'));
      const sequence = (position: unknown): number => Number(String(position).split('-').at(-1));
      const [[replicaAt]] = await replica.query<RowDataPacket[]>('SELECT @@gtid_slave_pos AS p');
      const [[otherAt]] = await more.query<RowDataPacket[]>('SELECT @@gtid_binlog_pos AS p');
      for (let n = sequence(otherAt!['p']); n <= sequence(replicaAt!['p']) + 1; n++) await more.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 1 WHERE id = 1');
      await more.end();
      await pair.waitCaughtUp();
      const behind = await runCli(['check', '--url', other.url('shop'), '--replica-url', replicaUrl, '--max-lag-wait', '2']);
      expect(behind.code, behind.stderr).toBe(3);
      expect(behind.stderr).toMatch(/after 2 s \(--max-lag-wait; 0 s behind\); nothing was checked\. It reports 0 s behind its own source with 0-1-\d+ applied: its source may not be 127\.0\.0\.1:\d+ \(then give a replica of it/);
      const doctorBehind = await runCli(['doctor', '--url', other.url('shop'), '--replica-url', replicaUrl, '--format', 'json']);
      expect(doctorBehind.code).toBe(0); // a warning: a replica whose I/O thread is behind reads so too
      const replication = (JSON.parse(doctorBehind.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks.find((check) => check.name === 'replication');
      expect(replication).toMatchObject({ status: 'warn', detail: expect.stringContaining('it may replicate another server, or its I/O thread is behind') });
    } finally {
      await other.stop();
    }
  });

  it('--replica-url naming another database than --url (a typo that would scan something else): exit 2', async () => {
    const result = await runCli(['check', '--url', primaryUrl, '--replica-url', pair.replica.url('mysql')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--replica-url names the database 'mysql', --url 'shop'");
    // Case alone is no typo: where the servers fold names it is the same database (here it is not, and the scan says so).
    expect((await runCli(['check', '--url', primaryUrl, '--replica-url', pair.replica.url('SHOP')])).stderr).not.toContain('--replica-url names the database');
  });

  it('--replica-url naming the primary itself: exit 3', async () => {
    const result = await runCli(['check', '--url', primaryUrl, '--replica-url', primaryUrl]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/--replica-url names the --url server itself/);
  });
});

describe('doctor --replica-url', () => {
  type Check = { name: string; status: string; detail: string; fix?: string };
  const doctor = async (args: string[]) => {
    const result = await runCli(['doctor', '--format', 'json', ...args]);
    const checks = (JSON.parse(result.stdout) as { checks: Check[] }).checks;
    return { code: result.code, stderr: result.stderr, checks, byName: (name: string) => checks.find((check) => check.name === name) };
  };

  it('a healthy replica: the replica, its schema and replication ok, with its lag; exit 0', async () => {
    await pair.waitCaughtUp();
    const result = await doctor(['--url', primaryUrl, '--replica-url', replicaUrl]);
    expect(result.code).toBe(0);
    expect(result.checks.slice(-3).map((check) => [check.name, check.status])).toEqual([
      ['replica', 'ok'],
      ['replica schema', 'ok'],
      ['replication', 'ok'],
    ]);
    expect(result.byName('replica')!.detail).toMatch(/^127\.0\.0\.1:\d+: MariaDB \d+\.\d+/);
    expect(result.byName('replication')!.detail).toMatch(/^both threads running, \d+ s behind its primary$/);
  });

  it("the replica's SQL thread stopped: replication FAIL with its state and the fix; exit 3", async () => {
    await pair.stopReplicaSqlThread();
    try {
      const result = await doctor(['--url', primaryUrl, '--replica-url', replicaUrl]);
      expect(result.code).toBe(3);
      expect(result.byName('replication')).toMatchObject({ status: 'fail', fix: expect.stringMatching(/START REPLICA/) });
      expect(result.byName('replication')!.detail).toMatch(/has its replication SQL thread stopped \(Slave_IO_Running=Yes, Slave_SQL_Running=No\)/);
    } finally {
      await pair.startReplicaSqlThread();
    }
  });

  it('a replica more than --max-lag behind: replication WARN naming --max-lag and --max-lag-wait; exit 0', async () => {
    const blocked = await blockReplicaOn(20_002, 'UPDATE g_coupon_settings SET usedCount = usedCount + 1 WHERE id = ?');
    try {
      await until(async () => ((await sqlThreadState()).lag ?? 0) > 1);
      const result = await doctor(['--url', primaryUrl, '--replica-url', replicaUrl]);
      expect(result.code).toBe(0); // a warning: check still runs (it waits)
      expect(result.byName('replication')).toMatchObject({ status: 'warn' });
      expect(result.byName('replication')!.detail).toMatch(/^both threads running, \d+ s behind its primary: check --replica-url waits while it is more than --max-lag \(default 1 s\)/);
    } finally {
      await blocked.release();
      await primary.query('UPDATE g_coupon_settings SET usedCount = usedCount - 1 WHERE id = 20002');
      await pair.waitCaughtUp();
    }
  });

  it('a table the replica lacks: replica schema FAIL naming it; exit 3', async () => {
    // Made on the primary alone (not logged): the replica never sees it.
    await primary.query('SET SESSION sql_log_bin = 0');
    await primary.query('CREATE TABLE g_coupon_extra (id INT PRIMARY KEY, settingId BIGINT UNSIGNED, KEY (settingId))');
    const config = join(dir, 'extra.json');
    writeFileSync(config, JSON.stringify({ counters: { usedCount: { table: 'g_coupon_extra', foreignKey: 'settingId' } } }));
    try {
      const result = await doctor(['--url', primaryUrl, '--replica-url', replicaUrl, '--config', config]);
      expect(result.code).toBe(3);
      expect(result.byName('schema')!.status).toBe('ok'); // on --url
      expect(result.byName('replica schema')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/g_coupon_extra/) });
      expect(result.byName('replication')).toBeUndefined();
    } finally {
      await primary.query('DROP TABLE g_coupon_extra');
      await primary.query('SET SESSION sql_log_bin = 1');
    }
  });

  it('no SLAVE MONITOR on the replica: replication FAIL with the GRANT; --replica-url naming --url: FAIL; the password never shown', async () => {
    await primary.query("CREATE USER 'doctor'@'%' IDENTIFIED BY 'pw-doctor'");
    await primary.query("GRANT SELECT ON shop.* TO 'doctor'@'%'");
    await pair.waitCaughtUp();
    try {
      const url = (server: string) => server.replace('mysql://root@', 'mysql://doctor:pw-doctor@');
      const denied = await doctor(['--url', url(primaryUrl), '--replica-url', url(replicaUrl)]);
      expect(denied.code).toBe(3);
      expect(denied.byName('replication')).toMatchObject({ status: 'fail', fix: "GRANT SLAVE MONITOR ON *.* TO 'doctor'@'%';" });
      expect(JSON.stringify(denied.checks) + denied.stderr).not.toContain('pw-doctor');
    } finally {
      await primary.query("DROP USER 'doctor'@'%'");
    }
    const itself = await doctor(['--url', primaryUrl, '--replica-url', primaryUrl]);
    expect(itself.code).toBe(3);
    expect(itself.byName('replication')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/--replica-url names the --url server itself/) });
  });
});

describe('repair --replica-url', () => {
  it('dry run: the plan of the primary; then repair writes on the primary only: the primary exact, the replica exact once it catches up', async () => {
    await pair.waitCaughtUp();
    const position = await value(replica, 'SELECT @@GLOBAL.gtid_binlog_pos AS v');
    const dry = await runCli(['repair', '--dry-run', '--url', primaryUrl, '--replica-url', replicaUrl, '--format', 'json']);
    expect(dry.code).toBe(1);
    expect(parseJson(dry).drifted.map((setting) => setting.id)).toEqual(DRIFTED);

    const result = await runCli(['repair', '--yes', '--url', primaryUrl, '--replica-url', replicaUrl, '--format', 'json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).summary).toMatchObject({ drifted: DRIFTED.length, repaired: DRIFTED.length, stillDrifted: 0 });
    expect(await driftedIds(primary)).toEqual([]);
    await pair.waitCaughtUp();
    expect(await driftedIds(replica)).toEqual([]);
    // Nothing was written on the replica itself: its own binary log did not move.
    expect(await value(replica, 'SELECT @@GLOBAL.gtid_binlog_pos AS v')).toBe(position);
    expect(await value(replica, 'SELECT COUNT(*) AS v FROM coupon_audit_log')).toBe(String(DRIFTED.length));
  });
});
