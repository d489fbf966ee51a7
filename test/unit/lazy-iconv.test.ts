import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/** src/build/lazy-iconv.cts, as built (the bundle's mysql2 gets it for `require('iconv-lite')`). */
const require = createRequire(import.meta.url);
type Iconv = { getDecoder(encoding: string, options?: unknown): { write(buffer: Buffer): string; end(): string | undefined } };
const { lazyIconv } = require('../../dist/build/lazy-iconv.cjs') as { lazyIconv: (load: () => Iconv) => Iconv };
const iconv = require(require.resolve('iconv-lite', { paths: [require.resolve('mysql2')] })) as Iconv;

function counted(): { shim: Iconv; loads: () => number } {
  let loads = 0;
  return {
    shim: lazyIconv(() => {
      loads += 1;
      return iconv;
    }),
    loads: () => loads,
  };
}

/** As mysql2's StringParser.decode uses a decoder: write, then end, for each value. */
function decode(decoder: ReturnType<Iconv['getDecoder']>, bytes: number[]): string {
  const text = decoder.write(Buffer.from(bytes));
  const trail = decoder.end();
  return trail ? text + trail : text;
}

describe('lazyIconv', () => {
  it('decodes an ASCII cesu8 value (a server version) without loading iconv-lite', () => {
    const { shim, loads } = counted();
    const decoder = shim.getDecoder('cesu8');
    expect(decode(decoder, [...Buffer.from('10.11.19-MariaDB-0+deb12u1')])).toBe('10.11.19-MariaDB-0+deb12u1');
    expect(decode(decoder, [])).toBe('');
    expect(loads()).toBe(0);
  });

  it('hands anything else to iconv-lite, which it loads once, and decodes as iconv-lite does', () => {
    const { shim, loads } = counted();
    const decoder = shim.getDecoder('cesu8');
    // U+1F600 in CESU-8: a surrogate pair, three bytes each; then é; then ASCII again on the same decoder
    const emoji = [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80];
    expect(decode(decoder, emoji)).toBe('\u{1F600}');
    expect(decode(decoder, emoji)).toBe(decode(iconv.getDecoder('cesu8'), emoji));
    expect(decode(decoder, [0xc3, 0xa9])).toBe('é');
    expect(decode(decoder, [0x61])).toBe('a');
    expect(decode(shim.getDecoder('cp1252'), [0x80])).toBe('€');
    expect(loads()).toBe(1);
  });

  it('keeps a BOM where iconv-lite keeps it: on every value but the first its decoder sees', () => {
    const bom = [0xef, 0xbb, 0xbf, 0xc3, 0xa9]; // U+FEFF é
    for (const before of [[], [0x61]]) {
      const { shim } = counted();
      const mine = shim.getDecoder('cesu8');
      const theirs = iconv.getDecoder('cesu8');
      const values = [before, bom, bom].filter((bytes) => bytes.length > 0);
      expect(values.map((bytes) => decode(mine, bytes))).toEqual(values.map((bytes) => decode(theirs, bytes)));
    }
  });
});
