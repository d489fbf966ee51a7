import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, runCli } from './helpers/cli.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { driftedIds } from './helpers/snapshot.js';

/**
 * Faults mid-repair. "Never half applied": after the fault every counter holds either its old
 * value or its true count, the audit table holds exactly the committed changes, and a rerun converges.
 */

const N = 3000; // drifted settings; with --batch-size 5 the repair takes hundreds of transactions
let db: TestDatabase;

beforeEach(async () => {
  db = await createTestDatabase('repair_signals');
  // Settings 1..N with no children and issuedCount = id (drift), usedCount = 0.
  const rows = Array.from({ length: N }, (_, index) => [index + 1, index + 1, 0]);
  await db.query('INSERT INTO g_coupon_settings (id, issuedCount, usedCount) VALUES ?', [rows]);
});
afterEach(async () => {
  await db?.drop();
});

async function waitForAuditRows(min: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const rows = await db
      .query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM coupon_audit_log')
      .catch(() => [{ n: 0 }] as unknown as RowDataPacket[]);
    if (Number(rows[0]!['n']) >= min) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('repair did not start writing');
}

/**
 * repair on a terminal (a pseudo-terminal by `script`): where Ctrl-Z is taken between transactions
 * (cli/pause.ts listens only at one). `child` is the node process itself; the output is the
 * terminal's, stdout and stderr together.
 */
