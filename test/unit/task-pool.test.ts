import { describe, expect, it } from 'vitest';
import { TaskPool } from '../../src/core/detect-drift.js';

/** A task the test ends by hand, after it has (optionally) freed its place. */
interface Step {
  free: () => void;
  end: (error?: Error) => void;
}

function harness(limit: number) {
  const pool = new TaskPool(limit);
  const steps: Step[] = [];
  let running = 0;
  let maxRunning = 0;
  /** Submits a task; resolves when run() lets the caller go on (a place is free). */
  const submit = (): Promise<void> =>
    pool.run(
      (free) =>
        new Promise<void>((resolve, reject) => {
          running += 1;
          maxRunning = Math.max(maxRunning, running);
          steps.push({
            free,
            end: (error) => {
              running -= 1;
              if (error === undefined) resolve();
              else reject(error);
            },
          });
        }),
    );
  return { pool, steps, submit, running: () => running, maxRunning: () => maxRunning };
}

/** Whether `promise` has settled after the pending callbacks have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('TaskPool (detect-drift.ts): pages at once', () => {
  it('holds the caller while `limit` tasks count, and lets it go when one ends', async () => {
    const h = harness(2);
    await h.submit();
    const second = h.submit();
    expect(await settled(second)).toBe(false);
    h.steps[0]!.end();
    expect(await settled(second)).toBe(true);
    expect(h.running()).toBe(1);
    h.steps[1]!.end();
    await h.pool.drain();
    expect(h.maxRunning()).toBe(2);
  });

  it('lets one more task start when a task frees its place, and no more than limit + 1 at once', async () => {
    const h = harness(2);
    await h.submit();
    const second = h.submit();
    expect(await settled(second)).toBe(false);
    h.steps[0]!.free(); // its statement's rows are in: Node reads them
    expect(await settled(second)).toBe(true);
    expect(h.running()).toBe(2);
    const third = h.submit(); // starts: one task counts, one is freed
    expect(h.running()).toBe(3);
    h.steps[1]!.free();
    expect(await settled(third)).toBe(false); // three hold connections: the caller waits for one to end
    h.steps[0]!.end();
    expect(await settled(third)).toBe(true);
    const fourth = h.submit();
    h.steps[2]!.free();
    h.steps[3]!.free();
    expect(await settled(fourth)).toBe(false); // none counts, but three run
    h.steps[1]!.end();
    expect(await settled(fourth)).toBe(true);
    h.steps[2]!.end();
    h.steps[3]!.end();
    await h.pool.drain();
    expect(h.maxRunning()).toBe(3);
  });

  it('counts a free called twice, or after the end, once', async () => {
    const h = harness(2);
    await h.submit();
    h.steps[0]!.free();
    h.steps[0]!.free();
    await h.submit();
    const third = h.submit();
    expect(await settled(third)).toBe(false); // tasks 2 and 3 count
    h.steps[0]!.end();
    h.steps[0]!.free();
    expect(await settled(third)).toBe(false); // still two counting: freeing task 1 again changes nothing
    h.steps[1]!.end();
    expect(await settled(third)).toBe(true);
    h.steps[2]!.end();
    await h.pool.drain();
    expect(h.maxRunning()).toBe(3);
  });

  it('rethrows the first failure, after the other tasks end, and starts nothing after it', async () => {
    const h = harness(2);
    await h.submit();
    const second = h.submit();
    h.steps[0]!.free();
    await second;
    const third = h.submit();
    h.steps[1]!.end(new Error('page 2 failed'));
    expect(await settled(third)).toBe(false); // waits for pages 1 and 3 to end
    h.steps[0]!.end();
    expect(await settled(third)).toBe(false);
    h.steps[2]!.end();
    await expect(third).rejects.toThrow('page 2 failed');
    expect(h.running()).toBe(0);
    await expect(h.submit()).rejects.toThrow('page 2 failed');
    await expect(h.pool.drain()).rejects.toThrow('page 2 failed');
    expect(h.steps).toHaveLength(3);
  });
});
