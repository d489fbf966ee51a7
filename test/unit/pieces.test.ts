import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { jsonText } from '../../src/cli/json-output.js';
import { inPieces, writePieces } from '../../src/cli/pieces.js';

/** pieces.ts: text batched into pieces, and written to a stream no faster than it takes them. */

const report = (n: number) => ({ version: 1, drifted: Array.from({ length: n }, (_, i) => ({ id: String(i), status: 'ACTIVE', counters: { issuedCount: { cached: i + 1, actual: i, expected: i } } })) });

describe('inPieces', () => {
  it('joins texts into pieces of at least `size` characters, the last one whatever is left', () => {
    expect([...inPieces(['ab', 'cd', 'e', 'fgh', 'i'], 4)]).toEqual(['abcd', 'efgh', 'i']);
    expect([...inPieces([], 4)]).toEqual([]);
  });
});

describe('writePieces', () => {
  it('draws the next piece only when a slow stream has taken the one before (never more than one piece queued past its buffer)', async () => {
    const highWaterMark = 16 * 1024;
    let received = '';
    let queuedMax = 0;
    const slow = new Writable({
      highWaterMark,
      decodeStrings: false,
      write(chunk: string, _encoding, callback) {
        received += chunk;
        setTimeout(callback, 1); // a reader slower than the writer, as `| jq` over a pipe
      },
    });
    const value = report(20_000);
    const pieces = jsonText(value);
    const watched = (function* () {
      for (const piece of pieces) {
        queuedMax = Math.max(queuedMax, slow.writableLength);
        yield piece;
      }
    })();
    await writePieces(slow, watched);
    await new Promise<void>((resolve) => slow.end(resolve));
    expect(received).toBe(`${JSON.stringify(value, null, 2)}\n`);
    expect(received.length).toBeGreaterThan(50 * highWaterMark);
    // Without the wait every piece would be queued at once (the whole document).
    expect(queuedMax).toBeLessThan(highWaterMark + 2 * 65_536 + 250 * 200);
  });

  it('stops writing, without waiting for ever, when the reader goes away while it waits (EPIPE: `check | head`)', async () => {
    const out = new PassThrough({ highWaterMark: 1024 });
    out.on('error', () => undefined); // as bin/ ignores EPIPE
    let drawnPieces = 0;
    const pieces = (function* () {
      for (const piece of jsonText(report(20_000))) {
        drawnPieces += 1;
        // The first piece fills the stream (nobody reads it); the reader then goes away while writePieces waits.
        if (drawnPieces === 1) setImmediate(() => out.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })));
        yield piece;
      }
    })();
    await writePieces(out, pieces); // resolves: the test would time out otherwise
    expect(drawnPieces).toBe(2); // the one written, and the one drawn after the wait, not written
    expect(out.destroyed).toBe(true);
  });

  it('does not wait for a drain that cannot come: a stream that failed before (and stays undestroyed), or one ended meanwhile', async () => {
    const failed = new Writable({ autoDestroy: false, write: (_chunk, _encoding, callback) => callback(new Error('gone')) });
    failed.on('error', () => undefined);
    failed.write('x');
    await new Promise((resolve) => setImmediate(resolve));
    expect(failed.destroyed).toBe(false);
    await writePieces(failed, ['a', 'b']); // would never settle if it waited for 'drain'

    const ending = new Writable({ highWaterMark: 1, emitClose: false, write: (_chunk, _encoding, callback) => setTimeout(callback, 5) });
    let drawnPieces = 0;
    const pieces = (function* () {
      for (const piece of ['a', 'b', 'c']) {
        drawnPieces += 1;
        if (drawnPieces === 1) setImmediate(() => ending.end());
        yield piece;
      }
    })();
    await writePieces(ending, pieces);
    expect(drawnPieces).toBe(2);
  });

  it('stops at the signal while it waits for room, throwing the signal\'s reason (the run ends as interrupted)', async () => {
    const stalled = new PassThrough({ highWaterMark: 1024 }); // nobody reads it: no 'drain' comes
    const controller = new AbortController();
    const reason = new Error('interrupted by SIGINT');
    setTimeout(() => controller.abort(reason), 20);
    await expect(writePieces(stalled, ['x'.repeat(4096), 'never written'], controller.signal)).rejects.toBe(reason);
    expect(stalled.readableLength).toBe(4096);
    expect(stalled.listenerCount('drain') + stalled.listenerCount('close')).toBe(0);
  });

  it('writes to a stream without events (a test double) piece by piece', async () => {
    const written: string[] = [];
    await writePieces({ write: (text) => (written.push(text), false) }, ['a', 'b']);
    expect(written).toEqual(['a', 'b']);
  });
});