async function startRepairOnTerminal(args: string[]) {
  const command = [process.execPath, BIN, 'repair', '--url', db.url, '--yes', ...args].join(' ');
  const script = spawn('script', ['-qfec', command, '/dev/null'], { env: { PATH: process.env['PATH'] ?? '', TERM: 'dumb' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  script.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  script.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const done = new Promise<{ code: number | null }>((resolve) => script.on('close', (code) => resolve({ code })));
  let pid: number | undefined;
  for (let tries = 0; pid === undefined && tries < 200; tries += 1) {
    for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
      try {
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        if (cmdline[0] === process.execPath && cmdline[1] === BIN && cmdline.includes(db.url)) pid = Number(entry);
      } catch {
        // gone meanwhile
      }
    }
    if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (pid === undefined) throw new Error('repair did not start on the terminal');
  const nodePid = pid;
  const text = () => output.replace(/\r\n/g, '\n');
  const kill = (signal: NodeJS.Signals): void => {
    try {
      process.kill(nodePid, signal);
    } catch {
      // it has ended
    }
  };
  return { child: { pid: nodePid, kill }, done, output: () => ({ stdout: text(), stderr: text() }) };
}

/** Until repair's transaction for setting `id` alone waits in its FOR UPDATE (a row the application holds). */
async function waitForLockWait(id: number): Promise<void> {
  for (let tries = 0; ; tries += 1) {
    const [rows] = await db.conn.query<RowDataPacket[]>(
      `SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE '%WHERE s.\`id\` IN (${id}) ORDER BY s.\`id\` FOR UPDATE'`,
      [db.name],
    );
    if (rows.length > 0) return;
    if (tries > 300) throw new Error(`the repair did not wait for setting ${id}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every counter old or exact; audit rows are exactly the changed counters; batches whole. */
async function expectNeverHalfApplied(batchSize: number): Promise<number> {
  const rows = await db.query<RowDataPacket[]>('SELECT id, issuedCount FROM g_coupon_settings ORDER BY id');
  const changed = new Set<string>();
  for (const row of rows) {
    const value = String(row['issuedCount']);
    expect([String(row['id']), '0']).toContain(value);
    if (value === '0') changed.add(String(row['id']));
  }
  const audit = await db.query<RowDataPacket[]>('SELECT settingId, oldValue, newValue FROM coupon_audit_log');
  expect(new Set(audit.map((row) => String(row['settingId'])))).toEqual(changed);
  expect(audit).toHaveLength(changed.size);
  for (const row of audit) expect([String(row['oldValue']), String(row['newValue'])]).toEqual([String(row['settingId']), '0']);
  // Batches are consecutive runs of `batchSize` ids in ascending order, each committed whole.
  expect(changed.size % batchSize).toBe(0);
  return changed.size;
}

function startRepair(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'repair', '--url', db.url, '--yes', ...args], {
    env: { PATH: process.env['PATH'] ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) => {
    let killedAt = 0;
    const originalKill = child.kill.bind(child);
    child.kill = (signal?: NodeJS.Signals | number) => {
      killedAt = Date.now();
      return originalKill(signal);
    };
    child.on('close', (code, signal) => resolve({ code, signal, ms: Date.now() - killedAt }));
  });
  return { child, done, output: () => ({ stdout, stderr }) };
}

describe('repair under signals', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s mid-run: exits %i within seconds, the batch in flight whole, a summary printed; a rerun converges', async (signal, code) => {
    const dir = mkdtempSync(join(tmpdir(), 'coupon-audit-signals-'));
    const metricsFile = join(dir, 'repair.prom');
    const run = startRepair(['--batch-size', '5', '--metrics-file', metricsFile]);
    await waitForAuditRows(50);
    run.child.kill(signal);
    const result = await run.done;
    expect(result.code).toBe(code);
    const metrics = readFileSync(metricsFile, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    expect(result.ms).toBeLessThan(5000);
    expect(run.output().stdout).toMatch(/Repaired \d+ settings/);
    expect(run.output().stdout).toContain('Interrupted');
    // The table this run made, said also when it stops part-way.
    expect(run.output().stdout).toMatch(/Every write is recorded in \S+\.coupon_audit_log \(created by this run\)/);
    // The summary, not a row per change (an interrupted run of thousands would print them all).
    expect(run.output().stdout).not.toMatch(/^│/m);
    const repaired = await expectNeverHalfApplied(5);
    expect(repaired).toBeGreaterThan(0);
    expect(repaired).toBeLessThan(N);
    // The metrics file says what the interrupted run found and what it committed.
    const labels = `{command="repair",database="${db.name}"}`;
    expect(metrics).toContain(`coupon_audit_last_run_exit_code${labels} ${code}\n`);
    expect(metrics).toContain(`coupon_audit_drifted_settings${labels} ${N}\n`);
    expect(metrics).toContain(`coupon_audit_scanned_settings${labels} ${N}\n`);
    expect(metrics).toContain(`coupon_audit_repaired_settings${labels} ${repaired}\n`);
    const rerun = await runCli(['repair', '--url', db.url, '--yes']);
    expect(rerun.code).toBe(0);
    expect(await driftedIds(db.conn)).toEqual([]);
  });

  it('SIGKILL mid-run: no batch half applied; a rerun converges', async () => {
    const run = startRepair(['--batch-size', '5']);
    await waitForAuditRows(50);
    run.child.kill('SIGKILL');
    const result = await run.done;
    expect(result.signal).toBe('SIGKILL');
    // The server rolls back the killed connection's open transaction; give it a moment to notice.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await expectNeverHalfApplied(5);
    const rerun = await runCli(['repair', '--url', db.url, '--yes']);
    expect(rerun.code).toBe(0);
    expect(await driftedIds(db.conn)).toEqual([]);
  });
});

describe('repair when the server kills its connections', () => {
  it('KILL CONNECTION mid-run: exit 3 with a clear sentence (or a completed run), no batch half applied; a rerun converges', async () => {
    const run = startRepair(['--batch-size', '5']);
    await waitForAuditRows(50);
    const [[me]] = await db.conn.query<RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
    const victims = await db.query<RowDataPacket[]>(
      'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> ?',
      [db.name, me!['id']],
    );
    expect(victims.length).toBeGreaterThan(0);
    for (const victim of victims) await db.query('KILL CONNECTION ?', [Number(victim['id'])]).catch(() => undefined);
    const result = await run.done;
    const { stdout, stderr } = run.output();
    expect([0, 3]).toContain(result.code);
    if (result.code === 3) {
      // The repair's connection or the run lock's, whichever the tool notices first: both stop it cleanly.
      expect(stderr).toMatch(/coupon-audit: Lost the (connection to 127\.0\.0\.1:\d+.*rerun|run lock: .*Rerun to finish)/);
      expect(stderr).not.toMatch(/\n\s+at /);
      // What committed before the fault is still reported.
      expect(stdout).toMatch(/Repaired \d+ settings/);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    await expectNeverHalfApplied(5);
    const rerun = await runCli(['repair', '--url', db.url, '--yes']);
    expect(rerun.code).toBe(0);
    expect(await driftedIds(db.conn)).toEqual([]);
  });
});

describe('Ctrl-Z (SIGTSTP) while repair writes', () => {
  it.runIf(process.platform === 'linux')('pauses between transactions holding no row lock, and goes on with SIGCONT to an exact end', async () => {
    const run = await startRepairOnTerminal(['--batch-size', '5', '--write-concurrency', '2']);
    const state = () => readFileSync(`/proc/${run.child.pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
    try {
      await waitForAuditRows(50);
      run.child.kill('SIGTSTP');
      // Stopped (T) once its writers finished the transactions they had open.
      const deadline = Date.now() + 10_000;
      while (state() !== 'T') {
        if (Date.now() > deadline) throw new Error('the repair did not stop');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // No row of it is locked: the application locks every setting at once, without waiting.
      const app = await db.connect();
      try {
        await app.query('BEGIN');
        const [rows] = await app.query<RowDataPacket[]>('SELECT id FROM g_coupon_settings FOR UPDATE NOWAIT');
        expect(rows).toHaveLength(N);
        await app.query('ROLLBACK');
      } finally {
        await app.end();
      }
      const [[before]] = await db.conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM coupon_audit_log');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const [[still]] = await db.conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM coupon_audit_log');
      expect(still!['n']).toBe(before!['n']);
      expect(Number(before!['n'])).toBeLessThan(N);
    } finally {
      run.child.kill('SIGCONT');
    }
    const result = await run.done;
    expect(result.code).toBe(0);
    expect(run.output().stderr).toContain('coupon-audit: SIGTSTP: pausing after the transactions in flight, holding no row lock (fg to go on)');
    expect(run.output().stderr).toContain('coupon-audit: paused between transactions; no row is locked.');
    expect(await driftedIds(db.conn)).toEqual([]);
    await expectNeverHalfApplied(5);
  });
});

describe('Ctrl-Z (SIGTSTP) where no transaction is open, or between the settings of a batch taken one at a time', () => {
  const stateOf = (pid: number | undefined) => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
  const auditRows = async () => Number((await db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM coupon_audit_log'))[0]!['n']);
  const stopped = async (pid: number | undefined, withinMs: number) => {
    const deadline = Date.now() + withinMs;
    while (stateOf(pid) !== 'T') {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return true;
  };

  it.runIf(process.platform === 'linux')('while a pause file holds the writers back, it stops at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coupon-audit-tstp-'));
    const pause = join(dir, 'pause');
    const run = await startRepairOnTerminal(['--batch-size', '5', '--pause-file', pause, '--check-interval', '0.1']);
    try {
      await waitForAuditRows(50);
      writeFileSync(pause, '');
      // Held back: no new audit row for a while.
      let before = await auditRows();
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 400));
        const now = await auditRows();
        if (now === before) break;
        before = now;
      }
      run.child.kill('SIGTSTP');
      expect(await stopped(run.child.pid, 2000)).toBe(true);
    } finally {
      run.child.kill('SIGCONT');
      rmSync(dir, { recursive: true, force: true });
    }
    expect((await run.done).code).toBe(0);
    // The terminal's output, once the run is over (it reaches the pipe through script meanwhile).
    expect(run.output().stderr).toContain('coupon-audit: paused between transactions; no row is locked.');
    expect(run.output().stderr).not.toContain('pausing after the transactions in flight');
    expect(await driftedIds(db.conn)).toEqual([]);
  });

  it.runIf(process.platform === 'linux')('with a batch\'s settings retried one at a time, after the one in flight', async () => {
    // The application holds settings 1-5: the first batch skips them all, then waits for each alone.
    const app = await db.connect();
    await app.query('BEGIN');
    await app.query('SELECT id FROM g_coupon_settings WHERE id BETWEEN 1 AND 5 FOR UPDATE');
    const run = await startRepairOnTerminal(['--batch-size', '5', '--write-concurrency', '1', '--lock-wait-timeout', '30']);
    try {
      await waitForLockWait(1);
      run.child.kill('SIGTSTP');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(stateOf(run.child.pid)).not.toBe('T'); // its transaction holds setting 1's lock request
      await app.query('ROLLBACK');
      // Stopped once setting 1 is written, before setting 2's transaction.
      expect(await stopped(run.child.pid, 5000)).toBe(true);
      expect(await auditRows()).toBe(1);
    } finally {
      run.child.kill('SIGCONT');
      await app.end();
    }
    expect((await run.done).code).toBe(0);
    expect(run.output().stderr).toContain('pausing after the transactions in flight');
    expect(await driftedIds(db.conn)).toEqual([]);
  });
});

