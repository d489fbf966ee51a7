/** What a function that writes in pieces (writeTable, writeDriftTable, writeJson…) wrote, as one string. */
export function drawn(draw: (write: (text: string) => unknown) => void): string {
  const pieces: string[] = [];
  draw((text) => pieces.push(text));
  return pieces.join('');
}
