import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThrowawayServer } from '../src/server/throwaway-server.js';
import { runCli, startCli } from './helpers/cli.js';
import { loadSqlFile, OLD_AUDIT_TABLE, seed } from './helpers/database.js';
import { settingsSnapshot } from './helpers/snapshot.js';

/**
 * Faults that need a server of their own: a restart in the middle of a check, a statement-based
 * binary log, TLS. Each server is a throwaway mariadbd/mysqld in a temporary directory.
 */

const SETTINGS = 40_000;

async function createSchema(server: ThrowawayServer, database: string): Promise<Connection> {
  const admin = await mysql.createConnection(server.connectionOptions());
  await admin.query(`CREATE DATABASE ${mysql.escapeId(database)}`);
  await admin.end();
  const conn = await mysql.createConnection({ ...server.connectionOptions(database), supportBigNumbers: true, bigNumberStrings: true });
  await loadSqlFile(conn, 'sql/schema.sql');
  return conn;
}

describe('the server restarts while check runs', () => {
  let server: ThrowawayServer;
  let conn: Connection;

  beforeAll(async () => {
    server = await ThrowawayServer.start();
    conn = await createSchema(server, 'restart');
    // Many small pages (--page-size 20 below) keep the check busy for a while.
    // Both default to 1000: MySQL's cte_max_recursion_depth, MariaDB's max_recursive_iterations.
    await conn.query('SET SESSION cte_max_recursion_depth = 1000000').catch(() => undefined);
    await conn.query('SET SESSION max_recursive_iterations = 1000000').catch(() => undefined);
    await conn.query(
      `INSERT INTO g_coupon_settings (id, status, issuedCount, usedCount)
       WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
       SELECT i, 'ACTIVE', IF(i % 100 = 0, 5, 1), 0 FROM n`,
      [SETTINGS],
    );
    await conn.query(`INSERT INTO g_coupons (settingId, code) SELECT id, CONCAT('c', id) FROM g_coupon_settings`);
  }, 120_000);
  afterAll(async () => {
    await conn?.end().catch(() => undefined);
    await server?.stop();
  });

  it('exits 3 with a clear sentence, and nothing is written', async () => {
    const before = await settingsSnapshot(conn);
    // Small pages keep the check busy for seconds; restart once it is reading (its session is seen).
    const run = startCli(['check', '--url', server.url('restart'), '--page-size', '20', '--concurrency', '1']);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const [sessions] = await conn.query<RowDataPacket[]>(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = 'restart' AND ID <> CONNECTION_ID()",
      );
      if (sessions.length > 0 || run.exited() || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    await conn.end();
    expect(run.exited()).toBe(false);
    await server.restart({ signal: 'SIGKILL' });
    const result = await run.done;
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^coupon-audit: (Lost the connection to|Cannot connect to) 127\.0\.0\.1:\d+/m);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
    conn = await mysql.createConnection(server.connectionOptions('restart'));
    expect(await settingsSnapshot(conn)).toEqual(before);
    const rerun = await runCli(['check', '--url', server.url('restart'), '--format', 'json']);
    expect(rerun.code).toBe(1);
    expect(JSON.parse(rerun.stdout).summary.drifted).toBe(SETTINGS / 100);
  });
});

