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

/** The longest part of one stall that fell between `from` and `to` (performance.now() times), in ms; 0 when none did. */
export function longestStall(from: number, to: number): number {
  let longest = 0;
  // And the one the timer has not seen yet: resumed, the loop may run a socket's error (the reset
  // connection) before the tick that would record the stall.
  const now = performance.now();
  const pending = timer !== null && now - last >= STALL_MS + TICK_MS ? [{ from: last + TICK_MS, to: now }] : [];
  for (const stall of [...stalls, ...pending]) longest = Math.max(longest, Math.min(to, stall.to) - Math.max(from, stall.from));
  return longest;
}
