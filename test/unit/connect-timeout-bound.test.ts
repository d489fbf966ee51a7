import { describe, expect, it } from 'vitest';
import { MAX_CONNECT_TIMEOUT_MS, resolveConnectionConfig } from '../../src/db/connection-config.js';
import { UsageError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';

const resolve = (query: string) => resolveConnectionConfig({ url: `mysql://app@db1:3306/coupons?${query}`, env: {} });

describe('connectTimeout in the URL is bounded (Node timers overflow past 2^31-1 ms)', () => {
  it('accepts 1 ms to 10 minutes', () => {
    expect(MAX_CONNECT_TIMEOUT_MS).toBe(600_000);
    expect(resolve('connectTimeout=1').connectTimeoutMs).toBe(1);
    expect(resolve('connectTimeout=3000').connectTimeoutMs).toBe(3000);
    expect(resolve('connectTimeout=600000').connectTimeoutMs).toBe(600_000);
    expect(resolve('connect_timeout=600000').connectTimeoutMs).toBe(600_000);
  });
  it.each(['connectTimeout=600001', 'connectTimeout=3000000000', 'connect_timeout=2147483648', 'connectTimeout=99999999999999999999', 'connectTimeout=0', 'connectTimeout=-5', 'connectTimeout=1.5', 'connectTimeout=1e3'])(
    '%s is a usage error naming the range',
    (query) => {
      let caught: unknown;
      try {
        resolve(query);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(UsageError);
      expect((caught as UsageError).exitCode).toBe(2);
      expect((caught as Error).message).toContain('from 1 to 600000');
    },
  );
  it('bounds a timeout given by a caller as well', () => {
    expect(() => resolveConnectionConfig({ url: 'mysql://app@db1/coupons', env: {}, connectTimeoutMs: 3_000_000_000 })).toThrow(UsageError);
    expect(resolveConnectionConfig({ url: 'mysql://app@db1/coupons', env: {}, connectTimeoutMs: 600_000 }).connectTimeoutMs).toBe(600_000);
  });
  it('the CLI exits 2 with that sentence, and Node never warns of a timer overflow', async () => {
    const result = await runCli(['check', '--url', 'mysql://app@db1:3306/coupons?connectTimeout=3000000000']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('from 1 to 600000');
    expect(result.stderr).not.toContain('TimeoutOverflowWarning');
  });
});
