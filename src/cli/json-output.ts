/**
 * Writes `JSON.stringify(value, null, 2)` and a newline, the same bytes, in pieces of about 64 KiB:
 * a report of a million drifted settings is hundreds of megabytes as one string (and as much again
 * while it is written). Objects outside the long arrays are walked here; each element of an array
 * longer than `longArray` is stringified on its own, at its depth.
 */
export function writeJson(write: (text: string) => unknown, value: unknown, longArray = 1000): void {
  let pending: string[] = [];
  let size = 0;
  const out = (text: string): void => {
    pending.push(text);
    size += text.length;
    if (size >= 65_536) flush();
  };
  const flush = (): void => {
    if (pending.length > 0) write(pending.join(''));
    pending = [];
    size = 0;
  };
  /** A value at `indent` as JSON.stringify(…, null, 2) writes it there; undefined when it would be left out. */
  const leaf = (item: unknown, indent: string): string | undefined => JSON.stringify(item, null, 2)?.replaceAll('\n', `\n${indent}`);
  const walk = (item: unknown, indent: string): void => {
    const inner = `${indent}  `;
    if (Array.isArray(item) && item.length > longArray) {
      out('[');
      item.forEach((element, i) => out(`${i === 0 ? '' : ','}\n${inner}${leaf(element, inner) ?? 'null'}`));
      out(`\n${indent}]`);
      return;
    }
    if (!isPlainObject(item)) {
      out(leaf(item, indent)!);
      return;
    }
    // The properties JSON.stringify writes: not undefined, a function or a symbol.
    const entries = Object.entries(item).filter(([, v]) => v !== undefined && typeof v !== 'function' && typeof v !== 'symbol');
    if (entries.length === 0) {
      out('{}');
      return;
    }
    out('{');
    entries.forEach(([key, v], i) => {
      out(`${i === 0 ? '' : ','}\n${inner}${JSON.stringify(key)}: `);
      walk(v, inner);
    });
    out(`\n${indent}}`);
  };
  walk(value, '');
  out('\n');
  flush();
}

/** An object JSON.stringify writes key by key (no toJSON of its own, not an array). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
