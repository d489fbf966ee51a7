import { describe, expect, it } from 'vitest';
import { nextPageEnd } from '../../src/core/detect-drift.js';
import { fitConcurrency } from '../../src/core/run.js';

/** nextPageEnd (src/core/detect-drift.ts): where a page ends without a boundary read, and when one is needed. */

describe('nextPageEnd', () => {
  it('reads the boundary for the first page, before a page was measured, and where ids are sparse', () => {
    expect(nextPageEnd(null, 10, 1, 1000n)).toBe('read');
    expect(nextPageEnd(100n, 10, null, 1000n)).toBe('read');
    expect(nextPageEnd(100n, 10, 0.49, 1000n)).toBe('read');
    expect(nextPageEnd(100n, 10, 0, 1000n)).toBe('read');
    expect(nextPageEnd(100n, 10, Number.NaN, 1000n)).toBe('read');
  });

  it('ends a page size / density ids on, so it holds at most 2 × size settings whatever the ids', () => {
    expect(nextPageEnd(100n, 10, 1, 1000n)).toBe(110n);
    expect(nextPageEnd(100n, 10, 0.5, 1000n)).toBe(120n);
    expect(nextPageEnd(100n, 10, 0.75, 1000n)).toBe(114n); // ceil(13.3)
    expect(nextPageEnd(9007199254740990n, 10, 1, 9007199254741999n)).toBe(9007199254741000n); // exact past 2^53
  });

  it('the page that reaches the highest id at the start is the last, open-ended one', () => {
    expect(nextPageEnd(995n, 10, 1, 1000n)).toBeNull();
    expect(nextPageEnd(990n, 10, 1, 1000n)).toBeNull();
    expect(nextPageEnd(1000n, 10, 1, 1000n)).toBeNull();
    expect(nextPageEnd(1200n, 10, 1, 1000n)).toBeNull();
    expect(nextPageEnd(100n, 10, 1, null)).toBeNull();
  });
});

describe('fitConcurrency', () => {
  it('reads as many pages at once as asked, within the connections the account may hold (3 kept for the rest)', () => {
    expect(fitConcurrency(4, null)).toBe(4);
    expect(fitConcurrency(4, 100)).toBe(4);
    expect(fitConcurrency(4, 6)).toBe(3);
    expect(fitConcurrency(4, 4)).toBe(1);
    expect(fitConcurrency(2, 1)).toBe(1);
  });
});
