import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThrowawayServer } from '../src/server/throwaway-server.js';
import { runCli, startCli } from './helpers/cli.js';
import { createTestDatabase, loadSqlFile, seed, type TestDatabase } from './helpers/database.js';
import { driftedIds, settingsSnapshot } from './helpers/snapshot.js';

/** Defects a review found (issue 13), each pinned by a test that fails without its fix. */

let db: TestDatabase;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ca-hardening-'));
  db = await createTestDatabase('hardening');
}, 60_000);
afterAll(async () => {
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function reset(): Promise<void> {
  for (const table of ['g_coupons', 'g_coupon_uses', 'g_coupon_settings']) await db.query(`DELETE FROM ${table}`);
  await db.query('DROP TABLE IF EXISTS coupon_audit_log');
}

describe('a killed detection statement, with no settingId index (one statement over the whole tables)', () => {
  it('exits 3 with one sentence and still writes the metrics file', async () => {
    await reset();
    const many = Array.from({ length: 3000 }, (_, i) => ({ id: i + 1, issuedCount: 1, usedCount: 0, coupons: 1 }));
    await seed(db.conn, many);
    await db.query('ALTER TABLE g_coupons DROP INDEX idx_g_coupons_setting');
    const metrics = join(dir, 'killed.prom');
    try {
      // SLEEP in a counter filter keeps the statement running long enough to be killed.
      const config = join(dir, 'slow.json');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(config, JSON.stringify({ counters: { issuedCount: { table: 'g_coupons', foreignKey: 'settingId', where: 'SLEEP(0.002) = 0' } } }));
      const run = startCli(['check', '--url', db.url, '--config', config, '--metrics-file', metrics]);
      let victim: RowDataPacket | undefined;
      for (let i = 0; i < 100 && victim === undefined; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const [rows] = await db.conn.query<RowDataPacket[]>(
          "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE '/* coupon-audit */ SELECT g.*%'",
          [db.name],
        );
        victim = rows[0];
      }
      expect(victim).toBeDefined();
      await db.query('KILL QUERY ?', [Number(victim!['id'])]);
      const result = await run.done;
      expect(result.code).toBe(3);
      const lines = result.stderr.trim().split('\n').filter((line) => !line.startsWith('warning: g_coupons has no index'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^coupon-audit: .*(interrupted|killed|Lost the connection)/i);
      const text = readFileSync(metrics, 'utf8');
      expect(text).toMatch(/^coupon_audit_last_run_success\{[^}]*\} 0$/m);
      expect(text).toMatch(/^coupon_audit_last_run_exit_code\{[^}]*\} 3$/m);
    } finally {
      await db.query('CREATE INDEX idx_g_coupons_setting ON g_coupons (settingId)');
    }
  }, 60_000);
});

describe('--audit-table is one name, taken literally', () => {
  it("a dot is refused (exit 2); 'audit$$log' is created and used as written, and found again on the next run", async () => {
    await reset();
    await seed(db.conn, [{ id: 1, issuedCount: 9, usedCount: 0, coupons: 1 }]);
    const dotted = await runCli(['repair', '--url', db.url, '--yes', '--audit-table', 'mysql.user_log']);
    expect(dotted.code).toBe(2);
    expect(dotted.stderr).toContain('has a dot');
    const first = await runCli(['repair', '--url', db.url, '--yes', '--audit-table', 'audit$$log', '--format', 'json']);
    expect(first.code).toBe(0);
    const [rows] = await db.conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM `audit$$log`');
    expect(Number(rows[0]!['n'])).toBe(1);
    await db.query('UPDATE g_coupon_settings SET issuedCount = 7 WHERE id = 1');
    // A user that may INSERT into it but not CREATE tables: the existing table is found, so no CREATE is tried.
    const second = await runCli(['repair', '--url', db.url, '--yes', '--audit-table', 'audit$$log']);
    expect(second.code).toBe(0);
    const [again] = await db.conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM `audit$$log`');
    expect(Number(again[0]!['n'])).toBe(2);
  });
});

describe('reports say only what was audited', () => {
  it('--columns usedCount leaves g_coupons orphans out of the summary; --columns repeats', async () => {
    await reset();
    await seed(db.conn, [{ id: 1, issuedCount: 1, usedCount: 5, coupons: 1, uses: 1 }]);
    await db.query("INSERT INTO g_coupons (settingId, code) VALUES (404, 'orphan-a'), (405, 'orphan-b')");
    await db.query('INSERT INTO g_coupon_uses (settingId) VALUES (404)');
    const used = await runCli(['check', '--url', db.url, '--columns', 'usedCount']);
    expect(used.stdout).toMatch(/^ {2}children with no setting +1 row in g_coupon_uses$/m);
    expect(used.stdout).not.toContain('g_coupons');
    const both = await runCli(['check', '--url', db.url, '--columns', 'usedCount', '--columns', 'issuedCount']);
    expect(both.stdout).toMatch(/^ {2}children with no setting +3 rows: 2 in g_coupons, 1 in g_coupon_uses$/m);
  });
});

describe('a missing SELECT is a missing privilege, with the GRANT, not a missing table', () => {
  it('check and doctor name SELECT on the table and print the GRANT; exit 3', async () => {
    await reset();
    const user = `ca_nosel_${Date.now() % 100000}`;
    await db.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'nosel-pw'`);
    await db.query(`GRANT SELECT ON \`${db.name}\`.g_coupon_settings TO '${user}'@'%'`);
    await db.query(`GRANT SELECT ON \`${db.name}\`.g_coupons TO '${user}'@'%'`);
    try {
      const url = new URL(db.url);
      url.username = user;
      url.password = 'nosel-pw';
      const result = await runCli(['check', '--url', url.toString()]);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('Missing privilege: SELECT on g_coupon_uses');
      expect(result.stderr).toContain(`GRANT SELECT ON \`${db.name}\`.\`g_coupon_uses\` TO '${user}'@'%';`);
      expect(result.stderr).not.toContain('missing');
      // The server hides whether such a table exists: a database with other names needs a config.
      expect(result.stderr).toContain('(If this database names its tables otherwise, describe them with --config FILE.)');
      // With a config, the table it names may not exist at all: its name is what to check first.
      const dir = mkdtempSync(join(tmpdir(), 'ca-hardening-'));
      try {
        const config = join(dir, 'typo.json');
        writeFileSync(config, JSON.stringify({ counters: { issuedCount: { table: 'g_nosuch', foreignKey: 'settingId' } } }));
        const typo = await runCli(['check', '--url', url.toString(), '--config', config]);
        expect(typo.code).toBe(3);
        expect(typo.stderr).toContain(`(Or no such table exists: the server hides from '${user}' the tables it may not read; check the names in ${config}.)`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const doctor = await runCli(['doctor', '--url', url.toString(), '--format', 'json']);
      expect(doctor.code).toBe(3);
      const checks = JSON.parse(doctor.stdout).checks as { name: string; status: string; detail: string }[];
      expect(checks.find((check) => check.name === 'privileges for check')).toMatchObject({ status: 'fail', detail: 'no SELECT on g_coupon_uses' });
      expect(checks.some((check) => check.detail.includes('is missing'))).toBe(false);
    } finally {
      await db.query(`DROP USER '${user}'@'%'`);
    }
  });
});

describe('repair without --yes off a terminal', () => {
  it('refuses before it connects (no scan first), exit 2', async () => {
    const started = Date.now();
    const result = await runCli(['repair', '--url', 'mysql://root@127.0.0.1:1/unreachable']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--yes is required when not running interactively');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('SIGTERM during lock retries', () => {
  it('stops between tries: exit 143 within the lock wait timeout plus a second, the locked setting reported, nothing half applied', async () => {
    await reset();
    await seed(db.conn, [{ id: 1, issuedCount: 9, usedCount: 0, coupons: 1 }]);
    const holder: Connection = await db.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM g_coupon_settings WHERE id = 1 FOR UPDATE');
      const run = startCli(['repair', '--url', db.url, '--yes', '--lock-wait-timeout', '3']);
      // Wait until repair is waiting for the row (its single retry), then SIGTERM.
      for (let i = 0; i < 100; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const [rows] = await db.conn.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE '%FOR UPDATE' AND INFO NOT LIKE '%SKIP LOCKED'",
          [db.name],
        );
        if (Number(rows[0]!['n']) > 0) break;
      }
      const signalled = Date.now();
      run.child.kill('SIGTERM');
      const result = await run.done;
      expect(result.code).toBe(143);
      expect(Date.now() - signalled).toBeLessThan(3000 + 1500);
      expect(result.stdout).toContain('Interrupted');
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    expect(await driftedIds(db.conn)).toEqual(['1']);
  }, 60_000);
});

describe('the run lock survives a short wait_timeout', () => {
  let server: ThrowawayServer;
  beforeAll(async () => {
    server = await ThrowawayServer.start({ args: ['--wait-timeout=2'] });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('a repair that waits on a locked row longer than wait_timeout keeps its lock (exit 4 for the row, not 3 for a lost lock)', async () => {
    const admin = await mysql.createConnection({ ...server.connectionOptions(), multipleStatements: false });
    await admin.query('CREATE DATABASE wt');
    await admin.end();
    const conn = await mysql.createConnection(server.connectionOptions('wt'));
    await conn.query('SET SESSION wait_timeout = 600'); // the test's own connections must outlive the server's short default
    await loadSqlFile(conn, 'sql/schema.sql');
    await seed(conn, [
      { id: 1, issuedCount: 9, usedCount: 0, coupons: 1 },
      { id: 2, issuedCount: 9, usedCount: 0, coupons: 1 },
    ]);
    const holder = await mysql.createConnection(server.connectionOptions('wt'));
    await holder.query('SET SESSION wait_timeout = 600');
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM g_coupon_settings WHERE id = 1 FOR UPDATE');
    const before = await settingsSnapshot(conn);
    // Four tries of 1 s lock waits with backoff: the lock connection idles well past wait_timeout = 2 s.
    const result = await runCli(['repair', '--url', server.url('wt'), '--yes', '--lock-wait-timeout', '1', '--batch-size', '1']);
    await holder.query('ROLLBACK');
    await holder.end();
    expect(result.stderr).not.toContain('Lost the run lock');
    expect(result.code).toBe(4);
    expect(result.stdout).toContain('Not repaired, still locked by another session: setting 1.');
    const after = await settingsSnapshot(conn);
    expect(after.get('2')!['issuedCount']).toBe('1');
    expect(after.get('1')).toEqual(before.get('1'));
    await conn.end();
  }, 60_000);
});

describe('a COMMIT whose reply is lost', () => {
  it('is reported as uncertain (committed or not, the audit table says), exit 3, not left out of the summary', async () => {
    await reset();
    await seed(db.conn, [{ id: 1, issuedCount: 9, usedCount: 0, coupons: 1 }]);
    const { createServer, connect } = await import('node:net');
    const target = new URL(db.url);
    // A proxy that passes everything through, but cuts the client off right after forwarding the
    // first COMMIT of a transaction that wrote (the scan's read-only pages commit too), before the
    // server's answer can reach it.
    let cut = false;
    const proxy = createServer((client) => {
      let wrote = false;
      const server = connect(Number(target.port || 3306), target.hostname);
      server.on('data', (chunk) => {
        if (!client.destroyed) client.write(chunk);
      });
      client.on('data', (chunk) => {
        server.write(chunk);
        if (chunk.includes('/* coupon-audit */ UPDATE')) wrote = true;
        if (!cut && wrote && chunk.includes('/* coupon-audit */ COMMIT')) {
          cut = true;
          client.destroy();
          setTimeout(() => server.destroy(), 500); // let the server finish the COMMIT
        }
      });
      client.on('close', () => setTimeout(() => server.destroy(), 500));
      server.on('close', () => client.destroy());
      client.on('error', () => undefined);
      server.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const url = new URL(db.url);
      url.hostname = '127.0.0.1';
      url.port = String((proxy.address() as { port: number }).port);
      const result = await runCli(['repair', '--url', url.toString(), '--yes']);
      expect(cut).toBe(true);
      expect(result.code).toBe(3);
      expect(result.stdout).toContain('The connection went before COMMIT was answered for setting 1');
      expect(result.stdout).toContain('coupon_audit_log');
      const [rows] = await db.conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM coupon_audit_log WHERE settingId = 1');
      expect(Number(rows[0]!['n'])).toBe(1); // the server did commit: the audit table says so
      expect(await driftedIds(db.conn)).toEqual([]);
    } finally {
      proxy.close();
    }
  }, 60_000);
});
