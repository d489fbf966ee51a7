import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadLimits, replicaUrl, secondsIn } from '../../src/cli/options.js';
import { LONG_WAIT_SECONDS, progressHooks, scanProgressText, thousands } from '../../src/cli/progress.js';
import type { Spinner, Terminal } from '../../src/cli/terminal.js';
import { judge } from '../../src/core/replica.js';
import {
  DEFAULT_THROTTLE,
  type LagSource,
  type LoadSource,
  parseLoadLimits,
  type ThrottleSettings,
  type ThrottleState,
  Throttler,
} from '../../src/core/throttle.js';
import * as builder from '../../src/db/builder.js';
import { resolveConnectionConfig, resolveReplicaConfig } from '../../src/db/connection-config.js';
import type { ServerInfo } from '../../src/db/inspector.js';
import { detectEngine } from '../../src/db/engine.js';
import { foreignHistory, readReplicaStates, replicationDialect } from '../../src/db/replication.js';
import { DatabaseError, UsageError } from '../../src/errors.js';

const engineOf = (version: string) => detectEngine({ version, versionComment: '', variables: {} });
const mariadb: ServerInfo = { version: '10.11.19-MariaDB-0+deb12u1', flavor: 'MariaDB', logBin: true, binlogFormat: 'ROW', readOnly: false, engine: engineOf('10.11.19-MariaDB-0+deb12u1'), databaseCollation: null };
const mysql8: ServerInfo = { version: '8.0.36', flavor: 'MySQL', logBin: true, binlogFormat: 'ROW', readOnly: false, engine: engineOf('8.0.36'), databaseCollation: null };
const mysql80: ServerInfo = { ...mysql8, version: '8.0.21', engine: engineOf('8.0.21') };

describe('statements (exact text)', () => {
  it('load and the row estimate', () => {
    expect(builder.loadSql.status(['Threads_running', 'Threads_connected'])).toBe(
      "/* coupon-audit */ SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_running', 'Threads_connected')",
    );
    expect(builder.loadSql.tableRows('g_coupon_settings')).toBe(
      "/* coupon-audit */ SELECT TABLE_ROWS AS estimate FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'g_coupon_settings'",
    );
  });
  it('MariaDB: gtid_binlog_pos, MASTER_GTID_WAIT, SHOW SLAVE STATUS', () => {
    const d = replicationDialect(mariadb);
    expect(d.primaryPosition.sql).toBe('/* coupon-audit */ SELECT @@GLOBAL.gtid_binlog_pos AS position, @@GLOBAL.log_bin AS logBin');
    expect(d.waitForPosition.sql('0-1-42,1-2-7', 0.5)).toBe("/* coupon-audit */ SELECT MASTER_GTID_WAIT('0-1-42,1-2-7', 0.5) AS waited");
    expect(d.waitForPosition.sql('0-1-42', 0)).toBe("/* coupon-audit */ SELECT MASTER_GTID_WAIT('0-1-42', 0.001) AS waited");
    expect(d.replicaStatus.sql).toBe('/* coupon-audit */ SHOW SLAVE STATUS');
    expect(d.replicaStatus.privilege).toBe('SLAVE MONITOR');
    expect(d.waitForPosition.reached('0')).toBe(true);
    expect(d.waitForPosition.reached('-1')).toBe(false);
    expect(d.waitForPosition.reached(null)).toBe(false);
  });
  it('MySQL: gtid_executed (gtid_mode=ON only), WAIT_FOR_EXECUTED_GTID_SET, SHOW REPLICA STATUS from 8.0.22', () => {
    const d = replicationDialect(mysql8);
    expect(d.primaryPosition.sql).toBe(
      '/* coupon-audit */ SELECT @@GLOBAL.gtid_executed AS position, @@GLOBAL.log_bin AS logBin, @@GLOBAL.gtid_mode AS gtidMode',
    );
    // A GTID set spans lines: the newline is escaped inside the literal.
    expect(d.waitForPosition.sql('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2', 0.5)).toBe(
      "/* coupon-audit */ SELECT WAIT_FOR_EXECUTED_GTID_SET('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2', 1) AS waited",
    );
    expect(d.replicaStatus.sql).toBe('/* coupon-audit */ SHOW REPLICA STATUS');
    expect(replicationDialect(mysql80).replicaStatus.sql).toBe('/* coupon-audit */ SHOW SLAVE STATUS');
    expect(d.primaryPosition.read({ position: 'u:1-5', logBin: 1, gtidMode: 'ON' } as never)).toEqual({ position: 'u:1-5' });
    expect(d.primaryPosition.read({ position: '', logBin: 1, gtidMode: 'OFF' } as never)).toHaveProperty('unusable');
    expect(replicationDialect(mariadb).primaryPosition.read({ position: '', logBin: 0 } as never)).toHaveProperty('unusable');
    expect(replicationDialect(mariadb).primaryPosition.read({ position: '0-1-9', logBin: 1 } as never)).toEqual({ position: '0-1-9' });
  });
});

