import { describe, expect, it } from 'vitest';
import { TaskPool, type Turn } from '../../src/core/detect-drift.js';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A page as the scan runs it: set up, wait for its turn, its statement, the rows in (turn done), then Node's part. */
interface Page {
  inStatement: boolean;
  sentStatement: boolean;
  /** done() resolved: the page it passed its turn to had sent its statement (or none waited). */
  handedOff: boolean;
  /** The statement's rows arrive (or it fails with the error). */
  rows: Deferred;
  /** Node has read the rows and committed. */
  end: Deferred;
}

function harness(limit: number) {
  const pool = new TaskPool(limit);
  const pages: Page[] = [];
  let statements = 0;
  let maxStatements = 0;
  let running = 0;
  let maxRunning = 0;
  const submit = (): Promise<void> =>
    pool.run(async (turn: Turn) => {
      const page: Page = { inStatement: false, sentStatement: false, handedOff: false, rows: deferred(), end: deferred() };
      pages.push(page);
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      try {
        await turn.take();
        page.inStatement = page.sentStatement = true;
        turn.sent();
        statements += 1;
        maxStatements = Math.max(maxStatements, statements);
        try {
          await page.rows.promise;
        } finally {
          statements -= 1;
          page.inStatement = false;
        }
        await turn.done();
        page.handedOff = true;
        await page.end.promise;
      } finally {
        running -= 1;
      }
    });
  return { pool, pages, submit, stats: () => ({ statements, maxStatements, running, maxRunning }) };
}

