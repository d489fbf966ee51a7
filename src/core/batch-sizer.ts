export interface BatchSizerOptions {
  /** The size to start from, or the fixed size when `adaptive` is false. */
  initial: number;
  min: number;
  max: number;
  /** The time one statement (detection) or one transaction (repair) should take. */
  targetMs: number;
  adaptive: boolean;
}

/**
 * Sizes batches toward a target time, as pt-table-checksum's --chunk-time does: it keeps a
 * smoothed rate (items per ms) and asks for rate × target, never more than doubling or less than
 * halving at a step, within [min, max]. With `adaptive: false` the size never changes.
 */
export class BatchSizer {
  private current: number;
  private rate: number | null = null;

  constructor(private readonly options: BatchSizerOptions) {
    this.current = clamp(Math.round(options.initial), options.min, options.max);
  }

  get size(): number {
    return this.current;
  }

  observe(items: number, elapsedMs: number): void {
    if (!this.options.adaptive || items <= 0) return;
    const observed = items / Math.max(elapsedMs, 1);
    this.rate = this.rate === null ? observed : this.rate * 0.5 + observed * 0.5;
    const wanted = this.rate * this.options.targetMs;
    const next = clamp(wanted, this.current / 2, this.current * 2);
    this.current = clamp(Math.round(next), this.options.min, this.options.max);
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
