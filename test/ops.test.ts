import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, runCliOnTerminal, startCli } from './helpers/cli.js';
import { createTestDatabase, seed, type TestDatabase } from './helpers/database.js';
import { driftedIds, settingsSnapshot } from './helpers/snapshot.js';
import { check, RunLockedError } from '../src/index.js';

const ANSI = /\u001b\[/;
const SETTINGS = [
  { id: 1, issuedCount: 2, usedCount: 1, coupons: 2, uses: 1 },
  { id: 2, issuedCount: 5, usedCount: 0, coupons: 1 },
  { id: 3, issuedCount: 0, usedCount: null, coupons: 3, uses: 1 },
  { id: 4, issuedCount: 0, usedCount: 0 },
];

let db: TestDatabase;
let clean: TestDatabase;
let dir: string;

beforeAll(async () => {
  clean = await createTestDatabase('ops_clean');
  await seed(clean.conn, [{ id: 1, issuedCount: 1, usedCount: 0, coupons: 1 }]);
});
afterAll(async () => {
  await clean?.drop();
});
beforeEach(async () => {
  db = await createTestDatabase('ops');
  await seed(db.conn, SETTINGS);
  dir = mkdtempSync(join(tmpdir(), 'coupon-audit-ops-'));
});
afterEach(async () => {
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe('--quiet', () => {
  it('prints nothing at all when there is no drift, for check and repair', async () => {
    for (const args of [['check'], ['repair', '--yes']]) {
      const result = await runCli([...args, '--url', clean.url, '--quiet']);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe('');
    }
  });

  it('--format json is always one document, --quiet or not (so `> drift.json; jq` works)', async () => {
    for (const args of [['check'], ['repair', '--dry-run']]) {
      const result = await runCli([...args, '--url', clean.url, '--quiet', '--format', 'json']);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      expect(JSON.parse(result.stdout)).toMatchObject({ version: 1, summary: { scanned: 1, drifted: 0 }, drifted: [] });
    }
  });

  it('prints a one-line summary on drift, exit code unchanged', async () => {
    const result = await runCli(['check', '--url', db.url, '--quiet']);
    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n')).toEqual(['2 of 4 settings drifted (issuedCount off in 2, usedCount off in 1).']);
    expect(result.stderr).toBe('');
  });
});

describe('terminal manners', () => {
  it('never writes an ANSI code on a pipe, even with drift and --verbose', async () => {
    const result = await runCli(['check', '--url', db.url, '--verbose']);
    expect(result.code).toBe(1);
    expect(result.stdout).not.toMatch(ANSI);
    expect(result.stderr).not.toMatch(ANSI);
    expect(result.stderr).toContain('sql ');
  });

  it('colours on a terminal, and not with NO_COLOR', async () => {
    const coloured = await runCliOnTerminal(['check', '--url', db.url]);
    expect(coloured.code).toBe(1);
    expect(coloured.stdout).toMatch(ANSI);
    expect(coloured.stdout).toContain('2 of 4 settings drifted');
    const plain = await runCliOnTerminal(['check', '--url', db.url], { env: { NO_COLOR: '1' } });
    expect(plain.code).toBe(1);
    // The spinner may still move the cursor; no colour (SGR, ending in m) is written.
    expect(plain.stdout).not.toMatch(/\u001b\[[0-9;]*m/);
  });

  it('FORCE_COLOR colours even on a pipe', async () => {
    const result = await runCli(['check', '--url', db.url], { env: { FORCE_COLOR: '1' } });
    expect(result.stdout).toMatch(ANSI);
  });
});

describe('the confirmation prompt on a terminal', () => {
  it("answered 'n': nothing is written, exit 1", async () => {
    const before = await settingsSnapshot(db.conn);
    const result = await runCliOnTerminal(['repair', '--url', db.url], { answers: ['n'] });
    expect(result.stdout).toContain('Repair 2 settings? [y/N]');
    expect(result.stdout).toContain('Nothing written.');
    expect(result.code).toBe(1);
    expect(await settingsSnapshot(db.conn)).toEqual(before);
  });

  it("answered 'y': repaired, exit 0", async () => {
    const result = await runCliOnTerminal(['repair', '--url', db.url], { answers: ['y'] });
    expect(result.stdout).toContain('Repair 2 settings? [y/N]');
    expect(result.code).toBe(0);
    expect(await driftedIds(db.conn)).toEqual([]);
  });

  it('a SIGTERM or SIGINT sent to the process at the prompt (a service manager, `timeout`) ends it: 143 or 130, nothing written', async () => {
    // The prompt heard only a Ctrl-C typed at the terminal: the run said it was stopping and waited
    // at the question, holding its run lock, until killed.
    const before = await settingsSnapshot(db.conn);
    for (const [signal, code] of [['TERM', 143], ['INT', 130]] as const) {
      const started = performance.now();
      const result = await runCliOnTerminal(['repair', '--url', db.url], { signalAtPrompt: signal });
      expect(result.stdout).toContain('Repair 2 settings? [y/N]');
      expect(result.stdout).toContain(`coupon-audit: SIG${signal}: stopping`);
      expect(result.stdout.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '')).toContain(`coupon-audit: interrupted by SIG${signal} at the prompt: nothing was written`);
      expect(result.code, result.stdout).toBe(code);
      expect(performance.now() - started).toBeLessThan(30_000); // not the helper's 60 s
    }
    expect(await settingsSnapshot(db.conn)).toEqual(before);
  });

  it('a repair waiting for a row another session holds says so on its progress line (it looked hung for seconds)', async () => {
    const blocker = await db.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT id FROM g_coupon_settings WHERE id = 3 FOR UPDATE');
      // Let go once the repair has waited for the row a while (not after a fixed time: on a loaded
      // machine the run reached the row after it was let go, and no wait was shown).
      let done = false;
      const release = (async () => {
        const deadline = Date.now() + 20_000;
        while (!done && Date.now() < deadline) {
          const [[waiting]] = await db.conn.query<RowDataPacket[]>(
            "SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE t.trx_state = 'LOCK WAIT' AND p.DB = ?",
            [db.name],
          );
          if (Number(waiting!['n']) > 0) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await new Promise((resolve) => setTimeout(resolve, 800));
        await blocker.query('ROLLBACK');
      })();
      const result = await runCliOnTerminal(['repair', '--url', db.url, '--yes', '--lock-wait-timeout', '10']);
      done = true;
      await release;
      expect(result.code, result.stdout).toBe(0);
      // The batch's other setting counts as done while setting 3 is waited for.
      expect(result.stdout.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '')).toMatch(/Repairing: 1\/2 settings, .* — waiting for setting 3, held by another session/);
    } finally {
      await blocker.end();
    }
  });

  it('Enter alone is No', async () => {
    const result = await runCliOnTerminal(['repair', '--url', db.url], { answers: [''] });
    expect(result.code).toBe(1);
    expect(await driftedIds(db.conn)).toEqual(['2', '3']);
  });
});

describe('one repair at a time', () => {
  const lockName = () => `coupon-audit:repair:${db.name}`;

  it('a second repair exits 5 naming the holder, and writes nothing', async () => {
    const holder = await db.connect();
    try {
      await holder.query('SELECT GET_LOCK(?, 0)', [lockName()]);
      const [[row]] = await holder.query<RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
      const result = await runCli(['repair', '--url', db.url, '--yes']);
      expect(result.code).toBe(5);
      expect(result.stderr).toContain('Another repair');
      expect(result.stderr).toContain(`connection ${row!['id']}`);
      expect(await driftedIds(db.conn)).toEqual(['2', '3']);
      // check and dry runs are not repairs: they do not need the lock.
      expect((await runCli(['repair', '--url', db.url, '--dry-run'])).code).toBe(1);
    } finally {
      await holder.end();
    }
  });

  it('two real repairs at once: the second exits 5 while the first runs, and the data ends exact', async () => {
    const blocker = await db.connect();
    try {
      // Hold one drifted row so the first repair is still running (waiting and retrying) when the second starts.
      await blocker.query('BEGIN');
      await blocker.query('SELECT id FROM g_coupon_settings WHERE id = 3 FOR UPDATE');
      const first = runCli(['repair', '--url', db.url, '--yes', '--lock-wait-timeout', '1']);
      await waitForLockHolder(db.conn, lockName());
      const second = await runCli(['repair', '--url', db.url, '--yes']);
      expect(second.code).toBe(5);
      await blocker.query('ROLLBACK');
      const firstResult = await first;
      expect([0, 4]).toContain(firstResult.code);
      const rerun = await runCli(['repair', '--url', db.url, '--yes']);
      expect(rerun.code).toBe(0);
      expect(await driftedIds(db.conn)).toEqual([]);
    } finally {
      await blocker.end();
    }
  });

  it('--wait-lock waits for the other repair to finish', async () => {
    const holder = await db.connect();
    try {
      await holder.query('SELECT GET_LOCK(?, 0)', [lockName()]);
      const waiting = runCli(['repair', '--url', db.url, '--yes', '--wait-lock', '20']);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await holder.query('SELECT RELEASE_LOCK(?)', [lockName()]);
      const result = await waiting;
      expect(result.code).toBe(0);
      expect(await driftedIds(db.conn)).toEqual([]);
    } finally {
      await holder.end();
    }
  });

  it('Ctrl-C or SIGTERM while --wait-lock waits: exit 130 / 143 within about a second, no GET_LOCK left waiting on the server', async () => {
    const holder = await db.connect();
    try {
      await holder.query('SELECT GET_LOCK(?, 0)', [lockName()]);
      for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
        const waiting = startCli(['repair', '--url', db.url, '--yes', '--wait-lock', '60']);
        await waitForLockWait(waiting);
        const sent = Date.now();
        waiting.child.kill(signal);
        const result = await waiting.done;
        expect(result.code, result.stderr).toBe(code);
        expect(Date.now() - sent).toBeLessThan(5000);
        expect(result.stderr).not.toContain('Another repair of database'); // the exit-5 sentence
        expect(await lockWaiters(db.conn, lockName())).toBe(0);
      }
      // A signal in the last second of the wait is still the run's end, not exit 5.
      const lastSecond = startCli(['repair', '--url', db.url, '--yes', '--wait-lock', '2']);
      await waitForLockWait(lastSecond);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      lastSecond.child.kill('SIGINT');
      expect((await lastSecond.done).code).toBe(130);
      // Given up after --wait-lock: says it waited, rather than advising --wait-lock.
      const gaveUp = await runCli(['repair', '--url', db.url, '--yes', '--wait-lock', '1']);
      expect(gaveUp.code).toBe(5);
      expect(gaveUp.stderr).toContain('still after 1 s of --wait-lock; try again later or wait longer.');
      expect(await driftedIds(db.conn)).toEqual(['2', '3']);
    } finally {
      await holder.end();
    }
  });
});

describe('one check of every setting at a time (a cron check that outlasts its interval)', () => {
  const lockName = () => `coupon-audit:check:${db.name}`;

  it('a second check exits 5 naming the first, while --ids and repairs go on; --wait-lock waits for it; the library rejects alike', async () => {
    // A real first check, held by a pause file after it took its lock (the pause is between pages).
    const pause = join(dir, 'pause');
    writeFileSync(pause, '');
    const first = startCli(['check', '--url', db.url, '--format', 'json', '--pause-file', pause, '--check-interval', '0.1']);
    try {
      await waitForLockHolder(db.conn, lockName());
      const second = await runCli(['check', '--url', db.url, '--format', 'json']);
      expect(second.code).toBe(5);
      expect(second.stdout).toBe('');
      expect(second.stderr).toMatch(
        new RegExp(`^coupon-audit: Another check of every setting of database '${db.name}' is running \\(it holds the lock '${lockName()}', connection \\d+ \\(root@[^)]+\\)\\); try again later or pass --wait-lock SECONDS\\.\\n$`),
      );
      const library = await check({ url: db.url }).then(() => null, (error: unknown) => error);
      expect(library).toBeInstanceOf(RunLockedError);
      expect((library as RunLockedError).exitCode).toBe(5);
      // A check of a few settings takes no lock; nor does a repair's scan (it has its own lock).
      expect((await runCli(['check', '--url', db.url, '--ids', '2'])).code).toBe(1);
      expect((await runCli(['repair', '--url', db.url, '--dry-run'])).code).toBe(1);
      // --wait-lock: waits while the first runs, then checks.
      const waiting = startCli(['check', '--url', db.url, '--format', 'json', '--wait-lock', '30']);
      await waitForLockWait(waiting);
      expect(waiting.stderr()).toMatch(/^Another check of every setting is running \(connection \d+ \(root@[^)]+\)\): waiting up to 30 s for its lock \(--wait-lock\)\.\n$/);
      rmSync(pause);
      expect((await first.done).code).toBe(1);
      const waited = await waiting.done;
      expect(waited.code).toBe(1);
      expect(JSON.parse(waited.stdout)).toMatchObject({ summary: { scanned: SETTINGS.length, drifted: 2 } });
    } finally {
      rmSync(pause, { force: true });
      first.child.kill('SIGKILL');
    }
    // Released at the end of each run: the next check takes it.
    expect((await runCli(['check', '--url', db.url])).code).toBe(1);
  });
});

