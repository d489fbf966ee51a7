import type { OutputStream } from './terminal.js';

/**
 * Text gathered into pieces of about `size` characters or more: how a long report (json-output.ts
 * jsonText, table.ts tableText) reaches stdout without being one string.
 */
export function* inPieces(texts: Iterable<string>, size = 65_536): Generator<string, void, undefined> {
  let pending: string[] = [];
  let length = 0;
  for (const text of texts) {
    pending.push(text);
    length += text.length;
    if (length >= size) {
      yield pending.join('');
      pending = [];
      length = 0;
    }
  }
  if (pending.length > 0) yield pending.join('');
}

/**
 * Writes the pieces to `stream` in turn, drawing each only when the one before was taken: where the
 * stream says it is full (write() returned false) the next waits for its 'drain'. On POSIX a pipe
 * is written asynchronously (files and terminals synchronously), so without the wait a report
 * piped to a slower reader (`check --format json | jq …`) would sit in memory whole, queued in
 * the stream. A stream that closed or failed (the reader went away: EPIPE, which bin/ ignores)
 * ends the writing: the rest has nowhere to go.
 */
export async function writePieces(stream: OutputStream, pieces: Iterable<string>): Promise<void> {
  for (const piece of pieces) {
    if (stream.destroyed === true) return;
    if (!stream.write(piece)) await drained(stream);
  }
}

/** Resolves at the stream's next 'drain', 'close' or 'error'; at once for a stream without events (a test's). */
function drained(stream: OutputStream): Promise<void> {
  const { once, removeListener } = stream;
  if (once === undefined || removeListener === undefined || stream.destroyed === true) return Promise.resolve();
  const events = ['drain', 'close', 'error'] as const;
  return new Promise((resolve) => {
    const done = (): void => {
      for (const event of events) removeListener.call(stream, event, done);
      resolve();
    };
    for (const event of events) once.call(stream, event, done);
  });
}
