import { describe, expect, it } from 'vitest';
import { printable } from '../../src/core/printable.js';

/** printable (src/core/printable.ts): database text as one line that cannot drive the terminal. */

describe('printable', () => {
  it('escapes control characters, separators and bidirectional overrides; leaves other text alone', () => {
    expect(printable('ACTIVE 有効 ✔')).toBe('ACTIVE 有効 ✔');
    expect(printable('a\nb\r\tc\x1b[2J\x7f\x9b')).toBe('a\\nb\\r\\tc\\x1b[2J\\x7f\\x9b');
    expect(printable('x\u2028y\u202ez\u2066')).toBe('x\\u2028y\\u202ez\\u2066');
  });

  it('two different values never print the same: a backslash is escaped too', () => {
    expect(printable('a\\nb')).toBe('a\\\\nb');
    expect(printable('a\nb')).not.toBe(printable('a\\nb'));
  });
});