describe('a busy server: few connections left under its max_connections', () => {
  let server: ThrowawayServer;
  let conn: Connection;
  const idle: Connection[] = [];

  beforeAll(async () => {
    server = await ThrowawayServer.start({ args: ['--max-connections=10'] }); // MariaDB's least
    conn = await createSchema(server, 'busy');
    // Not root: an account with SUPER may open one connection past the limit.
    for (const host of ['%', 'localhost']) {
      await conn.query(`CREATE USER 'ops'@'${host}' IDENTIFIED BY 'pw'`);
      await conn.query(`GRANT ALL ON busy.* TO 'ops'@'${host}'`);
    }
    await conn.query(
      `INSERT INTO g_coupon_settings (id, status, issuedCount, usedCount)
       WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600)
       SELECT i, 'ACTIVE', IF(i % 10 = 0, 5, 1), 0 FROM n`,
    );
    await conn.query(`INSERT INTO g_coupons (settingId, code) SELECT id, CONCAT('c', id) FROM g_coupon_settings`);
  }, 120_000);
  afterAll(async () => {
    await Promise.all(idle.map((other) => other.end().catch(() => undefined)));
    await conn?.end().catch(() => undefined);
    await server?.stop();
  });

  /** Other clients take connections until `left` remain for the tool. */
  async function leave(left: number): Promise<void> {
    const [[row]] = await conn.query<RowDataPacket[]>("SELECT VARIABLE_VALUE AS n FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'THREADS_CONNECTED'");
    for (let n = Number(row!['n']); n < 10 - left; n += 1) idle.push(await mysql.createConnection(server.connectionOptions('busy')));
  }

  it('check reads fewer pages at once where the server refuses more connections, and finds the same; repair too', async () => {
    const url = `mysql://ops:pw@127.0.0.1:${server.port}/busy`;
    const args = ['--url', url, '--format', 'json', '--concurrency', '4', '--page-size', '20'];
    const free = await runCli(['check', ...args]);
    expect(free.code).toBe(1);
    const drifted = (JSON.parse(free.stdout) as { drifted: { id: string }[] }).drifted.map((setting) => setting.id);
    expect(drifted).toHaveLength(60); // more than one batch: a second writer would start

    // One connection: every page, boundary read and throttle read takes turns on it.
    await leave(1);
    const one = await runCli(['check', ...args]);
    expect(one.stderr).toBe('');
    expect(one.code).toBe(1);
    expect(one.stdout).toBe(free.stdout);

    // A repair holds two for the run (its lock, a writer) and reads between batches: one is refused
    // clearly, with nothing written; three will do.
    const refused = await runCli(['repair', '--yes', ...args]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/^coupon-audit: 127\.0\.0\.1:\d+ refused another connection \(while [^)]+\): Too many connections\. It is at its connection limit/);
    expect((await runCli(['check', ...args])).stdout).toBe(free.stdout);
    await idle.pop()!.end();
    await idle.pop()!.end();
    const before = await settingsSnapshot(conn);
    const repair = await runCli(['repair', '--yes', ...args]);
    expect(repair.stderr).toBe('');
    expect(repair.code).toBe(0);
    const after = await settingsSnapshot(conn);
    expect([...after].filter(([id, row]) => row['issuedCount'] !== before.get(id)!['issuedCount']).map(([id]) => id)).toEqual(drifted);
    expect((await runCli(['check', ...args])).code).toBe(0);
  });
});

