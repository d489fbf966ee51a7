import { describe, expect, it } from 'vitest';
import { modelFromConfig } from '../../src/core/config-schema.js';

/** The message modelFromConfig throws for a config file's text. */
function refusal(text: string): string {
  try {
    modelFromConfig(JSON.parse(text) as unknown, 'c.json');
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`accepted: ${text}`);
}

describe('config errors name what is wrong (from the bad-input trial)', () => {
  it('a counter named __proto__ is said to be one (it had vanished: "name at least one counter")', () => {
    expect(refusal('{"counters": {"__proto__": {"table": "g_coupons", "foreignKey": "settingId"}}}')).toBe('c.json: counters.__proto__: a counter cannot be named __proto__.');
  });

  it('a counter name past 64 characters: the range, the name cut (it was "Invalid key in record." after the whole name)', () => {
    const long = 'x'.repeat(70);
    expect(refusal(`{"counters": {"${long}": {"table": "g_coupons", "foreignKey": "settingId"}}}`)).toBe(
      `c.json: counters.${'x'.repeat(40)}…: not a counter name: expected a name of 1 to 64 characters.`,
    );
  });
});
