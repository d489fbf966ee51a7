import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { driftedSettingJson } from '../../src/core/report.js';
import { jsonInteger, jsonIntegerOrNull } from '../../src/core/json.js';
import type { DriftedSetting } from '../../src/core/drift.js';

const MAX = 2n ** 53n - 1n; // Number.MAX_SAFE_INTEGER

describe('counts in the JSON report: a JSON number while safe (|n| ≤ 2^53−1), a decimal string past that', () => {
  it.each([
    [0n, 0],
    [1n, 1],
    [-1n, -1],
    [MAX, 9007199254740991],
    [-MAX, -9007199254740991],
  ])('%s is the number %s', (value, expected) => {
    expect(jsonInteger(value)).toBe(expected);
    expect(Number.isSafeInteger(jsonInteger(value))).toBe(true);
  });

  it.each([
    [MAX + 1n, '9007199254740992'],
    [MAX + 2n, '9007199254740993'],
    [-(MAX + 1n), '-9007199254740992'],
    [-(MAX + 2n), '-9007199254740993'],
    [2n ** 64n - 1n, '18446744073709551615'],
    [-(2n ** 63n), '-9223372036854775808'],
  ])('%s is the string %s', (value, expected) => {
    expect(jsonInteger(value)).toBe(expected);
    expect(BigInt(jsonInteger(value))).toBe(value);
  });

  it('null stays null (a NULL cache)', () => {
    expect(jsonIntegerOrNull(null)).toBeNull();
    expect(jsonIntegerOrNull(MAX)).toBe(9007199254740991);
    expect(jsonIntegerOrNull(MAX + 1n)).toBe('9007199254740992');
  });

  it('in a drifted setting, every value is exact after JSON.stringify and JSON.parse', () => {
    const setting: DriftedSetting = {
      id: 9007199254740993n,
      status: 'ACTIVE',
      deleted: false,
      counters: {
        issuedCount: { cached: MAX + 1n, actual: MAX, expected: MAX },
        usedCount: { cached: -(MAX + 1n), actual: 0n, expected: 0n },
      },
    };
    const parsed = JSON.parse(JSON.stringify(driftedSettingJson(setting)));
    expect(parsed).toEqual({
      id: '9007199254740993',
      status: 'ACTIVE',
      counters: {
        issuedCount: { cached: '9007199254740992', actual: 9007199254740991, expected: 9007199254740991 },
        usedCount: { cached: '-9007199254740992', actual: 0, expected: 0 },
      },
    });
  });

  it("the README's JSON report section states the rule", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### JSON report'), readme.indexOf('\n## ', readme.indexOf('### JSON report')));
    expect(section).toContain('2^53−1');
    expect(section).toMatch(/decimal string/);
  });
});
