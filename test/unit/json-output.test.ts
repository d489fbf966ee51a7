import { describe, expect, it } from 'vitest';
import { jsonText, MappedArray } from '../../src/cli/json-output.js';

/** jsonText (src/cli/json-output.ts): the bytes of JSON.stringify(value, null, 2), made in pieces. */

function written(value: unknown, longArray?: number): { text: string; pieces: number } {
  const pieces = [...jsonText(value, longArray)];
  return { text: pieces.join(''), pieces: pieces.length };
}

const setting = (id: number) => ({
  id: id === 3 ? '9007199254740993' : id,
  status: id % 2 === 0 ? 'ACTIVE' : 'line\nbreak "quoted" 有効',
  counters: { issuedCount: { cached: id === 1 ? null : id, actual: 2, expected: 2 }, usedCount: { cached: 0, actual: 0, expected: 0 } },
  note: undefined,
});

describe('jsonText', () => {
  it.each([
    ['a report with long arrays', { version: 1, summary: { scanned: 12, drifted: 7 }, drifted: Array.from({ length: 7 }, (_, i) => setting(i)), orphans: [] }],
    ['nested long arrays, empty objects and arrays', { a: [[1, 2], [], {}], b: { c: Array.from({ length: 5 }, (_, i) => [i, { d: i }]) }, e: {} }],
    ['left-out properties and array holes', { keep: 1, gone: undefined, f: () => 1, list: [undefined, () => 1, 2, null, 'x', undefined] }],
    ['a value with toJSON and a class instance', { when: new Date(0), url: new URL('http://x/'), inst: new (class { x = 1; y = [1, 2, 3, 4] })() }],
    ['a top-level long array', Array.from({ length: 6 }, (_, i) => ({ i }))],
    ['scalars', 'text'],
    ['holes in a long array', { list: [1, , 3, , 5], lead: [, 2, 3] }], // eslint-disable-line no-sparse-arrays
    ['toJSON that leaves a value out, or reads its key', { a: { toJSON: () => undefined }, b: 1, c: [{ toJSON: (key: string) => `at ${key}` }, 2, 3], d: { toJSON: (key: string) => ({ key }) } }],
    ['a long array with a toJSON of its own', { list: Object.assign([1, 2, 3], { toJSON: () => 'mine' }) }],
    ['a __proto__ key and a numeric-like key', JSON.parse('{"__proto__": [1, 2, 3], "2": "two", "x": {"1": [4, 5, 6]}}') as unknown],
  ])('%s: the same bytes as JSON.stringify', (_, value) => {
    expect(written(value, 2).text).toBe(`${JSON.stringify(value, null, 2)}\n`);
    expect(written(value).text).toBe(`${JSON.stringify(value, null, 2)}\n`);
  });

  it('a value left out at the top is written as a template literal would (not a crash)', () => {
    expect(written(undefined).text).toBe('undefined\n');
    expect(written({ toJSON: () => undefined }).text).toBe('undefined\n');
  });

  it('writes a long report in pieces of a bounded size, not as one string', () => {
    const value = { summary: { drifted: 5000 }, drifted: Array.from({ length: 5000 }, (_, i) => setting(i)) };
    const pieces = [...jsonText(value)];
    expect(pieces.join('')).toBe(`${JSON.stringify(value, null, 2)}\n`);
    expect(pieces.length).toBeGreaterThan(5);
    expect(Math.max(...pieces.map((piece) => piece.length))).toBeLessThan(65_536 + 250 * 400); // 64 KiB and a slice of 250 settings
  });

  it('writes a MappedArray as the array it maps to, mapping a slice at a time as the pieces are asked for', () => {
    const items = Array.from({ length: 2600 }, (_, i) => i);
    let mapped = 0;
    const map = (i: number) => {
      mapped += 1;
      return setting(i);
    };
    const expected = `${JSON.stringify({ version: 1, drifted: items.map(setting), after: [] }, null, 2)}\n`;
    const pieces = jsonText({ version: 1, drifted: new MappedArray(items, map), after: [] });
    const first = pieces.next();
    expect(first.done).toBe(false);
    expect(mapped).toBeLessThan(items.length); // not mapped whole before the first piece
    const text = (first.value as string) + [...pieces].join('');
    expect(text).toBe(expected);
    expect(mapped).toBe(items.length); // each once
  });

  it('calls a MappedArray\'s map with the item alone, in a slice as in toJSON (an index would differ between them)', () => {
    const argumentsSeen = (_item: number, ...rest: unknown[]) => rest.length;
    const items = new Array<number>(600).fill(7);
    const expected = `${JSON.stringify({ walked: new Array(600).fill(0), whole: [new Array(3).fill(0)] }, null, 2)}\n`;
    expect(written({ walked: new MappedArray(items, argumentsSeen), whole: [new MappedArray([1, 2, 3], argumentsSeen)] }).text).toBe(expected);
  });

  it('writes MappedArrays that are empty, short, nested in a short array or hold values with toJSON as JSON.stringify writes what they map to', () => {
    const value = {
      empty: new MappedArray([], (i: number) => i),
      short: new MappedArray([1, 2], (i) => ({ i })),
      inside: [new MappedArray([3], (i) => i * 2)],
      dates: new MappedArray([0, 1], (i) => new Date(i * 1000)),
    };
    const plain = { empty: [], short: [{ i: 1 }, { i: 2 }], inside: [[6]], dates: [new Date(0), new Date(1000)] };
    expect(written(value).text).toBe(`${JSON.stringify(plain, null, 2)}\n`);
    expect(written(value, 0).text).toBe(`${JSON.stringify(plain, null, 2)}\n`);
  });
});
