import type { ChildCount } from '../db/rows.js';

/**
 * Walks a stream of per-setting counts in settingId order (NULL first, as ORDER BY puts it) and
 * hands it out range by range, in the order the ranges are asked for: `takeUpTo(x)` returns the
 * counts with settingId ≤ x not yet taken, `takeUpTo(null)` the rest. Calls queue up, so
 * concurrent pages still consume the stream in page order.
 */
export class ChildCountCursor {
  private pending: ChildCount | null = null;
  private done = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly source: AsyncIterator<ChildCount>) {}

  takeUpTo(upTo: bigint | null): Promise<ChildCount[]> {
    const next = this.queue.then(() => this.collect(upTo));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Stops the stream early (after an error elsewhere), so its connection is let go. */
  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.source.return?.();
    }
  }

  private async collect(upTo: bigint | null): Promise<ChildCount[]> {
    const taken: ChildCount[] = [];
    for (;;) {
      if (this.pending === null) {
        if (this.done) return taken;
        const step = await this.source.next();
        if (step.done === true) {
          this.done = true;
          return taken;
        }
        this.pending = step.value;
      }
      const { settingId } = this.pending;
      if (upTo !== null && settingId !== null && settingId > upTo) return taken;
      taken.push(this.pending);
      this.pending = null;
    }
  }
}
