import { WriteStream } from 'node:tty';
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { counterList, metricsFile, secondsIn, settingIds, wholeNumberIn } from '../../src/cli/options.js';
import { colorLevel } from '../../src/cli/terminal.js';
import { maskUrl, resolveConnectionConfig } from '../../src/db/connection-config.js';
import { UsageError } from '../../src/errors.js';
import { DEFAULT_MODEL } from '../../src/core/model.js';
import { counterNames, settingId } from '../../src/core/validate.js';

describe('option parsers', () => {
  it('whole numbers in a range', () => {
    const parse = wholeNumberIn({ min: 1, max: 100 });
    expect(parse('5')).toBe(5);
    for (const bad of ['0', '-5', 'abc', '1.5', '101', '']) expect(() => parse(bad)).toThrow(InvalidArgumentError);
  });
  it("seconds with a fraction ('.1' as '0.1'), and a metrics file path that is one", () => {
    const parse = secondsIn({ min: 0.05, max: 60 });
    expect(parse('.1')).toBe(0.1);
    expect(parse('0.05')).toBe(0.05);
    for (const bad of ['.', '1.', '-1', '0.01', '61', 'x', '']) expect(() => parse(bad), bad).toThrow(InvalidArgumentError);
    expect(metricsFile('/var/lib/node_exporter/coupon.prom')).toBe('/var/lib/node_exporter/coupon.prom');
    for (const bad of ['', ' ', 'a\0b']) expect(() => metricsFile(bad)).toThrow(InvalidArgumentError);
  });
  it('setting ids, exact past 2^53, accumulating', () => {
    expect(settingIds('1, 9007199254740993', undefined)).toEqual([1n, 9007199254740993n]);
    expect(settingIds('3', [1n])).toEqual([1n, 3n]);
    for (const bad of ['', '1,,2', 'x', '1.5', '1'.repeat(66)]) expect(() => settingIds(bad, undefined)).toThrow(InvalidArgumentError);
    // Past BIGINT: a DECIMAL(30,0) key's ids, which a full check reports.
    expect(settingIds('100000000000000000000001', undefined)).toEqual([100000000000000000000001n]);
  });
  it("the library's ids: a number that is no whole number is said to be one, one past 2^53 to come as a string or bigint", () => {
    expect(settingId(7)).toBe(7n);
    expect(() => settingId(2.5)).toThrow('2.5 is not a setting id (a whole number).');
    expect(() => settingId(Number.NaN)).toThrow('NaN is not a setting id (a whole number).');
    expect(() => settingId(2 ** 60)).toThrow('1152921504606847000 is past 2^53, where a number is not exact: pass such an id as a string or a bigint.');
    expect(settingId(10n ** 64n)).toBe(10n ** 64n);
    expect(() => settingId(10n ** 65n)).toThrow('out of range for a setting id (at most 65 digits)');
  });
  it('counters: names collected from repeated flags, checked against the model once it is loaded', () => {
    expect(counterList('usedcount', undefined)).toEqual(['usedcount']);
    expect(counterList('issuedCount', counterList('usedCount', undefined))).toEqual(['usedCount', 'issuedCount']);
    // An empty entry is a mistake, as in --ids.
    for (const bad of [' , ', 'issuedCount,', 'issuedCount,,usedCount', '']) expect(() => counterList(bad, undefined)).toThrow(InvalidArgumentError);
    expect(counterNames(DEFAULT_MODEL, ['usedcount', 'issuedCount', 'usedCount'])).toEqual(['usedCount', 'issuedCount']);
    expect(() => counterNames(DEFAULT_MODEL, ['total'])).toThrow(UsageError);
  });
});

describe('connection config', () => {
  it('reads user, password, host, port, database; MYSQL_PWD when the URL has none', () => {
    expect(resolveConnectionConfig({ url: 'mysql://app:p%40ss@db.example:3307/coupons', env: {} })).toMatchObject({
      host: 'db.example',
      port: 3307,
      user: 'app',
      password: 'p@ss',
      database: 'coupons',
    });
    expect(resolveConnectionConfig({ url: 'mysql://app@h/d', env: { MYSQL_PWD: 'fromenv' } }).password).toBe('fromenv');
    expect(resolveConnectionConfig({ url: undefined, env: { DATABASE_URL: 'mysql://h/d' } }).user).toBe('root');
  });
  it('turns TLS on with ?ssl=true, and off by default', () => {
    expect(resolveConnectionConfig({ url: 'mysql://h/d', env: {} }).ssl).toBeUndefined();
    expect(resolveConnectionConfig({ url: 'mysql://h/d?ssl=true', env: {} }).ssl).toEqual({ rejectUnauthorized: true });
    expect(resolveConnectionConfig({ url: 'mysql://h/d?ssl=skip-verify', env: {} }).ssl).toEqual({ rejectUnauthorized: false });
  });
  it.each(['', 'nonsense', 'http://h/d', 'mysql://h', 'mysql://h/d?bogus=1', 'mysql://h/d?ssl=maybe'])(
    'rejects %j as a usage error',
    (url) => {
      expect(() => resolveConnectionConfig({ url, env: {} })).toThrow(UsageError);
    },
  );
  it('masks passwords, even in URLs it cannot parse', () => {
    expect(maskUrl('mysql://u:secret@h:1/d')).toBe('mysql://u:***@h:1/d');
    expect(maskUrl('mysql://u:se cret@h:1 d')).not.toContain('se cret');
  });
});

describe('colour', () => {
  const tty = { write: () => true, isTTY: true, getColorDepth: () => 8 };
  const pipe = { write: () => true };
  it('is on for a terminal, off for a pipe, off with NO_COLOR, forced with FORCE_COLOR', () => {
    expect(colorLevel(tty, {})).toBe(2);
    expect(colorLevel(pipe, {})).toBe(0);
    expect(colorLevel(tty, { NO_COLOR: '1' })).toBe(0);
    expect(colorLevel(tty, { NO_COLOR: '' })).toBe(2);
    expect(colorLevel(pipe, { FORCE_COLOR: '1' })).toBe(1);
    expect(colorLevel(tty, { FORCE_COLOR: '0' })).toBe(0);
  });
  it("an empty NO_COLOR is not set (no-color.org), though Node's own color depth takes it as set", () => {
    const real = { isTTY: true, getColorDepth: WriteStream.prototype.getColorDepth } as unknown as Parameters<typeof colorLevel>[0];
    expect(colorLevel(real, { TERM: 'xterm-256color', NO_COLOR: '' })).toBe(2);
    expect(colorLevel(real, { TERM: 'xterm-256color', NO_COLOR: '1' })).toBe(0);
  });
});
