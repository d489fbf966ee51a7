import { EXIT } from '../errors.js';
import type { Io } from './terminal.js';

type Signal = 'SIGINT' | 'SIGTERM';

/**
 * SIGINT/SIGTERM handling. Outside a repair there is nothing to protect: say so and exit 130/143
 * at once (the server drops our connections). While repairing, the first signal asks the repair to
 * stop after the transaction in flight (which ends whole), and a second one exits at once (the
 * server rolls back an uncommitted transaction when its connection goes).
 */
export class Interrupts {
  readonly controller = new AbortController();
  received: Signal | null = null;
  private graceful = false;
  private readonly handlers: [Signal, () => void][] = [];

  constructor(private readonly io: Io) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const handler = () => this.onSignal(signal);
      process.on(signal, handler);
      this.handlers.push([signal, handler]);
    }
  }

  /** From now on, the first signal stops the repair between transactions instead of exiting. */
  enterGracefulSection(): void {
    this.graceful = true;
  }

  dispose(): void {
    for (const [signal, handler] of this.handlers) process.removeListener(signal, handler);
  }

  private onSignal(signal: Signal): void {
    const code = signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
    if (this.graceful && this.received === null) {
      this.received = signal;
      this.io.stderr.write(`\ncoupon-audit: ${signal}: stopping after the transaction in flight (again to stop at once)\n`);
      this.controller.abort();
      return;
    }
    this.io.stderr.write(
      `\ncoupon-audit: interrupted by ${signal}${this.graceful ? '; the transaction in flight is rolled back by the server' : '; nothing was written'}.\n`,
    );
    process.exit(code);
  }
}