/** Sessions waiting in GET_LOCK for `name` ('User lock' in the processlist). */
async function lockWaiters(conn: Connection, name: string): Promise<number> {
  const [rows] = await conn.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE CONCAT('%GET_LOCK(', QUOTE(?), '%')", [name]);
  return Number(rows[0]!['n']);
}

/** Until a run started with --wait-lock says it waits for another run's lock (it asks the server without waiting there). */
async function waitForLockWait(run: { stderr: () => string; exited: () => boolean }): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!/waiting up to \d+ s for its lock/.test(run.stderr())) {
    if (Date.now() > deadline || run.exited()) throw new Error(`no lock wait said: ${run.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('--metrics-file', () => {
  it('writes a Prometheus textfile with HELP and TYPE for every metric, and nothing else in the directory', async () => {
    const path = join(dir, 'coupon_audit.prom');
    const result = await runCli(['check', '--url', db.url, '--metrics-file', path]);
    expect(result.code).toBe(1);
    const metrics = parseMetrics(readFileSync(path, 'utf8'));
    const labels = `{command="check",database="${db.name}"}`;
    expect(metrics.get(`coupon_audit_drifted_settings${labels}`)).toBe(2);
    expect(metrics.get(`coupon_audit_scanned_settings${labels}`)).toBe(4);
    expect(metrics.get(`coupon_audit_repaired_settings${labels}`)).toBe(0);
    expect(metrics.get(`coupon_audit_last_run_success${labels}`)).toBe(1);
    const now = Date.now() / 1000;
    expect(metrics.get(`coupon_audit_last_run_timestamp_seconds${labels}`)).toBeGreaterThan(now - 60);
    expect(metrics.get(`coupon_audit_run_duration_seconds${labels}`)).toBeGreaterThan(0);
    const text = readFileSync(path, 'utf8');
    for (const name of [
      'coupon_audit_drifted_settings',
      'coupon_audit_scanned_settings',
      'coupon_audit_repaired_settings',
      'coupon_audit_last_run_timestamp_seconds',
      'coupon_audit_last_run_success',
      'coupon_audit_run_duration_seconds',
    ]) {
      expect(text).toContain(`# HELP ${name} `);
      expect(text).toContain(`# TYPE ${name} gauge`);
    }
    expect(readdirSync(dir)).toEqual(['coupon_audit.prom']);
  });

  it('counts what repair repaired', async () => {
    const path = join(dir, 'repair.prom');
    expect((await runCli(['repair', '--url', db.url, '--yes', '--quiet', '--metrics-file', path])).code).toBe(0);
    const metrics = parseMetrics(readFileSync(path, 'utf8'));
    const labels = `{command="repair",database="${db.name}"}`;
    expect(metrics.get(`coupon_audit_drifted_settings${labels}`)).toBe(2);
    expect(metrics.get(`coupon_audit_repaired_settings${labels}`)).toBe(2);
    expect(metrics.get(`coupon_audit_last_run_success${labels}`)).toBe(1);
  });

  it('labels a plan-only repair apart: its success is never a repair\'s', async () => {
    const path = join(dir, 'repair.prom');
    expect((await runCli(['repair', '--url', db.url, '--yes', '--quiet', '--metrics-file', path])).code).toBe(0);
    expect(readFileSync(path, 'utf8')).toMatch(/^coupon_audit_last_success_timestamp_seconds\{command="repair",/m);
    for (const args of [['--dry-run'], ['--emit-sql', join(dir, 'plan.sql')]]) {
      expect((await runCli(['repair', '--url', db.url, ...args, '--quiet', '--metrics-file', path])).code).toBe(0);
      const metrics = parseMetrics(readFileSync(path, 'utf8'));
      const labels = `{command="repair --dry-run",database="${db.name}"}`;
      expect(metrics.get(`coupon_audit_last_run_success${labels}`)).toBe(1);
      expect(metrics.get(`coupon_audit_scanned_settings${labels}`)).toBe(4);
      expect([...metrics.keys()].filter((key) => key.includes('command="repair"'))).toEqual([]);
    }
    // A repair that fails next, in the same file, keeps no last success: the dry run's is not its own.
    const broken = new URL(db.url);
    broken.port = '1';
    expect((await runCli(['repair', '--url', broken.toString(), '--yes', '--metrics-file', path])).code).toBe(3);
    const after = readFileSync(path, 'utf8');
    expect(after).toMatch(/^coupon_audit_last_run_success\{command="repair",[^}]*\} 0$/m);
    expect(after).not.toMatch(/^coupon_audit_last_success_timestamp_seconds/m);
  });

  it('a failed run says success 0 and keeps the last success time of the run before', async () => {
    const path = join(dir, 'check.prom');
    await runCli(['check', '--url', db.url, '--metrics-file', path]);
    const before = parseMetrics(readFileSync(path, 'utf8'));
    const lastSuccess = [...before].find(([key]) => key.startsWith('coupon_audit_last_success_timestamp_seconds'))![1];
    // The same database (the last success is kept only for the same labels), on a port where nothing listens.
    const broken = new URL(db.url);
    broken.port = '1';
    const result = await runCli(['check', '--url', broken.toString(), '--metrics-file', path]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('connection refused');
    const after = readFileSync(path, 'utf8');
    expect(after).toMatch(/^coupon_audit_last_run_success\{[^}]*\} 0$/m);
    // The drift last seen stays until a scan replaces it: CouponAuditDriftFound does not resolve
    // while the check cannot connect.
    const drifted = [...before].find(([key]) => key.startsWith('coupon_audit_drifted_settings'))!;
    expect(drifted[1]).toBe(2);
    expect(parseMetrics(after).get(drifted[0])).toBe(2);
    expect(after).toMatch(new RegExp(`^coupon_audit_last_success_timestamp_seconds\\{[^}]*\\} ${lastSuccess!.toFixed(3).replace('.', '\\.')}$`, 'm'));
  });

  it('a run refused before it connects is labelled with its URL\'s database, and keeps that last success', async () => {
    const path = join(dir, 'repair.prom');
    expect((await runCli(['repair', '--url', db.url, '--yes', '--quiet', '--metrics-file', path])).code).toBe(0);
    const labels = `{command="repair",database="${db.name}"}`;
    const lastSuccess = parseMetrics(readFileSync(path, 'utf8')).get(`coupon_audit_last_success_timestamp_seconds${labels}`);
    expect(lastSuccess).toBeGreaterThan(0);
    // A cron line that lost its --yes (stdin is no terminal here): a usage error before connecting.
    const refused = await runCli(['repair', '--url', db.url, '--metrics-file', path]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes is required');
    const metrics = parseMetrics(readFileSync(path, 'utf8'));
    expect(metrics.get(`coupon_audit_last_run_success${labels}`)).toBe(0);
    expect(metrics.get(`coupon_audit_last_run_exit_code${labels}`)).toBe(2);
    expect(metrics.get(`coupon_audit_last_success_timestamp_seconds${labels}`)).toBe(lastSuccess);
    // A URL that does not parse (a password with a raw '#') names no database: the job's file names
    // the database it was last written for, so its drift and last success stay (they were replaced
    // by database="" series, and the drift alert resolved).
    const drifted = metrics.get(`coupon_audit_drifted_settings${labels}`);
    expect(drifted).toBeDefined();
    expect((await runCli(['repair', '--yes', '--url', 'mysql://u:pa#ss@db1:3306/coupons', '--metrics-file', path])).code).toBe(2);
    const unparsed = parseMetrics(readFileSync(path, 'utf8'));
    expect(unparsed.get(`coupon_audit_last_run_exit_code${labels}`)).toBe(2);
    expect(unparsed.get(`coupon_audit_last_success_timestamp_seconds${labels}`)).toBe(lastSuccess);
    expect(unparsed.get(`coupon_audit_drifted_settings${labels}`)).toBe(drifted);
    // Another command's file (or none) has no database for it: the labels stay empty.
    expect((await runCli(['check', '--url', 'http://x/y', '--metrics-file', path])).code).toBe(2);
    expect(readFileSync(path, 'utf8')).toMatch(/^coupon_audit_last_run_success\{command="check",database=""\} 0$/m);
  });

  it('a flag refused by its parser (a typo in the crontab) still writes the failure, with the URL\'s database', async () => {
    const path = join(dir, 'repair.prom');
    expect((await runCli(['repair', '--url', db.url, '--yes', '--quiet', '--metrics-file', path])).code).toBe(0);
    const labels = `{command="repair",database="${db.name}"}`;
    const lastSuccess = parseMetrics(readFileSync(path, 'utf8')).get(`coupon_audit_last_success_timestamp_seconds${labels}`);
    for (const typo of [['--max-changes', 'abc'], ['--bogus'], ['--batch-size', '0']]) {
      const refused = await runCli(['repair', '--url', db.url, '--yes', ...typo, `--metrics-file=${path}`]);
      expect(refused.code).toBe(2);
      const metrics = parseMetrics(readFileSync(path, 'utf8'));
      expect(metrics.get(`coupon_audit_last_run_exit_code${labels}`)).toBe(2);
      expect(metrics.get(`coupon_audit_last_run_success${labels}`)).toBe(0);
      expect(metrics.get(`coupon_audit_last_success_timestamp_seconds${labels}`)).toBe(lastSuccess);
    }
    // --metrics-file with its value missing names no file (not one called '--quiet').
    expect((await runCli(['check', '--url', db.url, '--metrics-file', '--quiet', '--bogus'], { cwd: dir })).code).toBe(2);
    expect(readdirSync(dir)).toEqual(['repair.prom']);
  });

  it('a repair declined at the prompt is labelled as a plan (it wrote nothing); one that found no drift exports failed 0 in any format', async () => {
    const path = join(dir, 'repair.prom');
    const declined = await runCliOnTerminal(['repair', '--url', db.url, '--metrics-file', path], { answers: ['n'] });
    expect(declined.code).toBe(1);
    let metrics = parseMetrics(readFileSync(path, 'utf8'));
    expect(metrics.get(`coupon_audit_last_run_exit_code{command="repair --dry-run",database="${db.name}"}`)).toBe(1);
    expect([...metrics.keys()].some((key) => key.includes('command="repair"'))).toBe(false);
    expect((await runCli(['repair', '--url', db.url, '--yes', '--quiet'])).code).toBe(0);
    for (const format of ['table', 'json']) {
      expect((await runCli(['repair', '--url', db.url, '--yes', '--format', format, '--metrics-file', path])).code).toBe(0);
      metrics = parseMetrics(readFileSync(path, 'utf8'));
      const labels = `{command="repair",database="${db.name}"}`;
      expect([format, metrics.get(`coupon_audit_drifted_settings${labels}`), metrics.get(`coupon_audit_failed_settings${labels}`)]).toEqual([format, 0, 0]);
    }
  });

  it('an unwritable path is a warning; the exit code is the run’s', async () => {
    const result = await runCli(['check', '--url', db.url, '--quiet', '--metrics-file', join(dir, 'missing', 'x.prom')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('warning: could not write the metrics file');
  });
});

describe('--notify-url', () => {
  let server: Server;
  let received: { body: Record<string, unknown>; headers: IncomingMessage['headers'] }[];
  let status: number;
  let url: string;

  beforeEach(async () => {
    received = [];
    status = 200;
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push({ body: JSON.parse(body) as Record<string, unknown>, headers: request.headers });
        response.writeHead(status).end('ok');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address() as { port: number };
    url = `http://127.0.0.1:${address.port}/services/T000/B000/secret-token`;
  });
  afterEach(() => {
    server.close();
  });

  it('POSTs one JSON message with a human text line and the report when drift is found', async () => {
    const result = await runCli(['check', '--url', db.url, '--notify-url', url, '--quiet']);
    expect(result.code).toBe(1);
    expect(received).toHaveLength(1);
    const message = received[0]!;
    expect(message.headers['content-type']).toBe('application/json');
    expect(message.body['text']).toMatch(new RegExp(`^coupon-audit check on root@127\\.0\\.0\\.1:\\d+/${db.name}: 2 drifted settings of 4 scanned`));
    const report = message.body['report'] as { summary: { drifted: number }; drifted: { id: string }[] };
    expect(report.summary.drifted).toBe(2);
    expect(report.drifted.map((setting) => setting.id)).toEqual(['2', '3']);
  });

  it('COUPON_AUDIT_NOTIFY_URL is the webhook when --notify-url is not given (a crontab line then holds no secret); a bad one is exit 2', async () => {
    const result = await runCli(['check', '--url', db.url, '--quiet'], { env: { COUPON_AUDIT_NOTIFY_URL: url } });
    expect(result.code).toBe(1);
    expect(received).toHaveLength(1);
    expect((received[0]!.body['report'] as { summary: { drifted: number } }).summary.drifted).toBe(2);
    // The flag wins.
    const other = await runCli(['check', '--url', db.url, '--quiet', '--notify-url', `${url}-flag`], { env: { COUPON_AUDIT_NOTIFY_URL: 'http://127.0.0.1:1/unused' } });
    expect(other.stderr).toBe('');
    expect(received).toHaveLength(2);
    const metrics = join(dir, 'env-webhook.prom');
    const bad = await runCli(['check', '--url', db.url, '--metrics-file', metrics], { env: { COUPON_AUDIT_NOTIFY_URL: 'hooks.example/T0/SECRET' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('coupon-audit: COUPON_AUDIT_NOTIFY_URL: expected an http:// or https:// URL.\n');
    expect(received).toHaveLength(2);
    // Recorded as a failed run, as a bad flag is.
    expect(parseMetrics(readFileSync(metrics, 'utf8')).get(`coupon_audit_last_run_exit_code{command="check",database="${db.name}"}`)).toBe(2);
  });

  it('a user and token in the URL go as Basic authentication, and never into a message', async () => {
    const withCredentials = url.replace('http://', 'http://hook%40user:Tok3n%3Asecret@');
    const result = await runCli(['check', '--url', db.url, '--notify-url', withCredentials, '--quiet']);
    expect(result.code).toBe(1);
    expect(received).toHaveLength(1);
    expect(received[0]!.headers['authorization']).toBe(`Basic ${Buffer.from('hook@user:Tok3n:secret').toString('base64')}`);
    // Where the post fails, the reason names the host only.
    server.close();
    const failed = await runCli(['check', '--url', db.url, '--notify-url', withCredentials, '--quiet']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/could not notify http:\/\/127\.0\.0\.1:\d+: /);
    expect(failed.stderr).not.toContain('Tok3n');
    expect(failed.stderr).not.toContain('secret-token');
  });

  it('says nothing when all is well', async () => {
    const result = await runCli(['check', '--url', clean.url, '--notify-url', url]);
    expect(result.code).toBe(0);
    expect(received).toHaveLength(0);
  });

  it('notifies a repair that could not finish', async () => {
    const blocker = await db.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT id FROM g_coupon_settings WHERE id = 3 FOR UPDATE');
      const result = await runCli(['repair', '--url', db.url, '--yes', '--lock-wait-timeout', '1', '--notify-url', url]);
      expect(result.code).toBe(4);
      expect(received).toHaveLength(1);
      expect(received[0]!.body['text']).toContain('1 not repaired (exit 4)');
      expect(received[0]!.body['exitCode']).toBe(4);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
  });

  it('a failed POST is a warning that does not print the webhook token, and does not change the exit code', async () => {
    status = 500;
    const failing = await runCli(['check', '--url', db.url, '--notify-url', url]);
    expect(failing.code).toBe(1);
    expect(failing.stderr).toMatch(/warning: could not notify http:\/\/127\.0\.0\.1:\d+: HTTP 500/);
    expect(failing.stderr).not.toContain('secret-token');
    server.close();
    const refused = await runCli(['check', '--url', db.url, '--notify-url', url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('warning: could not notify');
  });

  it('rejects a URL that is not http(s) (exit 2)', async () => {
    const result = await runCli(['check', '--url', db.url, '--notify-url', 'ftp://example.com/hook']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('expected an http:// or https:// URL');
  });
});

function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' '); // a label value may hold spaces: command="repair --dry-run"
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

async function waitForLockHolder(conn: Connection, name: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const [[row]] = await conn.query<RowDataPacket[]>('SELECT IS_USED_LOCK(?) AS holder', [name]);
    if (row!['holder'] !== null) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nobody took ${name}`);
}

