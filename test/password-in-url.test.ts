import { describe, expect, it } from 'vitest';
import { maskUrl, resolveConnectionConfig } from '../src/db/connection-config.js';
import { UsageError } from '../src/errors.js';
import { runCli } from './helpers/cli.js';

/** URLs whose password holds a character a URL parser treats as a delimiter, with the password's parts. */
const CASES: { url: string; parts: string[] }[] = [
  { url: 'mysql://admin:1234/secret@db1:3306/coupons', parts: ['1234', 'secret'] },
  { url: 'mysql://admin:1234/secret@db1', parts: ['1234', 'secret'] },
  { url: 'mysql://admin:hun@ter2@db:xx/coupons', parts: ['hun', 'ter2'] },
  { url: 'mysql://admin:1234#secret@db1:3306/coupons', parts: ['1234', 'secret'] },
  { url: 'mysql://admin:4321?secret@db1:3306/coupons', parts: ['4321', 'secret'] },
  { url: 'mysql://admin:1234/coupons?secret@db1/coupons', parts: ['1234', 'secret'] },
  { url: 'mysql://admin:pa:ss@wo/rd#x?y@db1:3306/coupons', parts: ['pa:ss', 'wo/rd', '#x?y'] },
];

function expectNoPart(text: string, parts: string[]): void {
  for (const part of parts) expect(text).not.toContain(part);
}

describe('maskUrl: everything between ://user: and the last @ is masked', () => {
  it.each(CASES)('$url', ({ url, parts }) => {
    const masked = maskUrl(url);
    expectNoPart(masked, parts);
    expect(masked.startsWith('mysql://admin:***@')).toBe(true);
  });
  it('keeps what follows the last @ (host, port, database) and URLs without a password', () => {
    expect(maskUrl('mysql://admin:1234/secret@db1:3306/coupons')).toBe('mysql://admin:***@db1:3306/coupons');
    expect(maskUrl('mysql://admin:hun@ter2@db:xx/coupons')).toBe('mysql://admin:***@db:xx/coupons');
    expect(maskUrl('mysql://u:p%40ss@h:1/d')).toBe('mysql://u:***@h:1/d');
    expect(maskUrl('mysql://admin@db1:3306/coupons')).toBe('mysql://admin@db1:3306/coupons');
    expect(maskUrl('mysql://db1:3306/coupons')).toBe('mysql://db1:3306/coupons');
  });
  it('masks without a scheme or with a mangled one', () => {
    expect(maskUrl('admin:se/cret@db1/coupons')).toBe('admin:***@db1/coupons');
    expect(maskUrl('mysql:/admin:se/cret@db1/coupons')).not.toContain('cret');
  });
});

describe('resolveConnectionConfig never lets a password through as host, port, path or query', () => {
  it.each(CASES)('$url is a usage error that names no part of the password', ({ url, parts }) => {
    let caught: unknown;
    try {
      resolveConnectionConfig({ url, env: {} });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expectNoPart((caught as Error).message, parts);
  });
  it('still reads a percent-encoded password', () => {
    const config = resolveConnectionConfig({ url: 'mysql://admin:1234%2Fs%40c%3Ar%23t%3F@db1:3306/coupons', env: {} });
    expect(config).toMatchObject({ user: 'admin', password: '1234/s@c:r#t?', host: 'db1', port: 3306, database: 'coupons' });
  });
});

describe('the CLI never echoes a password given in --url', () => {
  it.each(CASES)('check --url $url exits 2 and stderr holds no part of the password', async ({ url, parts }) => {
    const result = await runCli(['check', '--url', url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/database URL/);
    expectNoPart(result.stderr + result.stdout, parts);
  });
  it('the same through DATABASE_URL, with --verbose', async () => {
    const result = await runCli(['check', '--verbose'], { env: { DATABASE_URL: 'mysql://admin:1234/secret@db1:3306/coupons' } });
    expect(result.code).toBe(2);
    expectNoPart(result.stderr + result.stdout, ['1234', 'secret']);
  });
});
