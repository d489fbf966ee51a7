import type { ScanProgress, RunHooks } from '../core/run.js';
import type { ThrottleState } from '../core/throttle.js';
import type { Spinner, Terminal } from './terminal.js';

/** How long a throttled wait lasts before it is said on stderr (progressHooks). */
export const LONG_WAIT_SECONDS = 60;

/**
 * The progress line of a scan (check, and the detection inside repair) and the throttle state after
 * it: "Checking: 12,000/~50,000 settings (estimated total), 4,000/s, ~10 s left, 3 drifted — throttled:
 * Threads_running=31 on primary … (--max-load Threads_running=25)". On stderr through the spinner,
 * which is silent off a terminal; there, --verbose prints each change of the throttle state.
 */
export function progressHooks(terminal: Terminal, spinner: Spinner): Pick<RunHooks, 'onScanProgress' | 'onThrottle' | 'onUnconfirmed' | 'onLockWait'> {
  let throttled: string | null = null;
  const suffix = (message: string): string => ` — ${message}`;
  let since = 0;
  // A wait that lasts says so once on stderr, also off a terminal and with --quiet, where the
  // spinner is silent: a cron job paused by a limit it never meets would otherwise say nothing.
  let longWait: NodeJS.Timeout | null = null;
  const stopLongWait = (): void => {
    if (longWait !== null) clearTimeout(longWait);
    longWait = null;
  };
  return {
    // Said once (not under --quiet: a cron run that waits and then succeeds mails nothing), so that a
    // run idle on --wait-lock says why.
    onLockWait: (what, heldBy, waitSeconds) => {
      spinner.clear();
      terminal.info(`Another ${what === 'repair' ? 'repair' : 'check of every setting'} is running (${heldBy}): waiting up to ${waitSeconds} s for its lock (--wait-lock).`);
    },
    onScanProgress: (progress) => {
      spinner.text = scanProgressText(progress) + (throttled === null ? '' : suffix(throttled));
    },
    onThrottle: (state: ThrottleState | null) => {
      // Repair's own progress sets the text too: strip the previous state off whatever is there.
      const text = spinner.text;
      const base = throttled !== null && text.endsWith(suffix(throttled)) ? text.slice(0, -suffix(throttled).length) : text;
      if (state === null && throttled !== null) terminal.debug(`no longer waiting, after ${((performance.now() - since) / 1000).toFixed(1)} s`);
      if (state === null) stopLongWait();
      if (state !== null && throttled === null) {
        since = performance.now();
        longWait = setTimeout(() => {
          spinner.clear();
          // alert, not warn: --quiet keeps it (the README's cron line runs --quiet --pause-file).
          terminal.alert(`waiting for ${LONG_WAIT_SECONDS} s so far: ${throttled ?? state.message}. The run goes on when that clears (Ctrl-C or SIGTERM stops it).`);
        }, LONG_WAIT_SECONDS * 1000);
        longWait.unref();
      }
      if (state !== null) terminal.debug(state.message);
      throttled = state?.message ?? null;
      spinner.text = throttled === null ? base : base + suffix(throttled);
    },
    onUnconfirmed: (replica, ids) => {
      const shown = ids.slice(0, 5).join(', ') + (ids.length > 5 ? ', …' : '');
      terminal.debug(`${ids.length} settings drifted on the replica ${replica} were right on the primary (not reported): ${shown}`);
    },
  };
}

/**
 * A whole number with thousands separators, as en-US writes it (1,234,567). Not Intl.NumberFormat:
 * constructing one loads ICU data, about 20 ms of every run's start-up, for a progress line.
 */
export function thousands(n: number): string {
  const digits = String(Math.abs(Math.trunc(n)));
  return `${n <= -1 ? '-' : ''}${digits.replace(/\B(?=(\d{3})+$)/g, ',')}`;
}

export function scanProgressText(progress: ScanProgress): string {
  const { scanned, drifted, elapsedMs } = progress;
  const rate = scanned / Math.max(elapsedMs / 1000, 0.001);
  const parts: string[] = [];
  if (progress.total === null) {
    parts.push(`${thousands(scanned)} settings`);
  } else {
    // An estimate can be low: never show more scanned than the total.
    const total = Math.max(progress.total, scanned);
    parts.push(`${thousands(scanned)}/${progress.totalIsEstimate ? '~' : ''}${thousands(total)} settings${progress.totalIsEstimate ? ' (estimated total)' : ''}`);
  }
  parts.push(`${thousands(Math.round(rate))}/s`);
  if (progress.total !== null && rate > 0) {
    parts.push(`~${formatSeconds(Math.max(0, progress.total - scanned) / rate)} left`);
  }
  parts.push(`${thousands(drifted)} drifted`);
  return `Checking: ${parts.join(', ')}`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 90) return `${Math.ceil(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
