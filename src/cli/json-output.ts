import { inPieces } from './pieces.js';

/**
 * Writes `JSON.stringify(value, null, 2)` and a newline, the same bytes, in pieces of 64 KiB and
 * more (up to a slice of 250 elements of a long array more): a report of a million drifted
 * settings is hundreds of megabytes as one string (and as much again while it is written). Objects
 * outside the long arrays are walked here; an array longer than `longArray` is stringified a slice
 * at a time, at its depth. Unlike JSON.stringify, a value it cannot write (a BigInt, a cycle) throws
 * after the pieces before it were written, and a getter of a walked object is read twice; no report
 * holds either.
 */
export function writeJson(write: (text: string) => unknown, value: unknown, longArray = 1000): void {
  const pieces = inPieces(write);
  const out = pieces.add;
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
  /** Walked here, not stringified whole: a plain object, or a long array, without a toJSON. */
  const walked = (item: unknown): item is object =>
    item !== null && typeof item === 'object' && typeof (item as { toJSON?: unknown }).toJSON !== 'function' && (Array.isArray(item) ? item.length > longArray : isPlainObject(item));
  const walk = (item: object, indent: string): void => {
    const inner = `${indent}  `;
    if (Array.isArray(item)) {
      // In slices of 250 elements, each slice one JSON.stringify (about as fast as one call for
      // the whole array), re-indented to this depth. A slice holding an element with a toJSON goes
      // element by element, so that toJSON is called with the element's own index, as
      // JSON.stringify does. Holes are written as null either way.
      out('[');
      for (let start = 0; start < item.length; start += 250) {
        const end = Math.min(item.length, start + 250);
        out(start === 0 ? '\n' : ',\n');
        let plain = true;
        for (let i = start; i < end && plain; i++) plain = typeof (item[i] as { toJSON?: unknown } | null | undefined)?.toJSON !== 'function';
        if (plain) {
          const text = JSON.stringify(item.slice(start, end), null, 2);
          out(indent + text.slice(2, -2).replaceAll('\n', `\n${indent}`));
          continue;
        }
        for (let i = start; i < end; i++) out(`${i === start ? '' : ',\n'}${inner}${leaf(item, String(i), inner) ?? 'null'}`);
      }
      out(`\n${indent}]`);
      return;
    }
    let first = true;
    for (const key of Object.keys(item)) {
      const v = (item as Record<string, unknown>)[key];
      const text = walked(v) ? null : leaf(item, key, inner);
      if (text === undefined) continue;
      out(`${first ? '{' : ','}\n${inner}${JSON.stringify(key)}: `);
      first = false;
      if (text === null) walk(v as object, inner);
      else out(text);
    }
    out(first ? '{}' : `\n${indent}}`);
  };
  if (walked(value)) walk(value, '');
  else out(String(leaf({ '': value }, '', '')));
  out('\n');
  pieces.flush();
}

/** An object JSON.stringify writes key by key (no toJSON of its own, not an array). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