describe('replication state', () => {
  const row = (fields: Record<string, unknown>) =>
    ({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Seconds_Behind_Master: '0', Last_SQL_Errno: '0', Last_IO_Errno: '0', ...fields }) as never;
  it('reads both spellings (Slave_*/Seconds_Behind_Master and Replica_*/Seconds_Behind_Source)', () => {
    expect(readReplicaStates([row({ Seconds_Behind_Master: '7' })])[0]).toMatchObject({ io: 'Yes', sql: 'Yes', lagSeconds: 7, lastError: null });
    expect(
      readReplicaStates([{ Replica_IO_Running: 'Yes', Replica_SQL_Running: 'No', Seconds_Behind_Source: null, Last_SQL_Errno: 1062, Last_SQL_Error: 'Duplicate entry' } as never])[0],
    ).toMatchObject({ io: 'Yes', sql: 'No', lagSeconds: null, lastError: 'last SQL error 1062: Duplicate entry' });
  });
  it('judges: running with a known lag is fine; a stopped thread, an error, no channel or an unknown lag is a problem', () => {
    expect(judge(readReplicaStates([row({ Seconds_Behind_Master: '3' })]))).toEqual({ seconds: 3 });
    expect(judge(readReplicaStates([row({}), row({ Seconds_Behind_Master: '9' })]))).toEqual({ seconds: 9 });
    expect(judge(readReplicaStates([row({ Slave_SQL_Running: 'No', Seconds_Behind_Master: null })]))).toEqual({
      problem: 'has its replication SQL thread stopped (Slave_IO_Running=Yes, Slave_SQL_Running=No)',
    });
    expect(judge(readReplicaStates([row({ Slave_SQL_Running: 'No', Last_SQL_Errno: '1032', Last_SQL_Error: "Can't find record" })]))).toMatchObject({
      problem: expect.stringMatching(/^has broken replication .*1032: Can't find record/),
    });
    expect(judge(readReplicaStates([row({ Slave_IO_Running: 'Connecting' })]))).toMatchObject({ problem: expect.stringMatching(/^is not receiving/) });
    // STOP SLAVE: both threads, said as both.
    expect(judge(readReplicaStates([row({ Slave_IO_Running: 'No', Slave_SQL_Running: 'No', Seconds_Behind_Master: null })]))).toEqual({
      problem: 'has replication stopped, both threads (Slave_IO_Running=No, Slave_SQL_Running=No)',
    });
    expect(judge([])).toMatchObject({ problem: expect.stringMatching(/not replicating/) });
  });
});

describe('option parsers', () => {
  it('--max-load / --critical-load: VAR=N or VAR:N, comma-separated, none', () => {
    expect(parseLoadLimits('--max-load', 'Threads_running=25')).toEqual([{ variable: 'Threads_running', limit: 25 }]);
    expect(parseLoadLimits('--max-load', 'Threads_running:5, Threads_connected=100')).toEqual([
      { variable: 'Threads_running', limit: 5 },
      { variable: 'Threads_connected', limit: 100 },
    ]);
    expect(parseLoadLimits('--max-load', 'none')).toEqual([]);
    // Threads_running=0 is never met: the statement that reads it runs.
    expect(() => parseLoadLimits('--max-load', 'threads_running=0')).toThrow('--max-load Threads_running=0 is passed at every read: the statement that reads it is running (it would pause for ever). Give 1 or more.');
    expect(() => parseLoadLimits('--critical-load', 'Threads_running=0')).toThrow('(it would stop at once)');
    expect(parseLoadLimits('--critical-load', 'Threads_connected=0')).toEqual([{ variable: 'Threads_connected', limit: 0 }]);
    for (const bad of ['Threads_running', 'Threads_running=', '=5', "x'y=1", 'Threads_running=-1', 'Threads_running=1.5', 'a=1,,b=2', 'Threads_running=0']) {
      expect(() => parseLoadLimits('--max-load', bad)).toThrow(UsageError);
      expect(() => loadLimits('--max-load')(bad)).toThrow(InvalidArgumentError);
    }
  });
  it('seconds with a range; an empty --replica-url', () => {
    expect(secondsIn({ min: 0, max: 10 })('1.5')).toBe(1.5);
    for (const bad of ['-1', '11', 'x', '']) expect(() => secondsIn({ min: 0, max: 10 })(bad)).toThrow(InvalidArgumentError);
    expect(() => replicaUrl(' ')).toThrow(InvalidArgumentError);
  });
  it('--replica-url takes the user, password and TLS it does not give from --url', () => {
    const primary = resolveConnectionConfig({ url: 'mysql://ops:secret@db1:3306/coupons?ssl=true', env: {} });
    expect(resolveReplicaConfig('mysql://db2/coupons', primary)).toMatchObject({ host: 'db2', port: 3306, user: 'ops', password: 'secret', ssl: { rejectUnauthorized: true } });
    expect(resolveReplicaConfig('mysql://ro:pw@db2:3307/coupons?ssl=false', primary)).toMatchObject({ user: 'ro', password: 'pw', port: 3307, ssl: undefined });
    expect(() => resolveReplicaConfig('http://db2/coupons', primary)).toThrow(UsageError);
    // Which URL is wrong is said (both had read "The database URL …").
    expect(() => resolveReplicaConfig('mysql://db2:0/coupons', primary)).toThrow(/^--replica-url: The database URL's port is 0/);
    expect(() => resolveReplicaConfig('', primary)).toThrow(UsageError);
  });
});

describe('progress line', () => {
  it('scanned of an estimated total, rate, time left, drifted', () => {
    expect(scanProgressText({ scanned: 12_000, drifted: 3, elapsedMs: 3000, total: 50_000, totalIsEstimate: true })).toBe(
      'Checking: 12,000/~50,000 settings (estimated total), 4,000/s, ~10 s left, 3 drifted',
    );
    expect(scanProgressText({ scanned: 10, drifted: 0, elapsedMs: 1000, total: 20, totalIsEstimate: false })).toBe(
      'Checking: 10/20 settings, 10/s, ~1 s left, 0 drifted',
    );
    // An estimate below what was read already is raised to it.
    expect(scanProgressText({ scanned: 600, drifted: 1, elapsedMs: 1000, total: 500, totalIsEstimate: true })).toBe(
      'Checking: 600/~600 settings (estimated total), 600/s, ~0 s left, 1 drifted',
    );
    expect(scanProgressText({ scanned: 5, drifted: 0, elapsedMs: 1000, total: null, totalIsEstimate: true })).toBe('Checking: 5 settings, 5/s, 0 drifted');
  });

  it('a wait that lasts LONG_WAIT_SECONDS is said once on stderr (off a terminal the spinner says nothing); one that ends sooner is not', () => {
    vi.useFakeTimers();
    try {
      const warnings: string[] = [];
      const terminal = { alert: (line: string) => warnings.push(line), debug: () => undefined } as unknown as Terminal;
      const spinner = { text: '', start: () => spinner, stop: () => spinner, clear: () => spinner } as unknown as Spinner;
      const hooks = progressHooks(terminal, spinner);
      const load: ThrottleState = { reason: 'load', message: 'Threads_running=31 on server db1:3306 (--max-load Threads_running=25)' };
      hooks.onThrottle!(load);
      vi.advanceTimersByTime((LONG_WAIT_SECONDS - 1) * 1000);
      hooks.onThrottle!(null);
      vi.advanceTimersByTime(LONG_WAIT_SECONDS * 1000);
      expect(warnings).toEqual([]);
      hooks.onThrottle!(load);
      vi.advanceTimersByTime(LONG_WAIT_SECONDS * 1000 * 3);
      expect(warnings).toEqual([`waiting for ${LONG_WAIT_SECONDS} s so far: ${load.message}. The run goes on when that clears (Ctrl-C or SIGTERM stops it).`]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('writes whole numbers as en-US does', () => {
    for (const n of [0, 7, 999, 1000, 12_345, 999_999, 1_000_000, 1_234_567_890, -1, -1234, -1_234_567]) {
      expect(thousands(n)).toBe(new Intl.NumberFormat('en-US').format(n));
    }
  });
});

describe('Throttler', () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });
  const settings = (over: Partial<ThrottleSettings>): ThrottleSettings => ({ ...DEFAULT_THROTTLE, checkIntervalMs: 20, ...over });
  /** A server whose Threads_running follows `values` (the last repeats), counting reads. */
  const server = (values: number[]): LoadSource & { reads: number } => {
    const source = {
      name: 'primary test:1',
      reads: 0,
      status: async (variables: readonly string[]) => {
        const value = values[Math.min(source.reads, values.length - 1)]!;
        source.reads += 1;
        return new Map(variables.filter((v) => v === 'Threads_running').map((v) => [v, String(value)]));
      },
    };
    return source;
  };
  const replica = (lags: ({ seconds: number } | { problem: string })[]): LagSource & { reads: number } => {
    const source = {
      name: 'r:2',
      reads: 0,
      lag: async () => lags[Math.min(source.reads++, lags.length - 1)]!,
    };
    return source;
  };

  it('goes on at once under the limits, reading a server at most once per interval', async () => {
    const primary = server([3]);
    const throttle = new Throttler(settings({ checkIntervalMs: 60_000 }));
    for (let i = 0; i < 5; i += 1) await throttle.gate({ load: [primary], replica: null });
    expect(primary.reads).toBe(1);
    expect(throttle.stopped.aborted).toBe(false);
  });

  it('--max-load: waits while the variable is above N, reports it, and goes on when it drops', async () => {
    const primary = server([30, 40, 26, 25]);
    const states: (ThrottleState | null)[] = [];
    const throttle = new Throttler(settings({}), { onThrottle: (state) => states.push(state) });
    await throttle.gate({ load: [primary], replica: null });
    expect(primary.reads).toBe(4);
    expect(states.map((s) => s?.message ?? null)).toEqual([
      'throttled: Threads_running=30 on primary test:1 (--max-load Threads_running=25)',
      'throttled: Threads_running=40 on primary test:1 (--max-load Threads_running=25)',
      'throttled: Threads_running=26 on primary test:1 (--max-load Threads_running=25)',
      null,
    ]);
  });

  it('a wait that is stopped (a signal) ends as no longer waiting: the last state reported is null', async () => {
    const primary = server([30]);
    const states: (ThrottleState | null)[] = [];
    const stop = new AbortController();
    const throttle = new Throttler(settings({}), { signal: stop.signal, onThrottle: (state) => states.push(state) });
    const waiting = throttle.gate({ load: [primary], replica: null });
    await new Promise((resolve) => setTimeout(resolve, 60));
    stop.abort();
    await waiting;
    expect(states[0]?.message).toBe('throttled: Threads_running=30 on primary test:1 (--max-load Threads_running=25)');
    expect(states.at(-1)).toBeNull();
  });

  it('--critical-load: stops the run with a DatabaseError naming the variable and the server', async () => {
    const throttle = new Throttler(settings({ criticalLoad: [{ variable: 'Threads_running', limit: 50 }] }));
    await throttle.gate({ load: [server([51])], replica: null });
    expect(throttle.stopped.aborted).toBe(true);
    expect(throttle.stopped.reason).toBeInstanceOf(DatabaseError);
    expect((throttle.stopped.reason as Error).message).toMatch(/^Threads_running=51 on primary test:1 is above --critical-load Threads_running=50; stopped/);
  });

  it('an unknown status variable is a usage error', async () => {
    const throttle = new Throttler(settings({ maxLoad: [{ variable: 'Bogus_variable', limit: 1 }] }));
    await expect(throttle.gate({ load: [server([1])], replica: null })).rejects.toThrow(UsageError);
  });

  it('--pause-file: waits while the file exists, without asking the servers', async () => {
    dir = mkdtempSync(join(tmpdir(), 'coupon-audit-pause-'));
    const file = join(dir, 'pause');
    writeFileSync(file, '');
    const primary = server([1]);
    const states: (ThrottleState | null)[] = [];
    const throttle = new Throttler(settings({ pauseFile: file }), { onThrottle: (state) => states.push(state) });
    let done = false;
    const gate = throttle.gate({ load: [primary], replica: null }).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(done).toBe(false);
    expect(primary.reads).toBe(0);
    expect(states).toEqual([{ reason: 'paused', message: `paused: ${file} exists (remove it to go on)` }]);
    rmSync(file);
    await gate;
    expect(states.at(-1)).toBeNull();
  });

  it('a signal ends a pause at once', async () => {
    dir = mkdtempSync(join(tmpdir(), 'coupon-audit-pause-'));
    writeFileSync(join(dir, 'pause'), '');
    const controller = new AbortController();
    const throttle = new Throttler(settings({ pauseFile: join(dir, 'pause'), checkIntervalMs: 60_000 }), { signal: controller.signal });
    const gate = throttle.gate({ load: [], replica: null });
    setTimeout(() => controller.abort(), 50);
    const started = performance.now();
    await gate;
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('--max-lag: waits while the replica is behind; replication stopped, or lag past --max-lag-wait, stops the run', async () => {
    const lagging = replica([{ seconds: 5 }, { seconds: 3 }, { seconds: 1 }]);
    const states: (ThrottleState | null)[] = [];
    const throttle = new Throttler(settings({ maxLagSeconds: 1 }), { onThrottle: (state) => states.push(state) });
    await throttle.gate({ load: [], replica: lagging });
    expect(lagging.reads).toBe(3);
    expect(states[0]?.message).toBe('throttled: replica r:2 is 5 s behind (--max-lag 1)');
    expect(states.at(-1)).toBeNull();

    const stopped = new Throttler(settings({}));
    await stopped.gate({ load: [], replica: replica([{ problem: 'has its replication SQL thread stopped (Slave_IO_Running=Yes, Slave_SQL_Running=No)' }]) });
    expect((stopped.stopped.reason as Error).message).toMatch(/^The replica r:2 has its replication SQL thread stopped/);

    const behind = new Throttler(settings({ maxLagSeconds: 1, maxLagWaitSeconds: 0.1 }));
    await behind.gate({ load: [], replica: replica([{ seconds: 30 }]) });
    expect((behind.stopped.reason as Error).message).toMatch(/^The replica r:2 has lagged more than --max-lag 1 s for 0.1 s/);
  });
});

describe('is the replica one of this primary? (MariaDB GTIDs: MASTER_GTID_WAIT compares sequence numbers only)', () => {
  it('a replica at or behind the primary, its last transaction written on the primary (or its upstream): yes', () => {
    expect(foreignHistory('0-1-100', '0-1-100', '0-1-100')).toBeNull();
    expect(foreignHistory('0-1-100', '0-1-105', '0-1-110')).toBeNull(); // caught up with writes made since
    expect(foreignHistory('0-1-100,1-9-7', '1-9-7,0-1-101', '0-1-101,1-9-7')).toBeNull(); // domains in any order
    expect(foreignHistory('', '0-3-9038', '')).toBeNull(); // a primary that never logged anything: nothing to tell by
  });

  it('the replica of another server passes the wait but not this: ahead of the primary, or another transaction at its sequence number', () => {
    const unprovable = ": it replicates another server, or more than one source writes GTID domain 0, where waiting for the primary's position proves nothing";
    expect(foreignHistory('0-1-8446', '0-3-9038', '0-1-8446')).toBe(`its last transaction of GTID domain 0 (0-3-9038) is past the primary's (0-1-8446)${unprovable}`);
    expect(foreignHistory('0-1-100', '0-3-100', '0-1-100')).toBe(`its transaction 0-3-100 is not the primary's 0-1-100${unprovable}`);
    expect(foreignHistory('0-1-100', '0-3-110', '0-1-110')).toBe(`its transaction 0-3-110 is not the primary's 0-1-110${unprovable}`);
    // Between the two positions, several servers may have written the domain (a Galera cluster): not told.
    expect(foreignHistory('0-1-100', '0-3-105', '0-1-110')).toBeNull();
    // A domain the replica has not received yet (doctor reads without waiting): not told either.
    expect(foreignHistory('2-1-5', '0-1-100', '2-1-5')).toBeNull();
  });
});
