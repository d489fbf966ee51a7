import type { Database } from '../db/database.js';
import { type ServerInfo, serverInfo } from '../db/inspector.js';
import {
  appliedPosition,
  foreignHistory,
  primaryPosition,
  type ReplicaState,
  type ReplicationDialect,
  replicaStates,
  replicationDialect,
  statusVariables,
  waitForPosition,
} from '../db/replication.js';
import { abortReason, DatabaseError } from '../errors.js';
import type { LagSource, LoadSource, ThrottleState } from './throttle.js';

/**
 * A replica that detection reads instead of the primary (--replica-url). Before the scan, catchUp()
 * makes the replica at least as fresh as the primary was when the run started (GTIDs: the primary's
 * position, waited for on the replica), so a drift committed before the run is never missed; during
 * the scan the throttler reads its lag (lag()). What it reports is confirmed on the primary (run.ts).
 */
export class Replica implements LagSource {
  private constructor(
    readonly db: Database,
    private readonly primary: Database,
    private readonly dialect: ReplicationDialect,
    readonly name: string,
  ) {}

  /** Checks that `replica` replicates (from something) and `primary` keeps a position a replica can be compared with. */
  static async open(primary: Database, replica: Database, primaryInfo?: ServerInfo): Promise<Replica> {
    const dialect = replicationDialect(primaryInfo ?? (await serverInfo(primary)));
    const name = `${replica.config.host}:${replica.config.port}`;
    if (replica.config.host === primary.config.host && replica.config.port === primary.config.port) {
      throw new DatabaseError(`--replica-url names the --url server itself (${name}); give a replica of it.`);
    }
    const self = new Replica(replica, primary, dialect, name);
    if ((await replicaStates(replica, dialect)).length === 0) {
      throw new DatabaseError(`The server ${name} given as --replica-url is not a replica (SHOW ${dialect.replicaStatus.sql.includes('REPLICA') ? 'REPLICA' : 'SLAVE'} STATUS is empty).`);
    }
    return self;
  }

  /** The primary's replication position now (what catchUp waits for); a DatabaseError when it has none to compare. */
  async primaryPosition(): Promise<string> {
    return primaryPosition(this.primary, this.dialect);
  }

  /** The replica's lag in seconds, or why it is not replicating (stopped, broken, unknown lag). */
  async lag(): Promise<{ seconds: number } | { problem: string }> {
    return judge(await replicaStates(this.db, this.dialect));
  }

  /**
   * Waits until the replica has applied everything the primary had committed when this was called,
   * re-reading the replica's state between short waits: stopped or broken replication fails at
   * once, a replica still behind after `maxWaitSeconds` fails then (both DatabaseError, exit 3).
   */
  async catchUp(options: { maxWaitSeconds: number; signal?: AbortSignal | undefined; onWait?: ((state: ThrottleState | null) => void) | undefined }): Promise<void> {
    const position = await this.primaryPosition();
    const deadline = performance.now() + options.maxWaitSeconds * 1000;
    let waited = false;
    for (;;) {
      if (options.signal?.aborted) throw abortReason(options.signal);
      const state = await this.lag();
      if ('problem' in state) {
        throw new DatabaseError(
          `The replica ${this.name} ${state.problem}, so it may not have the primary's latest writes; nothing was checked. ` +
            'Fix replication, or run without --replica-url.',
        );
      }
      // A short first wait, so a replica that is behind is reported at once; then a second at a time,
      // reading its state in between (replication that stops meanwhile fails the run at once).
      const left = (deadline - performance.now()) / 1000;
      if (await waitForPosition(this.db, this.dialect, position, Math.max(0.001, Math.min(waited ? 1 : 0.05, left)))) break;
      if (performance.now() >= deadline) {
        throw new DatabaseError(
          `The replica ${this.name} had not applied the primary's writes up to ${position.replace(/\s+/g, '')} after ${options.maxWaitSeconds} s ` +
            `(--max-lag-wait; ${state.seconds} s behind); nothing was checked. ${state.seconds === 0 ? await this.idleHint() : 'Rerun when it has caught up, or run without --replica-url.'}`,
        );
      }
      waited = true;
      options.onWait?.({ reason: 'lag', message: `waiting for replica ${this.name} to apply the primary's writes (${state.seconds} s behind)` });
    }
    if (waited) options.onWait?.(null);
    const foreign = await this.foreignSource(position);
    if (foreign !== null) throw new DatabaseError(`${foreign}; nothing was checked. Give a replica of ${this.primaryName}, or run without --replica-url.`);
  }

  /**
   * Why this replica does not replicate the primary, or null (foreignHistory), from the primary's
   * position `before` (now, when not given), the replica's, then the primary's again: a true
   * replica is never ahead of the later one. Null too where the wait proves it (MySQL).
   */
  async foreignSource(before?: string): Promise<string | null> {
    const start = before ?? (await this.primaryPosition());
    const applied = await appliedPosition(this.db, this.dialect);
    if (applied === null) return null;
    const foreign = foreignHistory(start, applied, await this.primaryPosition());
    return foreign === null ? null : `The server ${this.name} given as --replica-url does not replicate --url ${this.primaryName}: ${foreign}`;
  }

  /**
   * Whether the replica applies the primary's position now within `seconds`: a replica that reports
   * 0 s behind its own source and does not may replicate another server whose GTIDs of the domain
   * are fewer than the primary's (foreignHistory cannot tell those apart: no position to compare).
   */
  async reachesPrimary(seconds: number): Promise<boolean> {
    return waitForPosition(this.db, this.dialect, await this.primaryPosition(), seconds);
  }

  /** What a replica 0 s behind its own source that has not reached the primary's position most likely is. */
  private async idleHint(): Promise<string> {
    const applied = await appliedPosition(this.db, this.dialect).catch(() => null);
    return (
      `It reports 0 s behind its own source${applied === null || applied === '' ? '' : ` with ${applied.replace(/\s+/g, '')} applied`}: ` +
      `its source may not be ${this.primaryName} (then give a replica of it, or run without --replica-url), or its I/O thread is behind (then rerun when it has caught up).`
    );
  }

  private get primaryName(): string {
    return `${this.primary.config.host}:${this.primary.config.port}`;
  }
}

/** A server whose load the throttler reads. */
export function loadSource(db: Database, role: 'server' | 'primary' | 'replica'): LoadSource {
  return { name: `${role} ${db.config.host}:${db.config.port}`, status: (variables) => statusVariables(db, variables) };
}

/** Replication's health from its channels: every channel must run both threads with a known lag. */
export function judge(states: readonly ReplicaState[]): { seconds: number } | { problem: string } {
  if (states.length === 0) return { problem: 'is not replicating (no replication channel)' };
  let seconds = 0;
  for (const state of states) {
    const detail = [
      `Slave_IO_Running=${state.io}`,
      `Slave_SQL_Running=${state.sql}`,
      ...(state.lastError === null ? [] : [state.lastError]),
    ].join(', ');
    if (state.lastError !== null && (state.io !== 'Yes' || state.sql !== 'Yes')) return { problem: `has broken replication (${detail})` };
    if (state.sql !== 'Yes' && state.io !== 'Yes') return { problem: `has replication stopped, both threads (${detail})` };
    if (state.sql !== 'Yes') return { problem: `has its replication SQL thread stopped (${detail})` };
    if (state.io !== 'Yes') return { problem: `is not receiving from its primary (${detail})` };
    if (state.lagSeconds === null || !Number.isFinite(state.lagSeconds)) return { problem: `reports no lag (${detail})` };
    seconds = Math.max(seconds, state.lagSeconds);
  }
  return { seconds };
}
