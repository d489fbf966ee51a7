import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startCli } from './helpers/cli.js';
import { findServerBinary } from '../src/server/server-binary.js';

/**
 * `coupon-audit demo` against the locally installed server binary. Each run gets a TMPDIR of its
 * own (os.tmpdir() follows it), so "nothing left behind" is checked without seeing other tests' servers.
 */

let scratch: string;
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

function newScratch(): string {
  scratch = mkdtempSync(join(tmpdir(), 'ca-demo-test-'));
  return scratch;
}

/** Processes (any) whose command line mentions `dir`: a server or install-db left running. */
function processesUsing(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', dir], { encoding: 'utf8' }).trim().split('\n').filter((line) => line !== '');
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** Polls until `ready()` or the run exits (or `timeoutMs` pass); the caller asserts the run is still going. */
async function waitFor(run: ReturnType<typeof startCli>, ready: () => boolean, { everyMs = 5, timeoutMs = 90_000 } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready() && !run.exited() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, everyMs));
}

/** No server or install-db left running from `dir`, and nothing left in it. */
function expectNothingLeft(dir: string): void {
  expect(processesUsing(dir)).toEqual([]);
  expect(readdirSync(dir)).toEqual([]);
}

/** A demo started in a scratch TMPDIR of its own, once `ready` holds and while it still runs. */
async function demoUntil(ready: (run: ReturnType<typeof startCli>, dir: string) => boolean, wait: { everyMs?: number; timeoutMs?: number } = {}) {
  const dir = newScratch();
  const run = startCli(['demo'], { env: { TMPDIR: dir } });
  await waitFor(run, () => ready(run, dir), wait);
  expect(run.exited()).toBe(false);
  return { dir, run };
}

