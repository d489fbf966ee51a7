import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql, { type Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { connectionOptions, createTestDatabase, seed, type TestDatabase } from './helpers/database.js';
import { settingsSnapshot } from './helpers/snapshot.js';
import { DatabaseError, repair } from '../src/index.js';

interface DoctorJson {
  version: number;
  healthy: boolean;
  checks: { name: string; status: 'ok' | 'warn' | 'fail'; detail: string; fix?: string }[];
}

const doctor = async (args: string[]) => {
  const result = await runCli(['doctor', ...args, '--format', 'json']);
  return { ...result, json: JSON.parse(result.stdout) as DoctorJson };
};
const byName = (json: DoctorJson, name: string) => json.checks.find((check) => check.name === name);

let db: TestDatabase;
let admin: Connection;
const PASSWORD = `Pw-${randomBytes(6).toString('hex')}`;
const users: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase('doctor');
  admin = await mysql.createConnection(connectionOptions());
});
afterAll(async () => {
  for (const name of users) for (const host of ['%', '127.0.0.1']) await admin.query('DROP USER IF EXISTS ?@?', [name, host]);
  await admin?.end();
  await db?.drop();
});

describe('coupon-audit doctor', () => {
  it('on a good database: every check ok, exit 0, and a readable checklist', async () => {
    const { code, json } = await doctor(['--url', db.url]);
    expect(code).toBe(0);
    expect(json.healthy).toBe(true);
    expect(json.checks.map((check) => check.name)).toEqual([
      'connection',
      'engine',
      'schema',
      'index g_coupons',
      'index g_coupon_uses',
      'privileges for check',
      'privileges for repair',
      'binlog_format',
    ]);
    expect(json.checks.every((check) => check.status === 'ok')).toBe(true);
    // The server under test: 127.0.0.1:3306, or the suite's own throwaway server on another port.
    const server = new URL(db.url);
    const hostPort = `${server.hostname}:${server.port || '3306'}`.replace(/\./g, '\\.');
    expect(byName(json, 'connection')!.detail).toMatch(new RegExp(`^root@${hostPort}/ca_test_doctor_\\w+: (MariaDB|MySQL) \\d+\\.\\d+`));
    // One server: GET_LOCK is the run lock, batches lock with SKIP LOCKED.
    expect(byName(json, 'engine')!.detail).toMatch(/^(MariaDB|MySQL) \d+\.\d+\S*: run lock: GET_LOCK; rows locked in batches with FOR UPDATE SKIP LOCKED$/);
    const text = await runCli(['doctor', '--url', db.url]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ok +privileges for repair +UPDATE on g_coupon_settings/m);
    expect(text.stdout).toMatch(/All is well\.\n$/);
  });

  it('without the settingId index: warns with the CREATE INDEX that fixes it, which works; exit 0 (a warning does not stop check)', async () => {
    await db.query('ALTER TABLE g_coupons DROP INDEX idx_g_coupons_setting');
    const { code, json } = await doctor(['--url', db.url]);
    expect(code).toBe(0);
    const index = byName(json, 'index g_coupons')!;
    expect(index.status).toBe('warn');
    expect(index.fix).toBe('CREATE INDEX `idx_g_coupons_settingId` ON `g_coupons` (`settingId`);');
    expect(byName(json, 'index g_coupon_uses')!.status).toBe('ok');
    const text = await runCli(['doctor', '--url', db.url]);
    expect(text.stdout).toMatch(/^WARN +index g_coupons +no index starts with settingId/m);
    expect(text.stdout).toContain('fix: CREATE INDEX `idx_g_coupons_settingId`');
    expect(text.stdout).toContain('1 thing needs attention.');
    await db.query(index.fix!);
    const fixed = await doctor(['--url', db.url]);
    expect(fixed.code).toBe(0);
    expect(byName(fixed.json, 'index g_coupons')!.status).toBe('ok');
    // That name taken by an index on another column: the fix takes another name, and works pasted.
    await db.query('ALTER TABLE g_coupons DROP INDEX idx_g_coupons_settingId, ADD INDEX IDX_g_coupons_settingId (code)');
    const renamed = byName((await doctor(['--url', db.url])).json, 'index g_coupons')!;
    expect(renamed.fix).toBe('CREATE INDEX `idx_g_coupons_settingId_2` ON `g_coupons` (`settingId`);');
    const checked = await runCli(['check', '--url', db.url]);
    expect(checked.stderr).toContain('This fixes it: CREATE INDEX `idx_g_coupons_settingId_2` ON `g_coupons` (`settingId`);');
    await db.query(renamed.fix!);
    expect(byName((await doctor(['--url', db.url])).json, 'index g_coupons')!.status).toBe('ok');
    await db.query('ALTER TABLE g_coupons DROP INDEX IDX_g_coupons_settingId');
  });

  it('two keys of one table without an index get two CREATE INDEX of different names, even where 64 characters cut both to one', async () => {
    const long = `c${'o'.repeat(56)}x`; // 58 characters: idx_<table>_settingIdA is cut inside the key's name
    await db.query(`CREATE TABLE ${long} (id INT AUTO_INCREMENT PRIMARY KEY, settingIdA BIGINT UNSIGNED NULL, settingIdB BIGINT UNSIGNED NULL)`);
    const dir = mkdtempSync(join(tmpdir(), 'ca-doctor-'));
    try {
      const config = join(dir, 'two-keys.json');
      writeFileSync(config, JSON.stringify({ counters: { issuedCount: { table: long, foreignKey: 'settingIdA' }, usedCount: { table: long, foreignKey: 'settingIdB' } } }));
      const { json } = await doctor(['--url', db.url, '--config', config]);
      const fixes = json.checks.filter((check) => check.name === `index ${long}`).map((check) => check.fix);
      expect(fixes).toHaveLength(2);
      expect(new Set(fixes).size).toBe(2);
      for (const fix of fixes) await db.query(fix!);
      expect(json.checks.filter((check) => check.name === `index ${long}` && check.status !== 'ok')).toHaveLength(2);
      const after = await doctor(['--url', db.url, '--config', config]);
      expect(after.json.checks.filter((check) => check.name === `index ${long}`).map((check) => check.status)).toEqual(['ok', 'ok']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await db.query(`DROP TABLE ${long}`);
    }
  });

  it('a read-only user: check is fine, repair is not, and the GRANT is printed, to the account the server matched; nothing is written', async () => {
    const name = `ca_docro_${randomBytes(3).toString('hex')}`;
    // At 127.0.0.1, not '%': the printed GRANT must name this account or it fails (1133).
    await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [name, '127.0.0.1', PASSWORD]);
    users.push(name);
    await admin.query(`GRANT SELECT ON ${mysql.escapeId(db.name)}.* TO ?@?`, [name, '127.0.0.1']);
    const url = new URL(db.url);
    url.username = name;
    url.password = PASSWORD;
    const { code, json, stdout, stderr } = await doctor(['--url', url.toString()]);
    expect(code).toBe(3);
    expect(byName(json, 'privileges for check')!.status).toBe('ok');
    const repair = byName(json, 'privileges for repair')!;
    expect(repair.status).toBe('fail');
    expect(repair.detail).toMatch(/missing UPDATE on g_coupon_settings.*; for an account that only checks, doctor --for check\)$/);
    expect(repair.fix).toContain(`GRANT UPDATE ON \`${db.name}\`.\`g_coupon_settings\` TO '${name}'@'127.0.0.1';`);
    expect(repair.fix).toContain(`GRANT CREATE, INSERT ON \`${db.name}\`.\`coupon_audit_log\` TO '${name}'@'127.0.0.1';`);
    expect(stdout + stderr).not.toContain(PASSWORD);
    const [tables] = await db.conn.query<mysql.RowDataPacket[]>('SHOW TABLES LIKE ?', ['coupon_audit_log']);
    expect(tables).toHaveLength(0);
    // The account of a cron check, which never repairs: --for check passes it (exit 0), repair's
    // line kept as info, with no GRANT to paste.
    const forCheck = await doctor(['--url', url.toString(), '--for', 'check']);
    expect(forCheck.code).toBe(0);
    expect(byName(forCheck.json, 'privileges for check')!.status).toBe('ok');
    expect(byName(forCheck.json, 'privileges for repair')).toEqual({
      name: 'privileges for repair',
      status: 'info',
      // Without the advice to pass --for check, which it was given.
      detail: `repair only, not needed by check (--for check): ${repair.detail.replace('; for an account that only checks, doctor --for check)', ')')}`,
    });
    // The GRANTs it prints are the ones that fix it (the audit table's on that table alone, as the README grants it).
    for (const grant of repair.fix!.split(';').map((part) => part.replace(/\(or create .*$/, '').trim()).filter((part) => part.startsWith('GRANT'))) await admin.query(grant);
    expect(byName((await doctor(['--url', url.toString()])).json, 'privileges for repair')!.status).toBe('ok');
  });

  it("UPDATE granted on the counters' columns alone is missing updatedAt, which repair assigns to itself: doctor fails it, repair stops before the scan", async () => {
    const name = `ca_doccol_${randomBytes(3).toString('hex')}`;
    await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [name, '127.0.0.1', PASSWORD]);
    users.push(name);
    const table = `${mysql.escapeId(db.name)}.g_coupon_settings`;
    await admin.query(`GRANT SELECT ON ${mysql.escapeId(db.name)}.* TO ?@?`, [name, '127.0.0.1']);
    await admin.query(`GRANT UPDATE (issuedCount, usedCount) ON ${table} TO ?@?`, [name, '127.0.0.1']);
    await admin.query(`GRANT CREATE, INSERT ON ${mysql.escapeId(db.name)}.coupon_audit_log TO ?@?`, [name, '127.0.0.1']);
    const url = new URL(db.url);
    url.username = name;
    url.password = PASSWORD;
    const { code, json } = await doctor(['--url', url.toString()]);
    expect(code).toBe(3);
    // The column the grant left out, by name, and the column-level GRANT that adds it.
    const denied = byName(json, 'privileges for repair')!;
    expect(denied).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^missing UPDATE \(`updatedAt`\) on g_coupon_settings /) });
    expect(denied.fix).toBe(`GRANT UPDATE (\`updatedAt\`) ON \`${db.name}\`.\`g_coupon_settings\` TO '${name}'@'127.0.0.1';`);
    await seed(db.conn, [{ id: 901, issuedCount: 2, usedCount: 0, coupons: 1 }]);
    const before = await settingsSnapshot(db.conn);
    const repair = await runCli(['repair', '--url', url.toString(), '--yes', '--verbose']);
    expect(repair.code, repair.stderr).toBe(3);
    expect(repair.stderr).toContain(`Missing privilege: UPDATE (\`updatedAt\`) on g_coupon_settings for '${name}'`);
    expect(repair.stderr).not.toMatch(/^sql .*: compare /m); // before the scan (--verbose times each page)
    expect(await settingsSnapshot(db.conn)).toEqual(before);
    // The printed GRANT, pasted, is enough.
    await admin.query(denied.fix!);
    expect(byName((await doctor(['--url', url.toString()])).json, 'privileges for repair')!.status).toBe('ok');
    expect((await runCli(['repair', '--url', url.toString(), '--yes'])).code).toBe(0);
  });

  it("a column-level SELECT that leaves out updatedAt, which repair's UPDATE reads (updatedAt = updatedAt): named as SELECT, and its GRANT fixes it", async () => {
    const name = `ca_docsel_${randomBytes(3).toString('hex')}`;
    await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [name, '127.0.0.1', PASSWORD]);
    users.push(name);
    const table = `${mysql.escapeId(db.name)}.g_coupon_settings`;
    await admin.query(`GRANT SELECT (id, status, issuedCount, usedCount) ON ${table} TO ?@?`, [name, '127.0.0.1']);
    await admin.query(`GRANT SELECT ON ${mysql.escapeId(db.name)}.g_coupons TO ?@?`, [name, '127.0.0.1']);
    await admin.query(`GRANT SELECT ON ${mysql.escapeId(db.name)}.g_coupon_uses TO ?@?`, [name, '127.0.0.1']);
    await admin.query(`GRANT UPDATE (issuedCount, usedCount, updatedAt) ON ${table} TO ?@?`, [name, '127.0.0.1']);
    await admin.query(`GRANT CREATE, INSERT ON ${mysql.escapeId(db.name)}.coupon_audit_log TO ?@?`, [name, '127.0.0.1']);
    const url = new URL(db.url);
    url.username = name;
    url.password = PASSWORD;
    const denied = byName((await doctor(['--url', url.toString()])).json, 'privileges for repair')!;
    expect(denied).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^missing SELECT \(`updatedAt`\) on g_coupon_settings /) });
    expect(denied.fix).toBe(`GRANT SELECT (\`updatedAt\`) ON \`${db.name}\`.\`g_coupon_settings\` TO '${name}'@'127.0.0.1';`);
    await admin.query(denied.fix!);
    expect(byName((await doctor(['--url', url.toString()])).json, 'privileges for repair')!.status).toBe('ok');
  });

  it('an audit table the grants do not show may be made or written: repair makes it before the scan, and stops there if it may not', async () => {
    const user = async (grants: string[]): Promise<string> => {
      const name = `ca_docaud_${randomBytes(3).toString('hex')}`;
      await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [name, '127.0.0.1', PASSWORD]);
      users.push(name);
      for (const grant of grants) await admin.query(`GRANT ${grant} TO ?@?`, [name, '127.0.0.1']);
      const url = new URL(db.url);
      url.username = name;
      url.password = PASSWORD;
      return url.toString();
    };
    const schema = mysql.escapeId(db.name);
    const base = [`SELECT ON ${schema}.*`, `UPDATE ON ${schema}.g_coupon_settings`];
    await seed(db.conn, [{ id: 902, issuedCount: 3, usedCount: 0, coupons: 1 }]);
    const before = await settingsSnapshot(db.conn);
    const auditTables = async () => (await db.conn.query<mysql.RowDataPacket[]>('SHOW TABLES LIKE ?', ['coupon_audit_log']))[0].length;
    await db.query('DROP TABLE IF EXISTS coupon_audit_log'); // an earlier case's repair made it
    // No CREATE: refused before the scan, with the GRANT; nothing made.
    const noCreate = await user(base);
    const refused = await runCli(['repair', '--url', noCreate, '--yes', '--verbose']);
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stderr).toMatch(/Missing privilege: CREATE, INSERT on coupon_audit_log for 'ca_docaud_\w+'; repair makes its audit table there before it scans/);
    expect(refused.stderr).toContain(`GRANT CREATE, INSERT ON ${schema}.\`coupon_audit_log\` TO`);
    expect(refused.stderr).not.toMatch(/^sql .*: compare /m);
    expect(await auditTables()).toBe(0);
    // The library's error keeps the server's refusal as its cause.
    const thrown = await repair({ url: noCreate }).then(() => null, (error: unknown) => error);
    expect(thrown).toBeInstanceOf(DatabaseError);
    expect((thrown as { cause?: { errno?: number } }).cause?.errno).toBe(1142);
    // Another repair holds the run lock: exit 5, and nothing made (the table waits for the lock).
    const holder = await mysql.createConnection(connectionOptions(db.name));
    try {
      await holder.query('SELECT GET_LOCK(?, 0)', [`coupon-audit:repair:${db.name}`]);
      const locked = await runCli(['repair', '--url', noCreate, '--yes']);
      expect(locked.code, locked.stderr).toBe(5);
      expect(await auditTables()).toBe(0);
    } finally {
      await holder.end();
    }
    // INSERT shown, CREATE not: the refusal names CREATE alone.
    const insertOnly = await user([...base, `INSERT ON ${schema}.*`]);
    const createOnly = await runCli(['repair', '--url', insertOnly, '--yes']);
    expect(createOnly.code, createOnly.stderr).toBe(3);
    expect(createOnly.stderr).toMatch(/Missing privilege: CREATE on coupon_audit_log for /);
    expect(createOnly.stderr).toContain(`GRANT CREATE ON ${schema}.\`coupon_audit_log\` TO`);
    // A grant on the table under another case (names are case sensitive here) is not this table's.
    const otherCase = await user([...base, `CREATE, INSERT ON ${schema}.COUPON_AUDIT_LOG`]);
    const cased = await runCli(['repair', '--url', otherCase, '--yes', '--verbose']);
    expect(cased.code, cased.stderr).toBe(3);
    expect(cased.stderr).toContain('Missing privilege: CREATE, INSERT on coupon_audit_log');
    expect(cased.stderr).not.toMatch(/^sql .*: compare /m);
    expect(await auditTables()).toBe(0);
    const warned = byName((await doctor(['--url', noCreate])).json, 'privileges for repair')!;
    expect(warned).toMatchObject({ status: 'warn', detail: expect.stringContaining('the grants do not show CREATE or INSERT for coupon_audit_log') });
    // CREATE but no INSERT: the table is made (empty), then refused before the scan.
    const noInsert = await user([...base, `CREATE ON ${schema}.*`]);
    expect(byName((await doctor(['--url', noInsert])).json, 'privileges for repair')).toMatchObject({ status: 'warn', detail: expect.stringContaining('do not show INSERT') });
    const made = await runCli(['repair', '--url', noInsert, '--yes', '--verbose']);
    expect(made.code, made.stderr).toBe(3);
    expect(made.stderr).toContain('Missing privilege: INSERT on coupon_audit_log');
    expect(made.stderr).toContain('it made coupon_audit_log, empty, just now');
    expect(made.stderr).not.toMatch(/^sql .*: compare /m);
    expect(await auditTables()).toBe(1);
    expect(await settingsSnapshot(db.conn)).toEqual(before);
    await db.query('DROP TABLE coupon_audit_log');
  });

  it('a missing table or column fails the schema check', async () => {
    await db.query('ALTER TABLE g_coupon_uses RENAME COLUMN settingId TO setting_id');
    try {
      const { code, json } = await doctor(['--url', db.url]);
      expect(code).toBe(3);
      expect(byName(json, 'schema')).toMatchObject({ status: 'fail', detail: 'counter usedCount: table g_coupon_uses has no column settingId' });
      expect(byName(json, 'privileges for repair')).toBeUndefined();
    } finally {
      await db.query('ALTER TABLE g_coupon_uses RENAME COLUMN setting_id TO settingId');
    }
  });

  it('no server: one failed connection check, exit 3, within seconds', async () => {
    const started = Date.now();
    const { code, json } = await doctor(['--url', 'mysql://root@127.0.0.1:1/x']);
    expect(code).toBe(3);
    expect(json.checks).toEqual([{ name: 'connection', status: 'fail', detail: expect.stringMatching(/^Cannot connect to 127\.0\.0\.1:1/) }]);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('bad flags exit 2', async () => {
    expect((await runCli(['doctor', '--url', db.url, '--format', 'xml'])).code).toBe(2);
    expect((await runCli(['doctor'])).code).toBe(2);
  });
});
