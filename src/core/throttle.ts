import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { DatabaseError, UsageError } from '../errors.js';

/**
 * The throttler (the role of gh-ost's throttler.go, and of pt-table-checksum's --max-load /
 * --max-lag / --pause-file): consulted by detection between pages and by repair between batches,
 * through one call, gate(). gate() resolves when the next unit of work may start: at once when all
 * is well, later while a pause file exists, a server is over --max-load or the replica lags more
 * than --max-lag. When the run must stop (--critical-load, replication stopped or broken, lag past
 * --max-lag-wait) it aborts `stopped` with the reason and resolves: the scan and repair already stop
 * on an aborted signal, after the statement or transaction in flight.
 */

/** A status variable and the value above which it counts, as `Threads_running=25`. */
export interface LoadLimit {
  variable: string;
  limit: number;
}

export interface ThrottleSettings {
  /** Pause while any of these is above its limit (default Threads_running=25). */
  maxLoad: readonly LoadLimit[];
  /** Stop the run (exit 3) when any of these is above its limit (default: none). */
  criticalLoad: readonly LoadLimit[];
  /** Pause while this file exists. */
  pauseFile: string | null;
  /** Replica lag above this waits (seconds; default 1). */
  maxLagSeconds: number;
  /** Lag above --max-lag for this long stops the run (seconds; default 60). */
  maxLagWaitSeconds: number;
  /** How often the servers are asked, and how often a pause looks again (ms; default 1000). */
  checkIntervalMs: number;
}

export const DEFAULT_MAX_LOAD: readonly LoadLimit[] = [{ variable: 'Threads_running', limit: 25 }];
export const DEFAULT_THROTTLE: ThrottleSettings = {
  maxLoad: DEFAULT_MAX_LOAD,
  criticalLoad: [],
  pauseFile: null,
  maxLagSeconds: 1,
  maxLagWaitSeconds: 60,
  checkIntervalMs: 1000,
};

/** Why the run is waiting, for the progress line ("throttled: …") and --verbose. */
export interface ThrottleState {
  reason: 'paused' | 'load' | 'lag';
  message: string;
}

/** A server whose status variables count: reads them by name (absent when the server has no such variable). */
export interface LoadSource {
  /** "primary 127.0.0.1:3306", for messages. */
  name: string;
  status(variables: readonly string[]): Promise<Map<string, string>>;
}

/** The replica the scan reads: its lag, or why it is not replicating. */
export interface LagSource {
  name: string;
  lag(): Promise<{ seconds: number } | { problem: string }>;
}

/** What one gate() looks at: the servers doing the work of this phase, and the replica if the phase reads one. */
export interface ThrottleTargets {
  load: readonly LoadSource[];
  replica: LagSource | null;
}

/** Parses `Threads_running=25` or `Threads_running:25`, comma-separated; `none` (or empty) is no limit. */
export function parseLoadLimits(option: string, text: string): LoadLimit[] {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.toLowerCase() === 'none') return [];
  return trimmed.split(',').map((part) => {
    const match = /^\s*([A-Za-z][A-Za-z0-9_]{0,63})\s*[=:]\s*(\d{1,15})\s*$/.exec(part);
    if (match === null) {
      throw new UsageError(`${option} expects STATUS_VARIABLE=N, like Threads_running=25 (comma-separated for several; none for no limit), got '${part.trim()}'.`);
    }
    const limit = { variable: match[1]!, limit: Number(match[2]) };
    // The statement that reads it is running: a limit of 0 is passed at every read (--max-load would
    // pause for ever, --critical-load stop at once).
    if (limit.variable.toLowerCase() === 'threads_running' && limit.limit < 1) {
      throw new UsageError(
        `${option} Threads_running=0 is passed at every read: the statement that reads it is running (${/critical/i.test(option) ? 'it would stop at once' : 'it would pause for ever'}). Give 1 or more.`,
      );
    }
    return limit;
  });
}

export function describeLimits(limits: readonly LoadLimit[]): string {
  return limits.length === 0 ? 'none' : limits.map((l) => `${l.variable}=${l.limit}`).join(',');
}

interface CachedStatus {
  at: number;
  values: Map<string, string>;
}

export class Throttler {
  private readonly controller = new AbortController();
  private readonly cache = new Map<LoadSource, CachedStatus>();
  private lastReplicaCheck = 0;
  /** When replica lag first went over --max-lag, in this stretch of waiting; null while it is under. */
  private lagSince: number | null = null;
  private current: ThrottleState | null = null;
  private readonly wake: AbortSignal;

  constructor(
    readonly settings: ThrottleSettings,
    private readonly hooks: { signal?: AbortSignal | undefined; onThrottle?: ((state: ThrottleState | null) => void) | undefined } = {},
  ) {
    this.wake = hooks.signal === undefined ? this.controller.signal : AbortSignal.any([hooks.signal, this.controller.signal]);
  }

  /** Aborted, with a DatabaseError saying why, when the run must stop. */
  get stopped(): AbortSignal {
    return this.controller.signal;
  }

  /** Resolves when the next page or batch may start (or the run must stop: see `stopped`). */
  async gate(targets: ThrottleTargets): Promise<void> {
    // Stopped (a signal, --critical-load, a lag or replication stop): no longer waiting, said as
    // such, so that nothing still counts the wait (the CLI's long-wait notice, progress.ts).
    for (;;) {
      if (this.wake.aborted) return this.report(null);
      const state = await this.evaluate(targets);
      if (this.wake.aborted) return this.report(null);
      this.report(state);
      if (state === null) return;
      await sleep(this.settings.checkIntervalMs, undefined, { signal: this.wake }).catch(() => undefined);
    }
  }

