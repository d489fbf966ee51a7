import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { watchChild } from './helpers/cli.js';
import { ROOT } from './helpers/database.js';

/**
 * src/cli/signals.ts with real signals, in a process of its own (the built dist/cli/signals.js, as
 * the CLI tests run the build): runs nest (the demo runs check and repair inside its own run), so
 * one signal must reach every run alive, and one that starts just after it too.
 */

const SIGNALS_MODULE = new URL('dist/cli/signals.js', `file://${ROOT}`).href;

/** Runs `body` as an ES module with `Interrupts`, `io` (stderr collected in `said`; a terminal when `tty`) and `tick` in scope. */
function runScript(body: string, tty = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `
    const { Interrupts } = await import(${JSON.stringify(SIGNALS_MODULE)});
    const said = [];
    const io = { stdout: process.stdout, stderr: { write: (text) => (said.push(text), process.stderr.write(text)), isTTY: ${tty} }, stdin: process.stdin, env: {} };
    const tick = () => new Promise((resolve) => setTimeout(resolve, 200));
    ${body}
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  return watchChild(child, 20_000).done;
}

describe('Interrupts, nested as the demo nests them', () => {
  it('one SIGINT aborts every run alive with the same InterruptedError and is said once; a run started after it (before the outer one ended) starts aborted; once all have ended, the next starts clean', async () => {
    const result = await runScript(`
      const outer = new Interrupts(io);
      const step = new Interrupts(io);
      process.kill(process.pid, 'SIGINT');
      await tick();
      const both = [outer.received, step.received, outer.signal.reason === step.signal.reason];
      step.dispose();
      // The demo's next step, started after the signal: it must not run whole.
      const late = new Interrupts(io);
      const lateReceived = late.received;
      late.dispose();
      outer.dispose();
      const fresh = new Interrupts(io);
      const freshReceived = fresh.received;
      fresh.dispose();
      console.log(JSON.stringify({ both, lateReceived, freshReceived, said, listeners: process.listenerCount('SIGINT') + process.listenerCount('SIGTERM') }));
    `, true);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as { both: unknown[]; lateReceived: unknown; freshReceived: unknown; said: string[]; listeners: number };
    expect(out.both).toEqual(['SIGINT', 'SIGINT', true]);
    expect(out.lateReceived).toBe('SIGINT');
    expect(out.freshReceived).toBeNull();
    // On a terminal, on a line of its own past the ^C it echoed.
    expect(out.said).toEqual(['\ncoupon-audit: SIGINT: stopping after the statement or transaction in flight (again to stop at once)\n']);
    // Nothing left listening: Node's own handling (exit by the signal) is back.
    expect(out.listeners).toBe(0);
  });

  it('a second signal exits at once (143 for SIGTERM), said once, however many runs are alive', async () => {
    const result = await runScript(`
      const outer = new Interrupts(io);
      const step = new Interrupts(io);
      process.kill(process.pid, 'SIGTERM');
      await tick();
      process.kill(process.pid, 'SIGTERM');
      await tick();
      console.log('still running');
    `);
    expect(result.code).toBe(143);
    expect(result.stdout).toBe('');
    // Off a terminal (a log file, cron's mail), no blank line before it.
    expect(result.stderr).toBe(
      'coupon-audit: SIGTERM: stopping after the statement or transaction in flight (again to stop at once)\n' +
        'coupon-audit: interrupted by SIGTERM; a transaction in flight is rolled back by the server.\n',
    );
  });
});
