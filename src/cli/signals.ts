import { EXIT, InterruptedError } from '../errors.js';
import type { Io } from './terminal.js';

type Signal = 'SIGINT' | 'SIGTERM';

const SIGNALS: readonly Signal[] = ['SIGINT', 'SIGTERM'];

/** Every Interrupts not yet disposed, outermost first (the demo's, then the step it runs): its controller and where it writes. */
const alive = new Map<Interrupts, { controller: AbortController; io: Io }>();
/** The first signal since the oldest of them was created; null when none came (or none is alive). */
let received: InterruptedError | null = null;
const listeners: Record<Signal, () => void> = { SIGINT: () => onSignal('SIGINT'), SIGTERM: () => onSignal('SIGTERM') };

/**
 * SIGINT/SIGTERM handling. The first signal aborts `signal` with an InterruptedError: the run stops
 * after the statement or transaction in flight (which ends whole) and the error travels up to
 * main's one exit path (130/143, with the metrics file and the webhook). A second signal exits at
 * once: the server rolls back an uncommitted transaction when its connection goes (and the
 * throwaway servers' exit hook stops them).
 *
 * Runs can nest (the demo runs check and repair inside its own run): all of them share one pair of
 * process listeners, a signal aborts every one alive and is announced once, and one created after
 * a signal that an outer one received starts aborted, so a step the demo was starting when Ctrl-C
 * came stops at once instead of running whole.
 */
export class Interrupts {
  private readonly controller = new AbortController();

  constructor(io: Io) {
    if (alive.size === 0) {
      received = null;
      for (const signal of SIGNALS) process.on(signal, listeners[signal]);
    }
    alive.set(this, { controller: this.controller, io });
    if (received !== null) this.controller.abort(received);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get received(): Signal | null {
    const reason: unknown = this.controller.signal.reason;
    return reason instanceof InterruptedError ? reason.signal : null;
  }

  dispose(): void {
    if (!alive.delete(this) || alive.size > 0) return;
    for (const signal of SIGNALS) process.removeListener(signal, listeners[signal]);
    received = null;
  }
}

/** Said once, by the outermost; on a terminal on a line of its own, past the ^C it echoed. */
function announce(line: string): void {
  const [outermost] = alive.values();
  if (outermost === undefined) return;
  outermost.io.stderr.write(`${outermost.io.stderr.isTTY === true ? '\n' : ''}${line}`);
}

function onSignal(signal: Signal): void {
  if (received === null) {
    received = new InterruptedError(signal);
    announce(`coupon-audit: ${signal}: stopping after the statement or transaction in flight (again to stop at once)\n`);
    for (const { controller } of alive.values()) controller.abort(received);
    return;
  }
  announce(`coupon-audit: interrupted by ${signal}; a transaction in flight is rolled back by the server.\n`);
  process.exit(signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM);
}
