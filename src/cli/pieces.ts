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
 * `destroyed`: Node's process.stdout undestroys itself after an error. `signal` (Ctrl-C, SIGTERM
 * while a slow reader holds the report up) stops it too, by throwing its reason: the caller's run
 * ends as interrupted, with nothing more printed.
 */
export async function writePieces(stream: OutputStream, pieces: Iterable<string>, signal?: AbortSignal): Promise<void> {
  const { on, removeListener } = stream;
  // A stream without events (a test's) is written piece by piece, never waited on.
  const listens = on !== undefined && removeListener !== undefined;
  let ended = false;
  /** Set while a piece waits for room: what 'drain', a stop or the signal calls. */
  let wake: (() => void) | null = null;
  const room = (): void => wake?.();
  const end = (): void => {
    ended = true;
    room();
  };
  if (listens) {
    on.call(stream, 'drain', room);
    for (const event of STOPS) on.call(stream, event, end);
  }
  signal?.addEventListener('abort', room);
  try {
    for (const piece of pieces) {
      signal?.throwIfAborted();
      if (ended || gone(stream)) return;
      if (!stream.write(piece) && listens) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
  } finally {
    signal?.removeEventListener('abort', room);
    if (listens) {
      removeListener.call(stream, 'drain', room);
      for (const event of STOPS) removeListener.call(stream, event, end);
    }
  }
}

/** The events after which a stream takes nothing more. */
const STOPS = ['close', 'error', 'finish'] as const;

/** A stream that takes nothing more, as far as its state says (an error before the writing began, end() called). */
function gone(stream: OutputStream): boolean {
  return stream.destroyed === true || (stream.errored !== undefined && stream.errored !== null) || stream.writableEnded === true;
}
