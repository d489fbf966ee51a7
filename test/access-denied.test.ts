import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toDatabaseError } from '../src/db/database-error.js';
import { check, DatabaseError, UsageError } from '../src/index.js';
import { runCli } from './helpers/cli.js';
import { connectionOptions, createTestDatabase, type TestDatabase } from './helpers/database.js';

/** A throwaway user with a password that holds every character a URL must percent-encode. */
const USER = `ca_pw_${randomBytes(4).toString('hex')}`;
const PASSWORD = `Alpha@Bravo/Charlie:Delta#Echo?Fox${randomBytes(4).toString('hex')}`;
const WRONG = `WrongPw${randomBytes(4).toString('hex')}`;

let db: TestDatabase;

function urlFor(password: string | null): string {
  const url = new URL(db.url);
  url.username = USER;
  url.password = password === null ? '' : encodeURIComponent(password);
  return url.toString();
}

async function admin<T>(work: (conn: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await mysql.createConnection(connectionOptions());
  try {
    return await work(conn);
  } finally {
    await conn.end();
  }
}

beforeAll(async () => {
  db = await createTestDatabase('access_denied');
  await admin(async (conn) => {
    await conn.query('CREATE USER ?@? IDENTIFIED BY ?', [USER, '%', PASSWORD]);
    await conn.query(`GRANT SELECT ON ${mysql.escapeId(db.name)}.* TO ?@?`, [USER, '%']);
  });
});

afterAll(async () => {
  await admin((conn) => conn.query('DROP USER IF EXISTS ?@?', [USER, '%'])).catch(() => undefined);
  await db?.drop();
});

describe('access denied says whether a password was given, never the password', () => {
  it('no password at all: exit 3, "no password was given"', async () => {
    const result = await runCli(['check', '--url', urlFor(null)]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`Access denied for user '${USER}'`);
    expect(result.stderr).toContain('no password was given');
    expect(result.stderr).not.toContain('the password was refused');
  });

  it('the library, which reads no MYSQL_PWD, does not point to MYSQL_PWD or --password (even with MYSQL_PWD set)', async () => {
    const saved = process.env['MYSQL_PWD'];
    process.env['MYSQL_PWD'] = PASSWORD;
    try {
      const error = await check({ url: urlFor(null) }).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as Error).message).toBe(
        `Access denied for user '${USER}' at ${new URL(db.url).hostname}:${new URL(db.url).port}: no password was given. Put it in the URL (mysql://user:password@host/db, percent-encoded); the library reads no MYSQL_PWD. If the account requires TLS (REQUIRE SSL), turn it on: ?ssl=true in the URL.`,
      );
      const refused = await check({ url: urlFor(WRONG) }).then(() => null, (e: unknown) => e);
      expect((refused as Error).message).toContain('the password was refused');
      expect((refused as Error).message).not.toMatch(/MYSQL_PWD|--password/);
      const ambiguous = await check({ url: `mysql://u:a/b@127.0.0.1:1/${db.name}` }).then(() => null, (e: unknown) => e);
      expect(ambiguous).toBeInstanceOf(UsageError);
      expect((ambiguous as Error).message).not.toMatch(/MYSQL_PWD|--password/);
    } finally {
      if (saved === undefined) delete process.env['MYSQL_PWD'];
      else process.env['MYSQL_PWD'] = saved;
    }
  });

  it('a wrong password in the URL: exit 3, "the password was refused", and not the password', async () => {
    const result = await runCli(['check', '--verbose', '--url', urlFor(WRONG)]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('the password was refused');
    // The one URL mistake that reaches the server: a raw '%' read as an escape ('/', '?' and '#'
    // raw are refused before any login, exit 2, as the case below shows).
    expect(result.stderr).toContain("a '%' in the password must be written %25");
    expect(result.stderr).not.toContain('no password was given');
    expect(result.stderr + result.stdout).not.toContain(WRONG);
  });

  it('a wrong password in MYSQL_PWD: the same', async () => {
    const result = await runCli(['check', '--url', urlFor(null)], { env: { MYSQL_PWD: WRONG } });
    expect(result.code).toBe(3);
    // Not the URL's: no advice on writing one in a URL.
    expect(result.stderr).toContain('the password was refused. Check the user name and password.');
    expect(result.stderr).not.toContain("a '%' in the password");
    expect(result.stderr + result.stdout).not.toContain(WRONG);
  });

  it("the right password, with '@', '/', ':', '#' and '?' percent-encoded in the URL, gets in", async () => {
    const result = await runCli(['check', '--format', 'json', '--url', urlFor(PASSWORD)]);
    expect(result.stderr).not.toContain('Access denied');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ summary: { scanned: 0, drifted: 0 } });
  });

  it('the same password written raw in the URL is refused as ambiguous (exit 2), never echoed', async () => {
    const raw = urlFor(null).replace(`${USER}@`, `${USER}:${PASSWORD}@`);
    const result = await runCli(['check', '--url', raw]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('percent-encoded');
    for (const part of PASSWORD.split(/[@/:#?]/)) expect(result.stderr + result.stdout).not.toContain(part);
  });

  it("the driver's real errors map to the two sentences", async () => {
    const config = { host: '127.0.0.1', port: 3306, user: USER, database: db.name, ssl: undefined, connectTimeoutMs: 5000 };
    const options = connectionOptions(db.name);
    for (const [password, expected] of [
      [undefined, 'no password was given'],
      [WRONG, 'the password was refused'],
    ] as const) {
      const error = await mysql.createConnection({ ...options, user: USER, password }).then(
        async (conn) => {
          await conn.end();
          throw new Error('login unexpectedly accepted');
        },
        (e: unknown) => e,
      );
      const mapped = toDatabaseError(error, { ...config, password });
      expect(mapped.message).toContain(expected);
      expect(mapped.message).not.toContain(WRONG);
      expect(mapped.exitCode).toBe(3);
    }
  });

  it('an account created REQUIRE SSL, reached without TLS, is refused like a wrong password: the sentence names TLS too', async () => {
    const tlsUser = `${USER}_tls`.slice(0, 32);
    await admin(async (conn) => {
      await conn.query('CREATE USER ?@? IDENTIFIED BY ? REQUIRE SSL', [tlsUser, '%', PASSWORD]);
      await conn.query(`GRANT SELECT ON ${mysql.escapeId(db.name)}.* TO ?@?`, [tlsUser, '%']);
    });
    try {
      const url = new URL(db.url);
      url.username = tlsUser;
      url.password = encodeURIComponent(PASSWORD);
      const result = await runCli(['check', '--url', url.toString()]);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('If the account requires TLS (REQUIRE SSL), turn it on: --ssl-ca FILE, or ?ssl=true in the URL.');
      // With TLS on, that is not the cause: not said.
      const error = Object.assign(new Error("Access denied for user 'x'@'h' (using password: YES)"), { code: 'ER_ACCESS_DENIED_ERROR', errno: 1045 });
      const config = { host: 'h', port: 3306, user: 'x', database: 'd', password: 'p', connectTimeoutMs: 5000 };
      expect(toDatabaseError(error, { ...config, ssl: { rejectUnauthorized: true } }).message).not.toContain('REQUIRE SSL');
    } finally {
      await admin((conn) => conn.query('DROP USER IF EXISTS ?@?', [tlsUser, '%']));
    }
  });

  it('without the server saying "(using password: …)", falls back on whether a password was configured', () => {
    const error = Object.assign(new Error("Access denied for user 'x'@'h'"), { code: 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR', errno: 1698 });
    const config = { host: 'h', port: 3306, user: 'x', database: 'd', ssl: undefined, connectTimeoutMs: 5000 };
    expect(toDatabaseError(error, { ...config, password: undefined }).message).toContain('no password was given');
    expect(toDatabaseError(error, { ...config, password: 's3cret' }).message).toContain('the password was refused');
    expect(toDatabaseError(error, { ...config, password: 's3cret' }).message).not.toContain('s3cret');
  });
});
