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
      const page: Page = { inStatement: false, sentStatement: false, rows: deferred(), end: deferred() };
      pages.push(page);
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      try {
        await turn.take();
        page.inStatement = page.sentStatement = true;
        statements += 1;
        maxStatements = Math.max(maxStatements, statements);
        try {
          await page.rows.promise;
        } finally {
          statements -= 1;
          page.inStatement = false;
        }
        turn.done();
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
      await statement('a: packed', aRows.promise);
      turn.done();
      await new Promise((resolve) => setImmediate(resolve));
      await turn.take(); // its candidates
      await statement('a: candidates', aMore.promise);
      turn.done();
    });
    const b = pool.run(async (turn) => {
      await turn.take();
      await statement('b: packed', bRows.promise);
      turn.done();
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

  it('done() twice, or without take(), gives back no turn it does not hold', async () => {
    const pool = new TaskPool(1);
    const order: string[] = [];
    const gate = deferred();
    await pool.run(async (turn) => {
      turn.done(); // before take: nothing to give back
      await turn.take();
      order.push('a');
      turn.done();
      turn.done(); // again: nothing
      await gate.promise;
    });
    const holder = deferred();
    const b = pool.run(async (turn) => {
      await turn.take();
      order.push('b');
      await holder.promise;
      turn.done();
    });
    expect(await settled(b)).toBe(false); // a still runs (two hold connections)
    gate.resolve();
    await b;
    const c = pool.run(async (turn) => {
      await turn.take();
      order.push('c');
      turn.done();
    });
    await settled(c);
    expect(order).toEqual(['a', 'b']); // b holds the only turn: a's extra done() gave none away
    holder.resolve();
    await c;
    await pool.drain();
    expect(order).toEqual(['a', 'b', 'c']);
  });
});
