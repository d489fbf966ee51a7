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
 * the stream. Once the stream has failed, closed or ended (the reader went away: EPIPE, which bin/
 * ignores) the writing stops: the rest has nowhere to go. That is told by the events, not by
 * `destroyed`: Node's process.stdout undestroys itself after an error. So does `signal` (Ctrl-C,
 * SIGTERM while a slow reader holds the report up): the caller then ends the run as interrupted.
 */
export async function writePieces(stream: OutputStream, pieces: Iterable<string>, signal?: AbortSignal): Promise<void> {
  let ended = false;
  const end = (): void => {
    ended = true;
  };
  for (const event of STOPS) stream.on?.(event, end);
  try {
    for (const piece of pieces) {
      if (ended || gone(stream) || signal?.aborted === true) return;
      if (!stream.write(piece)) await drained(stream, signal);
    }
  } finally {
    for (const event of STOPS) stream.removeListener?.(event, end);
  }
}

/** The events after which a stream takes nothing more. */
const STOPS = ['close', 'error', 'finish'] as const;

/** A stream that takes nothing more, as far as its state says (an error before the writing began, end() called). */
function gone(stream: OutputStream): boolean {
  return stream.destroyed === true || (stream.errored !== undefined && stream.errored !== null) || stream.writableEnded === true;
}

/** Resolves at the stream's next 'drain' or stop, or at `signal`; at once for a stream that is gone or has no events (a test's). */
function drained(stream: OutputStream, signal?: AbortSignal): Promise<void> {
  const { once, removeListener } = stream;
  if (once === undefined || removeListener === undefined || gone(stream) || signal?.aborted === true) return Promise.resolve();
  const events = ['drain', ...STOPS] as const;
  return new Promise((resolve) => {
    const done = (): void => {
      for (const event of events) removeListener.call(stream, event, done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    for (const event of events) once.call(stream, event, done);
    signal?.addEventListener('abort', done, { once: true });
  });
}
