import { describe, expect, it } from 'vitest';
import { writeJson } from '../../src/cli/json-output.js';

/** writeJson (src/cli/json-output.ts): the bytes of JSON.stringify(value, null, 2), written in pieces. */

function written(value: unknown, longArray?: number): { text: string; pieces: number } {
  const pieces: string[] = [];
  writeJson((text) => pieces.push(text), value, longArray);
  return { text: pieces.join(''), pieces: pieces.length };
}

const setting = (id: number) => ({
  id: id === 3 ? '9007199254740993' : id,
  status: id % 2 === 0 ? 'ACTIVE' : 'line\nbreak "quoted" 有効',
  counters: { issuedCount: { cached: id === 1 ? null : id, actual: 2, expected: 2 }, usedCount: { cached: 0, actual: 0, expected: 0 } },
  note: undefined,
});

describe('writeJson', () => {
  it.each([
    ['a report with long arrays', { version: 1, summary: { scanned: 12, drifted: 7 }, drifted: Array.from({ length: 7 }, (_, i) => setting(i)), orphans: [] }],
    ['nested long arrays, empty objects and arrays', { a: [[1, 2], [], {}], b: { c: Array.from({ length: 5 }, (_, i) => [i, { d: i }]) }, e: {} }],
    ['left-out properties and array holes', { keep: 1, gone: undefined, f: () => 1, list: [undefined, () => 1, 2, null, 'x', undefined] }],
    ['a value with toJSON and a class instance', { when: new Date(0), url: new URL('http://x/'), inst: new (class { x = 1; y = [1, 2, 3, 4] })() }],
    ['a top-level long array', Array.from({ length: 6 }, (_, i) => ({ i }))],
    ['scalars', 'text'],
  ])('%s: the same bytes as JSON.stringify', (_, value) => {
    expect(written(value, 2).text).toBe(`${JSON.stringify(value, null, 2)}\n`);
    expect(written(value).text).toBe(`${JSON.stringify(value, null, 2)}\n`);
  });

  it('writes a long report in pieces of about 64 KiB, not as one string', () => {
    const value = { summary: { drifted: 5000 }, drifted: Array.from({ length: 5000 }, (_, i) => setting(i)) };
    const { text, pieces } = written(value);
    expect(text).toBe(`${JSON.stringify(value, null, 2)}\n`);
    expect(pieces).toBeGreaterThan(Math.floor(text.length / 70_000));
  });
});
