/** What a function that makes text in pieces (tableText, driftTableText, jsonText…) made, as one string. */
export function drawn(pieces: Iterable<string>): string {
  return [...pieces].join('');
}
