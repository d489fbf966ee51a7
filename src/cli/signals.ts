import { EXIT, InterruptedError } from '../errors.js';
import type { Io } from './terminal.js';

type Signal = 'SIGINT' | 'SIGTERM';

/**
 * SIGINT/SIGTERM handling. The first signal aborts `signal` with an InterruptedError: the run stops
 * after the statement or transaction in flight (which ends whole) and the error travels up to
 * main's one exit path (130/143, with the metrics file and the webhook). A second signal exits at
 * once: the server rolls back an uncommitted transaction when its connection goes.
 */
export class Interrupts {
  private readonly controller = new AbortController();
  private readonly handlers: [Signal, () => void][] = [];

  constructor(private readonly io: Io) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const handler = () => this.onSignal(signal);
      process.on(signal, handler);
      this.handlers.push([signal, handler]);
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get received(): Signal | null {
    const reason: unknown = this.controller.signal.reason;
    return reason instanceof InterruptedError ? reason.signal : null;
  }

  dispose(): void {
    for (const [signal, handler] of this.handlers) process.removeListener(signal, handler);
  }

  private onSignal(signal: Signal): void {
    if (!this.controller.signal.aborted) {
      this.io.stderr.write(`\ncoupon-audit: ${signal}: stopping after the statement or transaction in flight (again to stop at once)\n`);
      this.controller.abort(new InterruptedError(signal));
      return;
    }
    this.io.stderr.write(`\ncoupon-audit: interrupted by ${signal}; a transaction in flight is rolled back by the server.\n`);
    process.exit(signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM);
  }
}
