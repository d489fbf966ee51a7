import type { PauseRequests } from '../core/repair.js';
import type { Terminal } from './terminal.js';

/**
 * Ctrl-Z (SIGTSTP) while repair writes. Stopped where it is, the process would keep the rows of
 * its transaction in flight locked until the server ends it (db/applier.ts IDLE_TRANSACTION_SECONDS),
 * and the application's writes to them would wait. While this is listening, SIGTSTP asks for a
 * pause instead: the writers finish the transactions they have open, take no new one, and the
 * process stops itself then (SIGSTOP), holding no row; `fg` (SIGCONT) goes on. Off the write phase
 * (the scan holds no lock) SIGTSTP keeps its default, an immediate stop.
 */
export class TerminalPause implements PauseRequests {
  private asked = false;
  private listening = false;
  /** While the writers run (repairSettings): whether none holds a batch now. Null: no writer runs. */
  private canPauseNow: (() => boolean) | null = null;
  private readonly onStop = (): void => {
    if (this.asked) return;
    // No writer holds a transaction (a throttle wait, a pause file, before or after the writers):
    // the stop is taken at once, as the default Ctrl-Z would.
    if (this.canPauseNow === null || this.canPauseNow()) {
      void this.pause();
      return;
    }
    this.asked = true;
    this.terminal.io.stderr.write(`${this.terminal.io.stderr.isTTY === true ? '\n' : ''}coupon-audit: SIGTSTP: pausing after the transactions in flight, holding no row lock (fg to go on)\n`);
  };

  constructor(
    private readonly terminal: Terminal,
    private readonly beforeStop: () => void = () => undefined,
    private readonly afterStop: () => void = () => undefined,
  ) {}

  /**
   * From the first repair transaction on, and only at a terminal: a process without one (cron,
   * nohup, setsid) has no shell to `fg` it, and the kernel drops the SIGTSTP of an orphaned
   * process group where this would stop it for good.
   */
  listen(): void {
    if (this.listening) return;
    if (this.terminal.io.stdin.isTTY !== true && this.terminal.io.stderr.isTTY !== true) return;
    this.listening = true;
    process.on('SIGTSTP', this.onStop);
  }

  dispose(): void {
    if (!this.listening) return;
    this.listening = false;
    process.removeListener('SIGTSTP', this.onStop);
  }

  pending(): boolean {
    return this.asked;
  }

  attach(canPauseNow: () => boolean): (stopped: boolean) => void {
    this.canPauseNow = canPauseNow;
    return (stopped) => {
      this.canPauseNow = null;
      // Asked for during the last batch: the writers are done, so now; not for a run that is ending
      // (Ctrl-Z, then Ctrl-C: the user wants it to end, not to find it suspended).
      if (this.asked && !stopped) void this.pause();
      else this.asked = false;
    };
  }

  async pause(): Promise<void> {
    this.asked = false;
    this.beforeStop();
    this.terminal.io.stderr.write('coupon-audit: paused between transactions; no row is locked.\n');
    // Stops the whole process here (the signal is delivered before kill returns); SIGCONT goes on.
    process.kill(process.pid, 'SIGSTOP');
    this.terminal.io.stderr.write('coupon-audit: going on.\n');
    this.afterStop();
  }
}
