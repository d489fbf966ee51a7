/**
 * Text gathered and handed to `write` in pieces of about `size` characters: how a long report
 * (writeJson, writeTable) reaches stdout without being one string. flush() writes what is left.
 */
export function inPieces(write: (text: string) => unknown, size = 65_536): { add(text: string): void; flush(): void } {
  let pending: string[] = [];
  let length = 0;
  const flush = (): void => {
    if (pending.length > 0) write(pending.join(''));
    pending = [];
    length = 0;
  };
  return {
    add(text: string): void {
      pending.push(text);
      length += text.length;
      if (length >= size) flush();
    },
    flush,
  };
}
