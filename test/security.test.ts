import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliOnTerminal, startCli } from './helpers/cli.js';
import { connectionOptions, createTestDatabase, loadSqlFile, seed, SERVER_URL, type TestDatabase } from './helpers/database.js';
import { driftedIds, settingsSnapshot } from './helpers/snapshot.js';

const SETTINGS = [
  { id: 1, issuedCount: 2, usedCount: 1, coupons: 2, uses: 1 },
  { id: 2, issuedCount: 5, usedCount: 0, coupons: 1 },
  { id: 9007199254740993n, issuedCount: 0, usedCount: 0, coupons: 1 },
];
const PASSWORD = `Pw-${randomBytes(6).toString('hex')}`;

let db: TestDatabase;
let admin: Connection;
const users: string[] = [];

/** A user of its own for this file, with `grants` on the test database (or none). */
async function createUser(label: string, grants: string[]): Promise<{ name: string; url: (password?: string) => string }> {
  const name = `ca_${label}_${randomBytes(3).toString('hex')}`;
  await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [name, '%', PASSWORD]);
  users.push(name);
  for (const grant of grants) await admin.query(`GRANT ${grant} TO ?@?`, [name, '%']);
  return {
    name,
    url: (password) => {
      const url = new URL(db.url);
      url.username = name;
      url.password = password === undefined ? '' : encodeURIComponent(password);
      return url.toString();
    },
  };
}

beforeAll(async () => {
  db = await createTestDatabase('security');
  await seed(db.conn, SETTINGS);
  admin = await mysql.createConnection(connectionOptions());
});
afterAll(async () => {
  for (const name of users) await admin.query('DROP USER IF EXISTS ?@?', [name, '%']);
  await admin?.end();
  await db?.drop();
});

const onDb = (privileges: string, table = '*') => `${privileges} ON ${mysql.escapeId(db.name)}.${table === '*' ? '*' : mysql.escapeId(table)}`;

describe('a read-only user', () => {
  it('can run check', async () => {
    const user = await createUser('ro', [onDb('SELECT')]);
    const result = await runCli(['check', '--url', user.url(PASSWORD), '--format', 'json']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).summary.drifted).toBe(2);
  });

  it('asking for a repair gets exit 3 naming the missing privilege, and nothing is written', async () => {
    const user = await createUser('ro2', [onDb('SELECT')]);
    const before = await settingsSnapshot(db.conn);
    const result = await runCli(['repair', '--url', user.url(PASSWORD), '--yes']);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/Missing privilege: .*(CREATE|UPDATE)/);
    expect(result.stderr).toContain(user.name);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(await settingsSnapshot(db.conn)).toEqual(before);
  });

  it('without UPDATE on the settings: exit 3 naming UPDATE, and no counter nor audit row written', async () => {
    const user = await createUser('noupd', [onDb('SELECT'), onDb('CREATE, INSERT', 'coupon_audit_log')]);
    const before = await settingsSnapshot(db.conn);
    const result = await runCli(['repair', '--url', user.url(PASSWORD), '--yes']);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/Missing privilege: .*UPDATE/);
    expect(await settingsSnapshot(db.conn)).toEqual(before);
    const audit = await db.query<RowDataPacket[]>("SHOW TABLES LIKE 'coupon_audit_log'");
    if (audit.length > 0) expect(await db.query<RowDataPacket[]>('SELECT * FROM coupon_audit_log')).toEqual([]);
  });
});