/** Whether `promise` has settled once pending callbacks have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('TaskPool (detect-drift.ts): `limit` statements at once, the next page ready', () => {
  it('the next page is prepared while one runs, sends its statement the moment the rows are in, and never two at once', async () => {
    const h = harness(1);
    await h.submit();
    await settled(Promise.resolve());
    expect(h.pages[0]!.inStatement).toBe(true);
    const second = h.submit();
    expect(await settled(second)).toBe(false); // two pages hold connections: the caller waits
    expect(h.pages[1]!.sentStatement).toBe(false); // prepared, waiting for its turn
    h.pages[0]!.rows.resolve();
    await settled(Promise.resolve());
    expect(h.pages[1]!.inStatement).toBe(true); // while page 1's rows are still being read
    expect(h.pages[0]!.handedOff).toBe(true); // page 1 went on once page 2's statement was sent
    expect(h.stats().statements).toBe(1);
    expect(await settled(second)).toBe(false);
    h.pages[0]!.end.resolve();
    expect(await settled(second)).toBe(true);
    h.pages[1]!.rows.resolve();
    h.pages[1]!.end.resolve();
    await h.pool.drain();
    expect(h.stats()).toMatchObject({ maxStatements: 1, maxRunning: 2, running: 0 });
  });

  it('with a limit of 2: two statements at once, a third page prepared, turns passed in order', async () => {
    const h = harness(2);
    await h.submit();
    await h.submit();
    const third = h.submit();
    await settled(Promise.resolve());
    expect(h.pages.map((page) => page.inStatement)).toEqual([true, true, false]);
    expect(await settled(third)).toBe(false);
    h.pages[1]!.rows.resolve();
    await settled(Promise.resolve());
    expect(h.pages.map((page) => page.inStatement)).toEqual([true, false, true]);
    h.pages[1]!.end.resolve();
    expect(await settled(third)).toBe(true);
    for (const page of h.pages) {
      page.rows.resolve();
      page.end.resolve();
    }
    await h.pool.drain();
    expect(h.stats()).toMatchObject({ maxStatements: 2, maxRunning: 3, running: 0 });
  });

  it('a failure: the page waiting for its turn never sends its statement; run() and drain() rethrow the first error', async () => {
    const h = harness(1);
    await h.submit();
    const second = h.submit();
    await settled(Promise.resolve());
    h.pages[0]!.rows.reject(new Error('page 1 failed'));
    await expect(second).rejects.toThrow('page 1 failed');
    expect(h.pages[1]!.sentStatement).toBe(false);
    expect(h.stats().running).toBe(0);
    await expect(h.submit()).rejects.toThrow('page 1 failed');
    await expect(h.pool.drain()).rejects.toThrow('page 1 failed');
    expect(h.pages).toHaveLength(2);
  });

  it('a page takes a turn again for its candidates: never more than `limit` statements, whoever waits first goes first', async () => {
    const pool = new TaskPool(1);
    const log: string[] = [];
    let statements = 0;
    let most = 0;
    const statement = async (name: string, gate: Promise<void>) => {
      statements += 1;
      most = Math.max(most, statements);
      log.push(name);
      await gate;
      statements -= 1;
    };
    const aRows = deferred();
    const aMore = deferred();
    const bRows = deferred();
    await pool.run(async (turn) => {
      await turn.take();
      turn.sent();
      await statement('a: packed', aRows.promise);
      await turn.done();
      await turn.take(); // its candidates
      turn.sent();
      await statement('a: candidates', aMore.promise);
      await turn.done();
    });
    const b = pool.run(async (turn) => {
      await turn.take();
      turn.sent();
      await statement('b: packed', bRows.promise);
      await turn.done();
    });
    aRows.resolve();
    await settled(Promise.resolve());
    expect(log).toEqual(['a: packed', 'b: packed']); // a waits for a turn for its candidates
    bRows.resolve();
    await settled(Promise.resolve());
    expect(log).toEqual(['a: packed', 'b: packed', 'a: candidates']);
    aMore.resolve();
    await b;
    await pool.drain();
    expect(most).toBe(1);
  });

  it("done() waits for the page it passed its turn to until that one sends its statement, or ends without", async () => {
    const pool = new TaskPool(1);
    const log: string[] = [];
    const rows = deferred();
    const ready = deferred();
    await pool.run(async (turn) => {
      await turn.take();
      turn.sent();
      await rows.promise;
      await turn.done();
      log.push('a: reads its rows');
    });
    const b = pool.run(async (turn) => {
      await turn.take();
      log.push('b: begins');
      await ready.promise; // its START TRANSACTION round trip
      turn.sent();
      log.push('b: sent');
    });
    rows.resolve();
    await settled(Promise.resolve());
    expect(log).toEqual(['b: begins']); // a waits for b's statement
    ready.resolve();
    await b;
    await pool.drain();
    expect(log).toEqual(['b: begins', 'b: sent', 'a: reads its rows']);

    // A page that fails before it sends lets the one that handed it the turn go on.
    const failing = new TaskPool(1);
    const rows2 = deferred();
    let went = false;
    await failing.run(async (turn) => {
      await turn.take();
      turn.sent();
      await rows2.promise;
      await turn.done();
      went = true;
    });
    const c = failing.run(async (turn) => {
      await turn.take();
      throw new Error('begin failed');
    });
    rows2.resolve();
    await expect(c).rejects.toThrow('begin failed');
    await expect(failing.drain()).rejects.toThrow('begin failed');
    expect(went).toBe(true);
  });

  it('done() twice, or without take(), gives back no turn it does not hold', async () => {
    const pool = new TaskPool(1);
    const order: string[] = [];
    const gate = deferred();
    await pool.run(async (turn) => {
      await turn.done(); // before take: nothing to give back
      await turn.take();
      turn.sent();
      order.push('a');
      await turn.done();
      await turn.done(); // again: nothing
      await gate.promise;
    });
    const holder = deferred();
    const b = pool.run(async (turn) => {
      await turn.take();
      turn.sent();
      order.push('b');
      await holder.promise;
      await turn.done();
    });
    expect(await settled(b)).toBe(false); // a still runs (two hold connections)
    gate.resolve();
    await b;
    const c = pool.run(async (turn) => {
      await turn.take();
      turn.sent();
      order.push('c');
      await turn.done();
    });
    await settled(c);
    expect(order).toEqual(['a', 'b']); // b holds the only turn: a's extra done() gave none away
    holder.resolve();
    await c;
    await pool.drain();
    expect(order).toEqual(['a', 'b', 'c']);
  });
});
