import { describe, expect, it } from 'vitest';
import { resolveConnectionConfig } from '../../src/db/connection-config.js';

/** The message resolveConnectionConfig throws for `url`. */
function refusal(url: string): string {
  try {
    resolveConnectionConfig({ url, env: {} });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`accepted: ${url}`);
}

describe('a database URL that does not parse', () => {
  it('is never echoed where it is no URL (a DSN holds its password where no mask looks)', () => {
    // A trial's forms: each message had echoed the password.
    for (const url of ['host=127.0.0.1 user=u password=secretpw dbname=d', 'Server=127.0.0.1;Uid=u;Pwd=secretpw;', 'u/secretpw@127.0.0.1', 'not a url secretpw']) {
      const message = refusal(url);
      expect(message).toBe('The database URL is malformed (not shown: it is not a URL, and may hold a password); expected mysql://user:password@host:3306/dbname.');
    }
  });

  it('is shown as a URL with its password masked', () => {
    expect(refusal('mysql://u:secret pw@host name/db')).toBe('The database URL is malformed (mysql://u:***@host name/db); expected mysql://user:password@host:3306/dbname.');
    expect(refusal('mysql://root@127.0.0.1:3306:3306/db')).toContain('(mysql://root@127.0.0.1:3306:3306/db)');
    // A password as a query option (a review's: echoed whole).
    expect(refusal('mysql://app@db1:99999/coupons?password=s3cret&ssl=true')).toContain('(mysql://app@db1:99999/coupons?password=***&ssl=true)');
  });
});

describe('a database URL that parses but names no server or database', () => {
  it('refuses port 0 (the driver took 3306) and a NUL in the database name (the handshake failed, exit 3)', () => {
    expect(refusal('mysql://root:pw@127.0.0.1:0/db')).toBe("The database URL's port is 0 (mysql://root:***@127.0.0.1:0/db); give the server's port, or leave it out for 3306.");
    expect(refusal('mysql://root@127.0.0.1/db%00')).toContain("The database URL's database name holds a NUL character (%00)");
  });
});
