/**
 * Stalls of this process: stretches in which its event loop did not run (SIGSTOP, a paused VM, CPU
 * starvation). The server counts a stopped client's open transaction as idle and ends it past
 * idle_transaction_timeout, while the client, once resumed, reads a reply that had been waiting
 * and takes it as fresh: only the stall says why the next statement finds the connection gone
 * (db/applier.ts RepairSession.endedWhileIdle).
 */

/** How often the loop is looked at, and the gap that counts as a stall. */
const TICK_MS = 250;
const STALL_MS = 1000;
/** The last stalls (a run meets few). */
const KEPT = 16;

const stalls: { from: number; to: number }[] = [];
let watchers = 0;
let timer: NodeJS.Timeout | null = null;
let last = 0;

/** Watches for stalls until the returned function is called (counted: each watcher calls it once). */
export function watchStalls(): () => void {
  watchers += 1;
  if (timer === null) {
    last = performance.now();
    timer = setInterval(() => {
      const now = performance.now();
      if (now - last >= STALL_MS + TICK_MS) {
        stalls.push({ from: last + TICK_MS, to: now });
        if (stalls.length > KEPT) stalls.shift();
      }
      last = now;
    }, TICK_MS);
    timer.unref(); // never what keeps the process alive
  }
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    watchers -= 1;
    if (watchers === 0 && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
}

/** The stalls seen so far (performance.now() times), with the one the timer has not recorded yet. */
export function recentStalls(): { from: number; to: number }[] {
  // Resumed, the loop may run a socket's error (the reset connection) before the tick that would
  // record the stall: it is the gap since the last tick.
  const now = performance.now();
  const pending = timer !== null && now - last >= STALL_MS + TICK_MS ? [{ from: last + TICK_MS, to: now }] : [];
  return [...stalls, ...pending];
}

export type IdleVerdict = 'surely' | 'maybe' | 'no';

/**
 * Whether the server ended a transaction for sitting idle `limitMs` (idle_transaction_timeout)
 * before the statement last sent reached it. `surely`: the connection sat that long before that
 * statement was sent (a slow beforeCommit), or the process stalled that long while no statement of
 * it ran; `maybe`: it stalled that long while a statement ran (the server may have answered early
 * and then waited, or worked all along: a reply read after a stall looks fresh either way).
 */
export function idleVerdict(input: {
  limitMs: number;
  openedAt: number | null;
  idleBeforeLastMs: number;
  lastSentAt: number;
  statements: readonly { sent: number; done: number | null }[];
  stalls: readonly { from: number; to: number }[];
}): IdleVerdict {
  if (input.openedAt === null) return 'no';
  if (input.idleBeforeLastMs >= input.limitMs) return 'surely';
  let verdict: IdleVerdict = 'no';
  for (const stall of input.stalls) {
    if (Math.min(input.lastSentAt, stall.to) - Math.max(input.openedAt, stall.from) < input.limitMs) continue;
    const running = input.statements.some((s) => s.sent <= stall.from && (s.done === null || s.done > stall.from));
    if (!running) return 'surely';
    verdict = 'maybe';
  }
  return verdict;
}