describe('coupon-audit demo', () => {
  it("runs check → repair --dry-run → repair --yes → check on a throwaway server, exits 0 and leaves nothing behind; the operator's password, URL and webhook in the environment are not its", async () => {
    const dir = newScratch();
    // An operator's shell: MYSQL_PWD was sent to the throwaway root (no password: exit 3), and the
    // webhook was posted the demo's drift.
    const posts: string[] = [];
    const hook = createServer((request, response) => {
      posts.push(String(request.url));
      response.end('ok');
    });
    hook.listen(0, '127.0.0.1');
    await once(hook, 'listening');
    const env = {
      TMPDIR: dir,
      MYSQL_PWD: 'the-operators-password',
      DATABASE_URL: 'mysql://ops@127.0.0.1:1/coupons',
      COUPON_AUDIT_NOTIFY_URL: `http://127.0.0.1:${(hook.address() as { port: number }).port}/services/T0/SECRET`,
    };
    const result = await runCli(['demo'], { env, timeoutMs: 120_000 }).finally(() => hook.close());
    expect(posts).toEqual([]);
    expect(result.stderr).toBe('');
    // Its introduction fits 80 columns (it was one line of 260).
    const intro = result.stdout.split('\n$ ')[0]!.split('\n').filter((line) => line !== '');
    expect(intro).toHaveLength(3);
    expect(intro.filter((line) => line.length > 80)).toEqual([]);
    expect(result.code).toBe(0);
    const steps = [...result.stdout.matchAll(/^\$ coupon-audit (.+) --url mysql:\/\/root@127\.0\.0\.1:(\d+)\/coupon_demo$/gm)];
    expect(steps.map((step) => step[1])).toEqual(['check', 'repair --dry-run', 'repair --yes', 'check']);
    expect(result.stdout).toMatch(/8 of 10 settings drifted/);
    expect(result.stdout).toContain('9007199254740993');
    expect(result.stdout).toMatch(/Repaired 8 settings \(12 counters\)/);
    expect(result.stdout).toMatch(/No drift: 10 settings scanned/);
    expect([...result.stdout.matchAll(/^\(exit (\d)/gm)].map((m) => m[1])).toEqual(['1', '1', '0', '0']);
    expect(result.stdout).not.toMatch(/\u001b\[/);
    expectNothingLeft(dir);
  });

  it('Ctrl-C while it runs: exit 130, the server is stopped and its files removed', async () => {
    // Wait for the server itself (not install-db's bootstrap): it is the one started with --port.
    const { dir, run } = await demoUntil((_, dir) => processesUsing(dir).some((line) => line.includes('--port=')), { everyMs: 10, timeoutMs: 60_000 });
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    // Through main's one exit path (not a process.exit in a signal handler): its line, last.
    expect(result.stderr).toMatch(/^coupon-audit: interrupted by SIGINT\n$/m);
    expectNothingLeft(dir);
  });

  it('Ctrl-C while install-db prepares the data directory: exit 130, install-db and its bootstrap server killed, nothing left', async () => {
    const { dir, run } = await demoUntil((_, dir) => processesUsing(dir).length > 0, { timeoutMs: 60_000 });
    expect(processesUsing(dir).some((line) => line.includes('--port='))).toBe(false);
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    expect(result.stderr).toMatch(/^coupon-audit: interrupted by SIGINT\n$/m);
    expectNothingLeft(dir);
  });

  it('SIGTERM during a step: the step stops, the demo exits 143 through the same path, nothing left', async () => {
    const { dir, run } = await demoUntil((run) => run.stdout().includes('$ coupon-audit repair --dry-run'));
    run.child.kill('SIGTERM');
    const result = await run.done;
    expect(result.code).toBe(143);
    expect(result.stderr).toMatch(/^coupon-audit: interrupted by SIGTERM\n$/m);
    // Said once: by the demo on its way out, not also by the step it was running.
    expect(result.stderr.match(/^coupon-audit: interrupted by SIGTERM$/gm)).toHaveLength(1);
    expect(result.stdout).not.toContain('Done.');
    expectNothingLeft(dir);
  });

  it('Ctrl-C just as a step starts: that step stops too (not run whole), said once; exit 130 through main, nothing left', async () => {
    const { dir, run } = await demoUntil((run) => run.stdout().includes('$ coupon-audit repair --dry-run'));
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    // One announcement, though the demo and its step both listen; the step saw the signal even if it
    // came before the step had started listening, so it printed no plan.
    expect(result.stderr.match(/stopping after the statement or transaction in flight/g)).toHaveLength(1);
    expect(result.stdout).not.toContain('dry run: would change');
    expect(result.stdout).not.toContain('(exit 1: what repair would write');
    expect(result.stderr).toMatch(/^coupon-audit: interrupted by SIGINT\n$/m);
    expect(result.stderr.match(/^coupon-audit: interrupted by SIGINT$/gm)).toHaveLength(1);
    expectNothingLeft(dir);
  });

  it('a second Ctrl-C exits at once (130, said so); the exit hook still stops the server and removes its files', async () => {
    const { dir, run } = await demoUntil((run) => run.stdout().includes('$ coupon-audit check'));
    run.child.kill('SIGINT');
    // The second once the first is taken (two sent at once may arrive as one), while the demo is stopping.
    await waitFor(run, () => run.stderr().includes('stopping after'), { everyMs: 1 });
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    expect(result.stderr).toContain('coupon-audit: interrupted by SIGINT; a transaction in flight is rolled back by the server.');
    expect(result.stdout).not.toContain('Done.');
    expectNothingLeft(dir);
  });

  it('without a server binary it says how to install one: exit 3, one sentence, nothing started', async () => {
    const dir = newScratch();
    const result = await runCli(['demo', '--server-binary', join(dir, 'no-such', 'mariadbd')], { env: { TMPDIR: dir } });
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^coupon-audit: The demo needs a database server\. .*apt-get install mariadb-server.*\.\n$/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a server binary that cannot be run (a directory): exit 3 with one sentence, not a crash; nothing left', async () => {
    // Beside the real install tool, so the data directory is made and the server's start is what fails
    // (a trial's directory in /tmp found /bin/mariadb-install-db: Node's stack, exit 1).
    const installDb = findServerBinary()?.installDb;
    if (installDb == null) throw new Error('this test needs mariadb-install-db (the suite runs on MariaDB)');
    const dir = newScratch();
    mkdirSync(join(dir, 'bin'));
    symlinkSync(installDb, join(dir, 'bin', 'mariadb-install-db'));
    const notAProgram = join(dir, 'bin', 'mariadbd');
    mkdirSync(notAProgram);
    const result = await runCli(['demo', '--server-binary', notAProgram], { env: { TMPDIR: dir } });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).not.toMatch(/node:events|Unhandled/);
    expect(result.stderr).toContain(`Could not run ${notAProgram}`);
    expect(readdirSync(dir)).toEqual(['bin']);
  });
});