describe('a server whose sql_mode has NO_BACKSLASH_ESCAPES', () => {
  let server: ThrowawayServer;
  let conn: Connection;
  let dir: string;

  beforeAll(async () => {
    server = await ThrowawayServer.start({ args: ['--sql-mode=STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES'] });
    conn = await createSchema(server, 'nbe');
    await seed(conn, [
      { id: 1, issuedCount: 1, usedCount: 0, coupons: 1 },
      { id: 2, issuedCount: 5, usedCount: 0, coupons: 2 },
    ]);
    dir = mkdtempSync(join(tmpdir(), 'coupon-audit-nbe-'));
  }, 120_000);
  afterAll(async () => {
    await conn?.end().catch(() => undefined);
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("reads a filter's quotes as the check of its one expression does (a backslash escapes): one that would leave its parentheses does not compile (exit 2)", async () => {
    const config = (where: string): string => {
      const file = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(file, JSON.stringify({ counters: { issuedCount: { table: 'g_coupons', foreignKey: 'settingId', where } } }));
      return file;
    };
    // A trial's: read with the server's mode, the string ends at the backslash and "OR (1=1" leaves
    // the parentheses put around the filter (every code counted for every setting).
    const escaping = await runCli(['check', '--url', server.url('nbe'), '--config', config("status <> '\\' ) OR (1=1 /*'*/")]);
    expect(escaping.code, escaping.stderr).toBe(2);
    expect(escaping.stderr).toContain('issuedCount');
    // A filter with a backslash in a string means what it says, and the run is exact.
    const plain = await runCli(['check', '--url', server.url('nbe'), '--config', config("code NOT LIKE 'x\\_%'"), '--format', 'json']);
    expect(plain.code, plain.stderr).toBe(1);
    expect((JSON.parse(plain.stdout) as { drifted: { id: string }[] }).drifted.map((setting) => setting.id)).toEqual(['2']);
    const repaired = await runCli(['repair', '--yes', '--url', server.url('nbe')]);
    expect(repaired.code, repaired.stderr).toBe(0);
  });
});

describe('binlog_format=STATEMENT', () => {
  let server: ThrowawayServer;
  let conn: Connection;

  beforeAll(async () => {
    server = await ThrowawayServer.start({ args: ['--log-bin=binlog', '--binlog-format=STATEMENT', '--server-id=1'] });
    conn = await createSchema(server, 'stmt');
    await seed(conn, [
      { id: 1, issuedCount: 3, usedCount: 0, coupons: 1 },
      { id: 2, issuedCount: 0, usedCount: 0 },
    ]);
  }, 120_000);
  afterAll(async () => {
    await conn?.end().catch(() => undefined);
    await server?.stop();
  });

  it('repair refuses up front with exit 3 naming binlog_format; check works; nothing written', async () => {
    const before = await settingsSnapshot(conn);
    const repair = await runCli(['repair', '--url', server.url('stmt'), '--yes']);
    expect(repair.code).toBe(3);
    expect(repair.stderr).toContain('binlog_format=STATEMENT');
    expect(repair.stderr.trim().split('\n')).toHaveLength(1);
    expect(await settingsSnapshot(conn)).toEqual(before);
    const [tables] = await conn.query<RowDataPacket[]>("SHOW TABLES LIKE 'coupon_audit_log'");
    expect(tables).toHaveLength(0);
    const check = await runCli(['check', '--url', server.url('stmt')]);
    expect(check.code).toBe(1);
    // The plan says so too (a trial reviewed a dry run's plan, then its cron repair failed).
    const dry = await runCli(['repair', '--dry-run', '--url', server.url('stmt'), '--format', 'json']);
    expect(dry.code, dry.stderr).toBe(1);
    expect((JSON.parse(dry.stdout) as { wouldStop?: string }).wouldStop).toBe(
      'the server logs with binlog_format=STATEMENT, which rejects the READ COMMITTED writes repair makes: set binlog_format=ROW or MIXED',
    );
  });

  it('doctor names it, with the fix', async () => {
    const result = await runCli(['doctor', '--url', server.url('stmt'), '--format', 'json']);
    expect(result.code).toBe(3);
    const binlog = (JSON.parse(result.stdout) as { checks: { name: string; status: string; fix?: string }[] }).checks.find(
      (check) => check.name === 'binlog_format',
    );
    expect(binlog).toMatchObject({ status: 'fail', fix: expect.stringContaining('binlog_format = ROW') });
  });
});

describe('TLS', () => {
  let server: ThrowawayServer;
  let certs: string;

  beforeAll(async () => {
    certs = mkdtempSync(join(tmpdir(), 'coupon-audit-tls-'));
    const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: certs, stdio: 'pipe' });
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=coupon-audit test CA', '-keyout', 'ca-key.pem', '-out', 'ca.pem']);
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server-key.pem', '-out', 'server.csr']);
    // Node checks the server's identity: the certificate must name the IP address we connect to.
    writeFileSync(join(certs, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2',
      '-extfile', 'san.ext', '-out', 'server.pem']);
    // The server may run as the mysql user (when we are root): let it read the files.
    chmodSync(certs, 0o755);
    for (const file of ['ca.pem', 'server.pem', 'server-key.pem']) chmodSync(join(certs, file), 0o644);
    server = await ThrowawayServer.start({
      args: [`--ssl-ca=${join(certs, 'ca.pem')}`, `--ssl-cert=${join(certs, 'server.pem')}`, `--ssl-key=${join(certs, 'server-key.pem')}`],
    });
    const conn = await createSchema(server, 'tls');
    await seed(conn, [{ id: 1, issuedCount: 1, usedCount: 0, coupons: 1 }]);
    await conn.query("CREATE USER 'tls_only'@'%' IDENTIFIED BY 'tls-pw' REQUIRE SSL");
    await conn.query("GRANT SELECT ON tls.* TO 'tls_only'@'%'");
    await conn.end();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(certs, { recursive: true, force: true });
  });

  const tlsUrl = (query: string) => `mysql://tls_only:tls-pw@127.0.0.1:${server.port}/tls${query}`;

  it('a user that requires TLS is refused without it (exit 3)', async () => {
    const result = await runCli(['check', '--url', tlsUrl('')]);
    expect(result.code).toBe(3);
    expect(result.stderr).not.toContain('tls-pw');
  });

  it('--ssl-ca verifies the server and the check runs', async () => {
    const result = await runCli(['check', '--url', tlsUrl(''), '--ssl-ca', join(certs, 'ca.pem')]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('?ssl=true without the CA refuses the unknown certificate (exit 3); ?ssl=skip-verify connects', async () => {
    const verify = await runCli(['check', '--url', tlsUrl('?ssl=true')]);
    expect(verify.code).toBe(3);
    expect(verify.stderr).toMatch(/certificate|TLS/i);
    const skip = await runCli(['check', '--url', tlsUrl('?ssl=skip-verify')]);
    expect(skip.code).toBe(0);
  });
});

describe('a read_only server (a replica)', () => {
  let server: ThrowawayServer;
  let conn: Connection;

  beforeAll(async () => {
    server = await ThrowawayServer.start({ args: ['--read-only'] });
    // root may write through read_only (it has READ_ONLY ADMIN); an application user may not.
    conn = await createSchema(server, 'replica');
    await seed(conn, [{ id: 1, issuedCount: 3, usedCount: 0, coupons: 1 }]);
    await conn.query("CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'");
    await conn.query("GRANT ALL ON replica.* TO 'app'@'%'");
  }, 120_000);
  afterAll(async () => {
    await conn?.end().catch(() => undefined);
    await server?.stop();
  });

  const appUrl = () => `mysql://app:app-pw@127.0.0.1:${server.port}/replica`;

  it('check works; repair refuses up front (exit 3) saying the server is read_only; doctor says so', async () => {
    const before = await settingsSnapshot(conn);
    expect((await runCli(['check', '--url', appUrl()])).code).toBe(1);
    const repair = await runCli(['repair', '--url', appUrl(), '--yes']);
    expect(repair.code).toBe(3);
    expect(repair.stderr).toMatch(/^coupon-audit: The server 127\.0\.0\.1:\d+ is read_only \(a replica\?\), so repair does not write there/);
    expect(repair.stderr).not.toContain('app-pw');
    // root could write through read_only (READ_ONLY ADMIN): refused all the same, as a replica would diverge.
    const admin = await runCli(['repair', '--url', server.url('replica'), '--yes']);
    expect(admin.code).toBe(3);
    expect(admin.stderr).toContain('is read_only (a replica?), so repair does not write there');
    expect(await settingsSnapshot(conn)).toEqual(before);
    const doctor = await runCli(['doctor', '--url', appUrl(), '--format', 'json']);
    expect(doctor.code).toBe(3);
    const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks;
    expect(checks.find((check) => check.name === 'privileges for repair')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/read_only/) });
    expect(checks.find((check) => check.name === 'privileges for check')!.status).toBe('ok');
  });
});

describe('a server whose sql_mode is not strict', () => {
  let server: ThrowawayServer;
  let conn: Connection;

  beforeAll(async () => {
    server = await ThrowawayServer.start({ args: ['--sql-mode='] });
    conn = await createSchema(server, 'lax');
    // A counter column too narrow for the count: 200 codes, a TINYINT cache.
    await conn.query('ALTER TABLE g_coupon_settings MODIFY issuedCount TINYINT NULL');
    await seed(conn, [{ id: 1, issuedCount: 5, usedCount: 0, coupons: 200 }]);
  }, 120_000);
  afterAll(async () => {
    await conn?.end().catch(() => undefined);
    await server?.stop();
  });

  it('repair leaves the count the column cannot hold (exit 4, named) instead of storing it clipped under an audit row that says otherwise', async () => {
    const [[mode]] = await conn.query<RowDataPacket[]>('SELECT @@GLOBAL.sql_mode AS mode');
    expect(mode!['mode']).toBe('');
    // The schema check read the column's most (TINYINT: 127), so the UPDATE that the server would
    // clip is never sent; where a type did not say, its warning ends the batch (applier.ts writeCounters).
    const repair = await runCli(['repair', '--url', server.url('lax'), '--yes']);
    expect(repair.code, repair.stderr).toBe(4);
    expect(repair.stdout).toContain('Not repaired: setting 1: issuedCount counts 200, past the most g_coupon_settings.issuedCount holds (127): widen the column, then rerun.');
    const [[row]] = await conn.query<RowDataPacket[]>('SELECT issuedCount FROM g_coupon_settings WHERE id = 1');
    expect(Number(row!['issuedCount'])).toBe(5);
    const [[audit]] = await conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM coupon_audit_log');
    expect(Number(audit!['n'])).toBe(0);
  });

  it('an older audit table whose oldValue is too narrow for a cache is refused (exit 3), not written clipped', async () => {
    const wide = await createSchema(server, 'lax_audit');
    try {
      await wide.query('ALTER TABLE g_coupon_settings MODIFY issuedCount BIGINT UNSIGNED NULL');
      await seed(wide, [{ id: 1, issuedCount: 0, usedCount: 0, coupons: 1 }]);
      await wide.query('UPDATE g_coupon_settings SET issuedCount = 18446744073709551615 WHERE id = 1');
      await wide.query(OLD_AUDIT_TABLE);
      const repair = await runCli(['repair', '--url', server.url('lax_audit'), '--yes', '--audit-table', 'old_audit']);
      expect(repair.code, repair.stderr).toBe(3);
      expect(repair.stderr).toContain("The audit table old_audit cannot hold a value this batch records: Out of range value for column 'oldValue'");
      const [[row]] = await wide.query<RowDataPacket[]>('SELECT CAST(issuedCount AS CHAR) AS c FROM g_coupon_settings WHERE id = 1');
      expect(row!['c']).toBe('18446744073709551615');
      const [[audit]] = await wide.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM old_audit');
      expect(Number(audit!['n'])).toBe(0);
    } finally {
      await wide.end();
    }
  });
});
