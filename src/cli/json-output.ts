import { inPieces } from './pieces.js';

/**
 * A long array that is written as `map` of each of `items`, a slice at a time: the JSON form of a
 * report's rows (src/core/report.ts checkReportJson's `list`) then never exists whole beside the
 * rows it is made from. jsonText writes it exactly as it would write the mapped array.
 */
export class MappedArray<T, U> {
  constructor(
    readonly items: readonly T[],
    readonly map: (item: T) => U,
  ) {}

  get length(): number {
    return this.items.length;
  }

  slice(start: number, end: number): U[] {
    return this.items.slice(start, end).map((item) => this.map(item));
  }

  /** What JSON.stringify writes for it (one inside a value stringified whole): the mapped array. */
  toJSON(): U[] {
    return this.items.map((item) => this.map(item));
  }
}

/**
 * `JSON.stringify(value, null, 2)` and a newline, the same bytes, as pieces of 64 KiB and more (up
 * to a slice of 250 elements of a long array more), each made when it is asked for (pieces.ts
 * writePieces asks when the stream has room): a report of a million drifted settings is hundreds of
 * megabytes as one string (and as much again while it is written). Objects outside the long arrays
 * are walked here; an array longer than `longArray` (or a MappedArray of any length) is stringified a
 * slice at a time, at its depth. Unlike JSON.stringify, a value it cannot write (a BigInt, a cycle)
 * throws after the pieces before it were made, and a getter of a walked object is read twice; no
 * report holds either.
 */
export function jsonText(value: unknown, longArray = 1000): Generator<string, void, undefined> {
  /**
   * JSON.stringify(…, null, 2) of `holder[key]` as it is written at `indent`; undefined when it is
   * left out (undefined, a function, a symbol, or what its toJSON(key) makes of it).
   */
  const leaf = (holder: object, key: string, indent: string): string | undefined => {
    const text = JSON.stringify({ [key]: (holder as Record<string, unknown>)[key] }, null, 2);
    if (text === '{}') return undefined;
    const opening = `{\n  ${JSON.stringify(key)}: `;
    return text.slice(opening.length, -2).replaceAll('\n  ', '\n').replaceAll('\n', `\n${indent}`);
  };
  /** Walked here, not stringified whole: a plain object, a long array without a toJSON, or a MappedArray. */
  const walked = (item: unknown): item is object =>
    item instanceof MappedArray ||
    (Array.isArray(item) ? item.length > longArray && typeof (item as { toJSON?: unknown }).toJSON !== 'function' : isPlainObject(item));
  function* walk(item: object, indent: string): Generator<string, void, undefined> {
    const inner = `${indent}  `;
    if (item instanceof MappedArray || Array.isArray(item)) {
      const list = item as MappedArray<unknown, unknown> | unknown[];
      if (list.length === 0) {
        yield '[]';
        return;
      }
      // In slices of 250 elements, each slice one JSON.stringify (about as fast as one call for
      // the whole array), re-indented to this depth. A slice holding an element with a toJSON goes
      // element by element, so that toJSON is called with the element's own index, as
      // JSON.stringify does. Holes are written as null either way.
      yield '[';
      for (let start = 0; start < list.length; start += 250) {
        const end = Math.min(list.length, start + 250);
        const slice = list.slice(start, end);
        yield start === 0 ? '\n' : ',\n';
        let plain = true;
        for (let i = 0; i < slice.length && plain; i++) plain = typeof (slice[i] as { toJSON?: unknown } | null | undefined)?.toJSON !== 'function';
        if (plain) {
          const text = JSON.stringify(slice, null, 2);
          yield indent + text.slice(2, -2).replaceAll('\n', `\n${indent}`);
          continue;
        }
        // Each element at its index in the whole array, as JSON.stringify calls toJSON(key).
        const holder: unknown[] = [];
        for (let i = 0; i < slice.length; i++) {
          holder[start + i] = slice[i];
          yield `${i === 0 ? '' : ',\n'}${inner}${leaf(holder, String(start + i), inner) ?? 'null'}`;
        }
      }
      yield `\n${indent}]`;
      return;
    }
    let first = true;
    for (const key of Object.keys(item)) {
      const v = (item as Record<string, unknown>)[key];
      const text = walked(v) ? null : leaf(item, key, inner);
      if (text === undefined) continue;
      yield `${first ? '{' : ','}\n${inner}${JSON.stringify(key)}: `;
      first = false;
      if (text === null) yield* walk(v as object, inner);
      else yield text;
    }
    yield first ? '{}' : `\n${indent}}`;
  }
  function* whole(): Generator<string, void, undefined> {
    if (walked(value)) yield* walk(value, '');
    else yield String(leaf({ '': value }, '', ''));
    yield '\n';
  }
  return inPieces(whole());
}

/** An object JSON.stringify writes key by key (no toJSON of its own, not an array). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * report.ts ListOf for a report that is written by jsonText and not kept: its lists mapped a slice
 * at a time. What it returns is typed as the array it stands for but is not one (no .map, no
 * spread, Array.isArray false): only jsonText and JSON.stringify (toJSON) may read it.
 */
export const mappedAsWritten = <T, U>(items: readonly T[], map: (item: T) => U): U[] => new MappedArray(items, map) as unknown as U[];