  private async evaluate(targets: ThrottleTargets): Promise<ThrottleState | null> {
    const { pauseFile } = this.settings;
    if (pauseFile !== null && existsSync(pauseFile)) {
      return { reason: 'paused', message: `paused: ${pauseFile} exists (remove it to go on)` };
    }
    const throttled = this.current !== null;
    const lag = await this.replicaLag(targets.replica, throttled);
    if (lag !== null) return lag;
    return this.load(targets.load, throttled);
  }

  private async replicaLag(replica: LagSource | null, fresh: boolean): Promise<ThrottleState | null> {
    if (replica === null) return null;
    const now = performance.now();
    if (!fresh && this.lagSince === null && now - this.lastReplicaCheck < this.settings.checkIntervalMs) return null;
    this.lastReplicaCheck = now;
    const lag = await replica.lag();
    if ('problem' in lag) {
      this.stop(`The replica ${replica.name} ${lag.problem}; stopped (a scan there could miss drift). Fix replication, or run without --replica-url.`);
      return null;
    }
    const { maxLagSeconds, maxLagWaitSeconds } = this.settings;
    if (lag.seconds <= maxLagSeconds) {
      this.lagSince = null;
      return null;
    }
    this.lagSince ??= now;
    if (now - this.lagSince >= maxLagWaitSeconds * 1000) {
      this.stop(
        `The replica ${replica.name} has lagged more than --max-lag ${maxLagSeconds} s for ${maxLagWaitSeconds} s (--max-lag-wait; now ${lag.seconds} s behind); ` +
          'stopped. Rerun when it has caught up, or run without --replica-url.',
      );
      return null;
    }
    return { reason: 'lag', message: `throttled: replica ${replica.name} is ${lag.seconds} s behind (--max-lag ${maxLagSeconds})` };
  }

  private async load(sources: readonly LoadSource[], fresh: boolean): Promise<ThrottleState | null> {
    const { maxLoad, criticalLoad } = this.settings;
    const variables = [...new Set([...criticalLoad, ...maxLoad].map((limit) => limit.variable))];
    if (variables.length === 0) return null;
    let throttle: ThrottleState | null = null;
    for (const source of sources) {
      const values = await this.status(source, variables, fresh);
      const over = (limit: LoadLimit): number | null => {
        const text = values.get(limit.variable);
        if (text === undefined) throw new UsageError(`${source.name} has no status variable ${limit.variable} (see SHOW GLOBAL STATUS); fix --max-load/--critical-load.`);
        const value = Number(text);
        if (!Number.isFinite(value)) throw new UsageError(`The status variable ${limit.variable} is not a number on ${source.name} ('${text}'); pick a numeric one for --max-load/--critical-load.`);
        return value > limit.limit ? value : null;
      };
      for (const limit of criticalLoad) {
        const value = over(limit);
        if (value !== null) {
          this.stop(
            `${limit.variable}=${value} on ${source.name} is above --critical-load ${limit.variable}=${limit.limit}; stopped after the statement or transaction in flight. Rerun when the load is back down.`,
          );
          return null;
        }
      }
      for (const limit of maxLoad) {
        const value = over(limit);
        if (value !== null && throttle === null) {
          throttle = { reason: 'load', message: `throttled: ${limit.variable}=${value} on ${source.name} (--max-load ${limit.variable}=${limit.limit})` };
        }
      }
    }
    return throttle;
  }

  /** A source's status, read at most once per check interval while all is well, and every time while throttled. */
  private async status(source: LoadSource, variables: readonly string[], fresh: boolean): Promise<Map<string, string>> {
    const cached = this.cache.get(source);
    const now = performance.now();
    if (!fresh && cached !== undefined && now - cached.at < this.settings.checkIntervalMs) return cached.values;
    const values = await source.status(variables);
    this.cache.set(source, { at: now, values });
    return values;
  }

  private stop(message: string): void {
    if (!this.controller.signal.aborted) this.controller.abort(new DatabaseError(message));
  }

  private report(state: ThrottleState | null): void {
    if (state?.message === this.current?.message) return;
    this.current = state;
    this.hooks.onThrottle?.(state);
  }
}

/**
 * Why the lag options cannot apply, or null. The lag is read from --replica-url's server only (the
 * tool finds no replicas of its own), so without one a lag limit would be accepted and never met:
 * a cron line that trusts it to spare its replicas would be wrong without a word.
 */
export function replicaLagOptionsProblem(given: { replica: boolean; maxLag: boolean; maxLagWait: boolean }, names = { replica: '--replica-url', maxLag: '--max-lag', maxLagWait: '--max-lag-wait' }): string | null {
  if (given.replica) return null;
  const named = [given.maxLag ? names.maxLag : null, given.maxLagWait ? names.maxLagWait : null].filter((name) => name !== null);
  if (named.length === 0) return null;
  return `${named.join(' and ')} ${named.length === 1 ? 'limits' : 'limit'} the lag of the replica that ${names.replica} names, and none is named: ` +
    `give ${names.replica} (the scan then reads that replica), or drop ${named.length === 1 ? 'it' : 'them'}. Nothing was read or written.`;
}