describe('Ctrl-Z, then Ctrl-C before the pause was taken', () => {
  it.runIf(process.platform === 'linux')('the run ends (130) and is never left suspended', async () => {
    const app = await db.connect();
    await app.query('BEGIN');
    await app.query('SELECT id FROM g_coupon_settings WHERE id BETWEEN 1 AND 5 FOR UPDATE');
    const run = await startRepairOnTerminal(['--batch-size', '5', '--write-concurrency', '1', '--lock-wait-timeout', '30']);
    let suspended = false;
    try {
      await waitForLockWait(1);
      run.child.kill('SIGTSTP');
      await new Promise((resolve) => setTimeout(resolve, 200));
      run.child.kill('SIGINT');
      await app.query('ROLLBACK');
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !suspended) {
        try {
          suspended = readFileSync(`/proc/${run.child.pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] === 'T';
        } catch {
          break; // it ended
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      run.child.kill('SIGCONT');
      await app.end();
    }
    expect(suspended).toBe(false);
    expect((await run.done).code).toBe(130);
  });
});

describe('a repair stopped mid-transaction (SIGSTOP, which it cannot catch) past the server\'s idle limit', () => {
  it.runIf(process.platform === 'linux')('the server ends the transaction; resumed, the run says so (exit 3), lists nothing as uncertain, and nothing is half applied', async () => {
    // The application holds setting 2: the repair's own transaction for it waits in FOR UPDATE.
    const app = await db.connect();
    await app.query('BEGIN');
    await app.query('SELECT id FROM g_coupon_settings WHERE id = 2 FOR UPDATE');
    const run = startRepair(['--batch-size', '1', '--write-concurrency', '1', '--lock-wait-timeout', '30', '--format', 'json']);
    const state = () => readFileSync(`/proc/${run.child.pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
    try {
      await waitForLockWait(2);
      // Stopped while its statement waits; then the row is let go: the server gives it the lock and
      // answers, and its transaction sits idle, holding setting 2, while the process is stopped.
      run.child.kill('SIGSTOP');
      while (state() !== 'T') await new Promise((resolve) => setTimeout(resolve, 5));
      await app.query('ROLLBACK');
      // The server ends it after IDLE_TRANSACTION_SECONDS (10 s): setting 2 is free again.
      await new Promise((resolve) => setTimeout(resolve, 11_500));
      await app.query('BEGIN');
      const [free] = await app.query<RowDataPacket[]>('SELECT id FROM g_coupon_settings WHERE id = 2 FOR UPDATE NOWAIT');
      expect(free).toHaveLength(1);
      await app.query('ROLLBACK');
    } finally {
      run.child.kill('SIGCONT');
      await app.end();
    }
    const result = await run.done;
    expect(result.code).toBe(3);
    // Resumed, it read the waiting answer as fresh: only the stall tells of the idle limit, and as
    // the stop came while a statement ran, only as a possibility (db/stalls.ts idleVerdict).
    expect(run.output().stderr).toMatch(
      /coupon-audit: Lost the connection to [^ ]+ while repairing settings 2…2 \([^)]+\): .* The process had been stopped or starved of CPU meanwhile \(SIGSTOP\?\) for 10 s or more while a statement ran: the server may have ended its transaction for sitting idle/,
    );
    expect(JSON.parse(run.output().stdout)).toMatchObject({ summary: { uncertain: 0, repaired: 1 } });
    await expectNeverHalfApplied(1);
  }, 60_000);
});

describe('the run lock is lost mid-run', () => {
  it('KILL of the lock connection: stops after the transaction in flight, exit 3 saying so, never half applied; a rerun converges', async () => {
    const metricsDir = mkdtempSync(join(tmpdir(), 'coupon-audit-lost-lock-'));
    const metrics = join(metricsDir, 'repair.prom');
    const run = startRepair(['--batch-size', '5', '--metrics-file', metrics]);
    await waitForAuditRows(50);
    const [[holder]] = await db.conn.query<RowDataPacket[]>('SELECT IS_USED_LOCK(?) AS id', [`coupon-audit:repair:${db.name}`]);
    expect(holder!['id']).not.toBeNull();
    await db.query('KILL CONNECTION ?', [Number(holder!['id'])]);
    const result = await run.done;
    const { stdout, stderr } = run.output();
    expect(result.code).toBe(3);
    expect(stderr).toMatch(/^coupon-audit: Lost the run lock: .*Rerun to finish\.$/m);
    expect(stdout).toMatch(/Repaired \d+ settings/);
    expect(stdout).toMatch(/Interrupted: [\d,]+ drifted settings not reached, left as they were; a rerun finishes them\./);
    expect(stdout).not.toMatch(/^│/m);
    const repaired = await expectNeverHalfApplied(5);
    expect(repaired).toBeLessThan(N);
    // How many it never reached, as the metrics count them.
    expect(stdout).toContain(`Interrupted: ${(N - repaired).toLocaleString('en-US')} drifted settings not reached`);
    // The settings it never reached are not repaired: the metrics say so (CouponAuditRepairIncomplete
    // fires), where they had said failed 0 and kept both drift alerts quiet.
    const text = readFileSync(metrics, 'utf8');
    rmSync(metricsDir, { recursive: true, force: true });
    const sample = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(sample('coupon_audit_drifted_settings')).toBe(N);
    expect(sample('coupon_audit_repaired_settings')).toBe(repaired);
    expect(sample('coupon_audit_failed_settings')).toBe(N - repaired);
    expect(sample('coupon_audit_last_run_exit_code')).toBe(3);
    const rerun = await runCli(['repair', '--url', db.url, '--yes']);
    expect(rerun.code).toBe(0);
    expect(await driftedIds(db.conn)).toEqual([]);
  });
});