describe('passwords', () => {
  it('MYSQL_PWD supplies the password when the URL has none', async () => {
    const user = await createUser('pwd', [onDb('SELECT')]);
    const withEnv = await runCli(['check', '--url', user.url()], { env: { MYSQL_PWD: PASSWORD } });
    expect(withEnv.code).toBe(1);
    const without = await runCli(['check', '--url', user.url()]);
    expect(without.code).toBe(3);
    expect(without.stderr).toContain(`Access denied for user '${user.name}'`);
  });

  // /proc/PID/cmdline is Linux's (where CI and the servers run); ps reads it there.
  it.runIf(process.platform === 'linux')('a password on the command line (in --url, --password VALUE) and a webhook path are masked in the process list while it runs', async () => {
    const user = await createUser('ps', [onDb('SELECT')]);
    const pause = join(tmpdir(), `coupon-audit-ps-${randomBytes(4).toString('hex')}`);
    writeFileSync(pause, '');
    // A password written raw with an '@' and a space (the URL parser takes it), a webhook with credentials.
    const odd = `p@ss w0rd-${randomBytes(3).toString('hex')}`;
    await admin.query('ALTER USER ?@? IDENTIFIED BY ?', [user.name, '%', odd]);
    const raw = user.url().replace(`//${user.name}@`, `//${user.name}:${odd}@`);
    const run = startCli(['check', '--url', raw, '--password', odd, '--notify-url', 'http://hook:HOOKSECRET@127.0.0.1:1/hooks/T0/SECRETPATH', '--pause-file', pause]);
    try {
      // Paused before its first page: it is running, its lock taken.
      await waitUntil(async () => (await admin.query<RowDataPacket[]>('SELECT IS_USED_LOCK(?) AS id', [`coupon-audit:check:${db.name}`]))[0][0]!['id'] !== null);
      const cmdline = readFileSync(`/proc/${run.child.pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      expect(cmdline).toContain(`check --url ${user.url().replace(`//${user.name}@`, `//${user.name}:***@`)}`);
      expect(cmdline).toContain('--password *** --notify-url http://127.0.0.1:1/***');
      for (const secret of [odd, 'p@ss', 'w0rd', 'HOOKSECRET', 'SECRETPATH']) expect(cmdline).not.toContain(secret);
      // The words after it are all there (the title is cut to the length the command line had).
      expect(cmdline.trimEnd().endsWith(`--pause-file ${pause}`)).toBe(true);
    } finally {
      rmSync(pause, { force: true });
    }
    expect((await run.done).code).toBe(1);
    // A user name with an '@' (Azure's user@server), and a URL given with a leading space.
    const azure = `${user.name}@corp`;
    await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [azure, '%', odd]);
    await admin.query(`GRANT SELECT ON ${mysql.escapeId(db.name)}.* TO ?@?`, [azure, '%']);
    try {
      writeFileSync(pause, '');
      const second = startCli(['check', `--url= ${user.url().replace(`//${user.name}@`, `//${azure}:${odd}@`)}`, '--pause-file', pause]);
      try {
        await waitUntil(async () => (await admin.query<RowDataPacket[]>('SELECT IS_USED_LOCK(?) AS id', [`coupon-audit:check:${db.name}`]))[0][0]!['id'] !== null);
        const cmdline = readFileSync(`/proc/${second.child.pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        expect(cmdline).toContain(`//${azure}:***@`);
        for (const secret of [odd, 'p@ss', 'w0rd']) expect(cmdline).not.toContain(secret);
      } finally {
        rmSync(pause, { force: true });
      }
      expect((await second.done).code).toBe(1);
    } finally {
      await admin.query('DROP USER IF EXISTS ?@?', [azure, '%']);
    }
  });

  it('doctor --password asks once (the connection settings are resolved once)', async () => {
    const user = await createUser('doctor_prompt', [onDb('SELECT')]);
    const result = await runCliOnTerminal(['doctor', '--url', user.url(), '--password'], { answers: [PASSWORD, PASSWORD] });
    expect(result.stdout.match(/Database password:/g)).toHaveLength(1);
    expect(result.stdout).toContain('privileges for check');
    expect(result.stdout).not.toContain(PASSWORD);
  });

  it('--password with no value prompts on a terminal, without echoing what is typed', async () => {
    const user = await createUser('prompt', [onDb('SELECT')]);
    const result = await runCliOnTerminal(['check', '--url', user.url(), '--password'], { answers: [PASSWORD] });
    expect(result.stdout).toContain('Database password:');
    expect(result.stdout).toContain('2 of 3 settings drifted');
    expect(result.stdout).not.toContain(PASSWORD);
    expect(result.code).toBe(1);
  });

  it('--password with no value and no terminal is a usage error, not a hang', async () => {
    const result = await runCli(['check', '--url', db.url, '--password']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('set MYSQL_PWD instead');
  });

  it('is never printed: not in errors, not with --verbose, not in URL echoes', async () => {
    const user = await createUser('leak', [onDb('SELECT')]);
    const cases = [
      ['check', '--url', user.url(PASSWORD).replace(db.name, 'ca_no_such_db'), '--verbose'],
      ['check', '--url', user.url(`${PASSWORD}x`), '--verbose'],
      ['check', '--url', user.url(PASSWORD).replace(/\/[^/]*$/, '/'), '--verbose'],
      ['check', '--url', `${user.url(PASSWORD)}?bogus=1`],
      ['repair', '--url', user.url(PASSWORD), '--yes', '--verbose'],
    ];
    for (const args of cases) {
      const result = await runCli(args, { env: { MYSQL_PWD: PASSWORD } });
      expect(result.code, args.join(' ')).toBeGreaterThanOrEqual(2);
      expect(result.stdout + result.stderr).not.toContain(PASSWORD);
    }
  });

  it('no stack trace without --verbose; the cause with it', async () => {
    const url = new URL(db.url);
    url.pathname = '/ca_no_such_db';
    const quiet = await runCli(['check', '--url', url.toString()]);
    expect(quiet.code).toBe(3);
    expect(quiet.stderr).not.toMatch(/\n\s+at /);
    const verbose = await runCli(['check', '--url', url.toString(), '--verbose']);
    expect(verbose.code).toBe(3);
    expect(verbose.stderr).toContain('ER_BAD_DB_ERROR');
  });
});

describe('TLS options', () => {
  it('?ssl=true against a server without TLS fails with exit 3 and says TLS', async () => {
    const [[row]] = await db.conn.query<RowDataPacket[]>("SHOW VARIABLES LIKE 'have_ssl'");
    if (row?.['Value'] === 'YES') return; // this server speaks TLS: the throwaway-server test covers the handshake
    const result = await runCli(['check', '--url', `${db.url}?ssl=true`]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/TLS|SSL|secure/i);
  });

  it('--ssl-ca naming a missing file is a usage error (exit 2)', async () => {
    const result = await runCli(['check', '--url', db.url, '--ssl-ca', '/nonexistent/ca.pem']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Cannot read the TLS CA file /nonexistent/ca.pem');
  });

  it('--ssl-ca naming a file that holds no certificate (a key, garbage) is a usage error saying so (exit 2)', async () => {
    const file = join(tmpdir(), `ca-audit-not-a-cert-${process.pid}.pem`);
    writeFileSync(file, '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');
    try {
      const result = await runCli(['check', '--url', db.url, '--ssl-ca', file]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`The TLS CA file ${file} holds no PEM certificate`);
    } finally {
      rmSync(file, { force: true });
    }
  });
});

describe('identifiers are escaped everywhere they reach SQL', () => {
  it('a database and an audit table with backticks, quotes and spaces work end to end', async () => {
    const name = `ca_test_odd\`na'me ${randomBytes(2).toString('hex')}`;
    const setup = await mysql.createConnection(connectionOptions());
    await setup.query(`CREATE DATABASE ${mysql.escapeId(name)}`);
    await setup.end();
    const conn = await mysql.createConnection(connectionOptions(name));
    try {
      await loadSqlFile(conn, 'sql/schema.sql');
      await seed(conn, SETTINGS);
      const url = new URL(SERVER_URL);
      url.pathname = `/${encodeURIComponent(name)}`;
      const auditTable = 'audit`log; DROP TABLE g_coupons; --';
      const check = await runCli(['check', '--url', url.toString(), '--format', 'json']);
      expect(check.code).toBe(1);
      const repair = await runCli(['repair', '--url', url.toString(), '--yes', '--audit-table', auditTable, '--ids', '2,9007199254740993']);
      expect(repair.code).toBe(0);
      expect(await driftedIds(conn)).toEqual([]);
      const [audit] = await conn.query<RowDataPacket[]>(`SELECT settingId FROM ${mysql.escapeId(auditTable)} ORDER BY settingId`);
      expect(audit.map((row) => String(row['settingId']))).toEqual(['2', '9007199254740993']);
      const [tables] = await conn.query<RowDataPacket[]>("SHOW TABLES LIKE 'g_coupons'");
      expect(tables).toHaveLength(1);
    } finally {
      await conn.end();
      const dropper = await mysql.createConnection(connectionOptions());
      await dropper.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(name)}`);
      await dropper.end();
    }
  });
});

async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 150; attempt += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('timed out waiting');
}
