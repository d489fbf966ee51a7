import { describe, expect, it } from 'vitest';
import { idleVerdict } from '../../src/db/stalls.js';

/** Times in ms; the transaction opened at 0, the statement that failed was sent at 20,000. */
const base = { limitMs: 10_000, openedAt: 0, idleBeforeLastMs: 5, lastSentAt: 20_000 };

describe('idleVerdict: did the server end the transaction for sitting idle before the last statement reached it?', () => {
  it('surely, when the connection sat that long before the statement was sent (a slow beforeCommit)', () => {
    expect(idleVerdict({ ...base, idleBeforeLastMs: 10_500, statements: [], stalls: [] })).toBe('surely');
  });

  it('surely, when the process stalled that long while no statement of it ran (stopped between statements)', () => {
    const statements = [{ sent: 100, done: 110 }, { sent: 120, done: 130 }, { sent: 20_000, done: null }];
    expect(idleVerdict({ ...base, statements, stalls: [{ from: 200, to: 19_900 }] })).toBe('surely');
  });

  it('maybe, when it stalled that long while a statement ran (its answer, read after, looks fresh)', () => {
    const statements = [{ sent: 100, done: 19_950 }, { sent: 20_000, done: null }];
    expect(idleVerdict({ ...base, statements, stalls: [{ from: 200, to: 19_900 }] })).toBe('maybe');
  });

  it('no, for a shorter stall, one outside the transaction, or no transaction open', () => {
    const statements = [{ sent: 100, done: 110 }];
    expect(idleVerdict({ ...base, statements, stalls: [{ from: 200, to: 9_000 }] })).toBe('no');
    expect(idleVerdict({ ...base, openedAt: 15_000, statements, stalls: [{ from: -20_000, to: 14_000 }] })).toBe('no');
    expect(idleVerdict({ ...base, openedAt: null, idleBeforeLastMs: 60_000, statements, stalls: [{ from: 200, to: 19_900 }] })).toBe('no');
  });
});
