import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GaleraCluster } from '../src/server/galera-cluster.js';
import { type CliResult, runCli, startCli } from './helpers/cli.js';
import { loadSqlFile, seed, type SettingSpec } from './helpers/database.js';
import { driftedIds } from './helpers/snapshot.js';

/**
 * coupon-audit on a real 3-node MariaDB Galera cluster (src/server/galera-cluster.ts: three
 * mariadbd with the galera-4 provider on 127.0.0.1, rsync SST), started once for this file and
 * stopped at the end, failed tests or not. Node numbers in test names are 1-based, as in issue 16;
 * `cluster.node(i)` is 0-based. Every CLI run is the built CLI as a process.
 *
 * 1. repair through the node the application writes to, while it writes: exact on every node,
 *    and no application transaction fails;
 * 2. two repairs at once through two nodes: one runs, the other exits 5 naming the holder;
 * 3. a check through node 3 sees a commit made through node 1 just before, even while node 3 has
 *    not applied it yet (its applier paused);
 * 4. the node a repair is connected to killed mid-transaction: exit 3, every batch whole or not at
 *    all, and a rerun through a surviving node converges;
 * and, against the advice, repairs through a node the application does not write to: what they
 * cannot settle they name (exit 4), never exit 0 with a counter wrong.
 */

let cluster: GaleraCluster | undefined;
let dirs: string[] = [];
let scratch = '';

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'coupon-audit-galera-'));
  cluster = await GaleraCluster.start({ nodes: 3, readyTimeoutMs: 150_000 }); // about 15 s here
  dirs = [0, 1, 2].map((i) => cluster!.node(i).dir);
}, 180_000);

afterAll(async () => {
  try {
    await cluster?.stop();
  } finally {
    if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
  }
  // Every node's directory is gone (the processes with them: stop() waits for each to exit).
  expect(dirs.filter((dir) => existsSync(dir))).toEqual([]);
}, 60_000);

const galera = (): GaleraCluster => {
  if (cluster === undefined) throw new Error('the cluster did not start');
  return cluster;
};

/**
 * A connection to node i. `causal` (the default) sets wsrep_sync_wait = 1, so its reads see every
 * commit the cluster made before them; the tests' own reads of "what is on node i" use it.
 */
async function connect(node: number, database: string, options: { causal?: boolean } = {}): Promise<Connection> {
  const conn = await mysql.createConnection({ ...galera().connectionOptions(node, database), supportBigNumbers: true, bigNumberStrings: true });
  if (options.causal !== false) await conn.query('SET SESSION wsrep_sync_wait = 1');
  return conn;
}

/** A database of its own for one test, created through node 1 with sql/schema.sql. */
async function createDatabase(label: string, settings: readonly SettingSpec[]): Promise<string> {
  const name = `ca_galera_${label}`;
  const conn = await connect(0, '');
  try {
    await conn.query(`CREATE DATABASE ${mysql.escapeId(name)}`);
    await conn.query(`USE ${mysql.escapeId(name)}`);
    await loadSqlFile(conn, 'sql/schema.sql');
    await seed(conn, settings);
  } finally {
    await conn.end();
  }
  return name;
}

/** Drifted settings as node i sees them: one statement (one snapshot), after every earlier commit of the cluster. */
async function driftOn(node: number, database: string): Promise<string[]> {
  const conn = await connect(node, database);
  try {
    return await driftedIds(conn);
  } finally {
    await conn.end();
  }
}

async function rows(node: number, database: string, sql: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  const conn = await connect(node, database);
  try {
    const [result] = await conn.query<RowDataPacket[]>(sql, values);
    return result.map((row) => ({ ...row }));
  } finally {
    await conn.end();
  }
}

interface RepairJson {
  runId: string;
  summary: { repaired: number; failed: number; uncertain: number; stillDrifted: number; interrupted: boolean; transactions: number; retries: number };
  changes: { id: string; counter: string }[];
  failed: { id: string; reason: string }[];
  stillDrifted: string[];
}

function repairJson(result: CliResult): RepairJson {
  try {
    return JSON.parse(result.stdout) as RepairJson;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
}

/** The settings a repair's JSON report says it changed. */
const changedIds = (report: RepairJson): string[] => [...new Set(report.changes.map((change) => change.id))].sort(byNumber);
const byNumber = (a: string, b: string): number => Number(a) - Number(b);

async function until(what: string, condition: () => Promise<boolean>, options: { timeoutMs?: number; everyMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 50));
  }
}

/**
 * The application: four sessions on one node, each transaction changing a child table and its
 * cached counter together (so the caches stay right), in both orders, with rollbacks. Counts what
 * it committed, and every transaction that failed (with whether a repair was running then).
 */
async function startApplication(node: number, database: string, settings: readonly number[]) {
  const sessions = await Promise.all([1, 2, 3, 4].map(() => connect(node, database, { causal: false })));
  const failures: string[] = [];
  let repairing = false;
  let committed = 0;
  let committedDuringRepair = 0;
  let stop = false;
  const work = async (conn: Connection, worker: number): Promise<void> => {
    await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    for (let i = 0; !stop; i += 1) {
      const id = settings[(worker * 5 + i) % settings.length]!;
      const op = (worker * 7 + i) % 6;
      const duringRepair = repairing;
      try {
        await conn.query('BEGIN');
        if (op === 0) {
          // issue: the code, then the counter
          await conn.query('INSERT INTO g_coupons (settingId, code) VALUES (?, ?)', [id, `n${node}-w${worker}-${i}-${Date.now()}`]);
          await conn.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 1 WHERE id = ?', [id]);
          await conn.query('COMMIT');
        } else if (op === 1) {
          // issue: the counter first
          await conn.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 1 WHERE id = ?', [id]);
          await conn.query('INSERT INTO g_coupons (settingId, code) VALUES (?, ?)', [id, `n${node}-w${worker}-${i}-${Date.now()}`]);
          await conn.query('COMMIT');
        } else if (op === 2) {
          // redeem
          await conn.query('INSERT INTO g_coupon_uses (settingId) VALUES (?)', [id]);
          await conn.query('UPDATE g_coupon_settings SET usedCount = usedCount + 1 WHERE id = ?', [id]);
          await conn.query('COMMIT');
        } else if (op === 3) {
          // a redeem that fails and rolls back
          await conn.query('UPDATE g_coupon_settings SET usedCount = usedCount + 1 WHERE id = ?', [id]);
          await conn.query('INSERT INTO g_coupon_uses (settingId) VALUES (?)', [id]);
          await conn.query('ROLLBACK');
        } else if (op === 4) {
          // revoke the newest code
          const [found] = await conn.query<RowDataPacket[]>('SELECT id FROM g_coupons WHERE settingId = ? ORDER BY id DESC LIMIT 1', [id]);
          const couponId = found[0]?.['id'];
          if (couponId !== undefined) {
            const [deleted] = await conn.query('DELETE FROM g_coupons WHERE id = ?', [couponId]);
            if ((deleted as { affectedRows: number }).affectedRows === 1) {
              await conn.query('UPDATE g_coupon_settings SET issuedCount = issuedCount - 1 WHERE id = ?', [id]);
            }
          }
          await conn.query('COMMIT');
        } else {
          // cancel a redeem
          const [found] = await conn.query<RowDataPacket[]>('SELECT id FROM g_coupon_uses WHERE settingId = ? ORDER BY id DESC LIMIT 1', [id]);
          const useId = found[0]?.['id'];
          if (useId !== undefined) {
            const [deleted] = await conn.query('DELETE FROM g_coupon_uses WHERE id = ?', [useId]);
            if ((deleted as { affectedRows: number }).affectedRows === 1) {
              await conn.query('UPDATE g_coupon_settings SET usedCount = usedCount - 1 WHERE id = ?', [id]);
            }
          }
          await conn.query('COMMIT');
        }
        committed += 1;
        if (duringRepair || repairing) committedDuringRepair += 1;
      } catch (error) {
        const e = error as { code?: string; message: string };
        failures.push(`worker ${worker} op ${op}${duringRepair || repairing ? ' (during a repair)' : ''}: ${e.code ?? ''} ${e.message}`);
        await conn.query('ROLLBACK').catch(() => undefined);
      }
    }
  };
  const running = sessions.map((conn, worker) => work(conn, worker));
  return {
    /** Runs `repair` (a CLI process) with the application's transactions counted as "during a repair". */
    async duringRepair(args: readonly string[]): Promise<CliResult> {
      repairing = true;
      try {
        return await runCli(args);
      } finally {
        repairing = false;
      }
    },
    async stop(): Promise<{ committed: number; committedDuringRepair: number; failures: string[] }> {
      stop = true;
      await Promise.all(running);
      await Promise.all(sessions.map((conn) => conn.end()));
      return { committed, committedDuringRepair, failures };
    },
  };
}

/**
 * Fresh drift for one cycle, injected by sessions other than the application's: on two of the
 * application's settings through `appNode` (a bug in the application: one NULL cache, one off by
 * -2), on eight settings nobody else writes through `otherNode` (a migration run elsewhere).
 * Returns the drifted ids.
 */
async function injectDrift(database: string, appNode: number, otherNode: number, hot: readonly number[], cold: readonly number[]): Promise<string[]> {
  const [app, other] = [await connect(appNode, database, { causal: false }), await connect(otherNode, database, { causal: false })];
  try {
    await app.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 5, usedCount = NULL WHERE id = ?', [hot[0]]);
    await app.query('UPDATE g_coupon_settings SET usedCount = usedCount - 2 WHERE id = ?', [hot[1]]);
    await other.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 3, usedCount = usedCount + 1 WHERE id IN (?)', [cold]);
  } finally {
    await Promise.all([app.end(), other.end()]);
  }
  return [...hot, ...cold].map(String).sort(byNumber);
}

/**
 * The live tests' data set: six settings the application writes to (HOT: 10 codes, 3 uses) from
 * `hotFrom`, and forty nobody writes but the drift (COLD: 4 and 1) from `coldFrom`, right at first.
 */
function hotAndCold(hotFrom: number, coldFrom: number): { HOT: number[]; COLD: number[]; settings: SettingSpec[] } {
  const HOT = Array.from({ length: 6 }, (_, i) => hotFrom + i);
  const COLD = Array.from({ length: 40 }, (_, i) => coldFrom + i);
  return {
    HOT,
    COLD,
    settings: [
      ...HOT.map((id) => ({ id, issuedCount: 10, usedCount: 3, coupons: 10, uses: 3 })),
      ...COLD.map((id) => ({ id, issuedCount: 4, usedCount: 1, coupons: 4, uses: 1 })),
    ],
  };
}

describe('live repairs through the node the application writes to', () => {
  const { HOT, COLD, settings } = hotAndCold(101, 201);
  let database = '';

  beforeAll(async () => {
    database = await createDatabase('live', settings);
  });

  it('five cycles of fresh drift, each repaired through node 1: 0 drift on every node, 0 application transactions failed', async () => {
    const app = await startApplication(0, database, HOT);
    const repairs: RepairJson[] = [];
    let outcome: Awaited<ReturnType<typeof app.stop>> | undefined;
    try {
      for (let cycle = 0; cycle < 5; cycle += 1) {
        const hot = [HOT[cycle % HOT.length]!, HOT[(cycle + 3) % HOT.length]!];
        const injected = await injectDrift(database, 0, 2, hot, COLD.slice(cycle * 8, cycle * 8 + 8));
        // The application keeps its counters right: what drifts is exactly what was injected.
        expect(await driftOn(0, database)).toEqual(injected);

        // Batches of two: five transactions, two writers at once, their commits through the lease row.
        const repair = await app.duringRepair(['repair', '--url', galera().url(0, database), '--yes', '--format', 'json', '--batch-size', '2']);
        expect(repair.stderr).toBe('');
        expect(repair.code).toBe(0);
        const report = repairJson(repair);
        expect(report.summary).toMatchObject({ failed: 0, uncertain: 0, stillDrifted: 0, interrupted: false });
        expect(changedIds(report)).toEqual(injected);
        repairs.push(report);
        for (const node of [0, 1, 2]) expect({ node, drifted: await driftOn(node, database) }).toEqual({ node, drifted: [] });
      }
    } finally {
      outcome = await app.stop();
    }
    console.info(
      `galera, repair through the application's node: ${outcome.committed} application transactions committed, ` +
        `${outcome.committedDuringRepair} of them while a repair ran; ${outcome.failures.length} failed; ` +
        `repair retries ${repairs.map((r) => r.summary.retries).join(', ')}`,
    );
    // The scenario is sharp: the application was writing while the repairs ran.
    expect(outcome.committedDuringRepair).toBeGreaterThan(20);
    expect(outcome.failures).toEqual([]);
    // Each node holds the same audit trail: every write of the five runs, under its run id.
    const expected = repairs.flatMap((report) => report.changes.map(() => report.runId)).sort();
    for (const node of [0, 1, 2]) {
      const audit = await rows(node, database, 'SELECT runId FROM coupon_audit_log ORDER BY runId');
      expect(audit.map((row) => String(row['runId'])).sort()).toEqual(expected);
    }
    // And check agrees through every node.
    for (const node of [0, 1, 2]) {
      const check = await runCli(['check', '--url', galera().url(node, database), '--format', 'json']);
      expect({ node, code: check.code, stderr: check.stderr }).toEqual({ node, code: 0, stderr: '' });
    }
  }, 120_000);
});

describe('repairs through a node the application does not write to (not the advice; what happens)', () => {
  const { HOT, COLD, settings } = hotAndCold(301, 401);
  let database = '';

  beforeAll(async () => {
    database = await createDatabase('other_node', settings);
  });

  it('never exits 0 leaving a counter wrong: what it could not settle it names (exit 4), and a rerun through the application\'s node converges', async () => {
    // Row locks are per node: the application's transactions on node 1 and repair's on node 3 meet
    // only at certification, where one of two conflicting commits fails. And an increment of a NULL
    // cache changes no row, so it carries no key to conflict on: repair can write a count that
    // misses a child committed meanwhile through node 1. The final reread (one snapshot) sees that.
    const app = await startApplication(0, database, HOT);
    const outcomes: string[] = [];
    let outcome: Awaited<ReturnType<typeof app.stop>> | undefined;
    try {
      for (let cycle = 0; cycle < 5; cycle += 1) {
        const hot = [HOT[cycle % HOT.length]!, HOT[(cycle + 3) % HOT.length]!];
        const injected = await injectDrift(database, 0, 1, hot, COLD.slice(cycle * 8, cycle * 8 + 8));
        const repair = await app.duringRepair(['repair', '--url', galera().url(2, database), '--yes', '--format', 'json']);
        const report = repairJson(repair);
        const named = [...new Set([...report.failed.map((failure) => failure.id), ...report.stillDrifted])].sort(byNumber);
        outcomes.push(repair.code === 0 ? 'exit 0' : `exit ${repair.code} (failed ${report.failed.map((f) => f.id).join(',') || '-'}, still drifted ${report.stillDrifted.join(',') || '-'})`);
        expect({ code: repair.code, stderr: repair.stderr }).toMatchObject(
          named.length === 0
            ? { code: 0, stderr: '' }
            : { code: 4, stderr: `warning: ${named.length === 1 ? '1 drifted setting' : `${named.length} drifted settings`} not repaired (failed, stillDrifted, uncertain in the report): exit 4.\n` },
        );
        // Whatever it did not name is right on every node; what it named is what is still wrong.
        for (const node of [0, 1, 2]) expect({ node, drifted: await driftOn(node, database) }).toEqual({ node, drifted: named });
        expect(injected).toEqual(expect.arrayContaining(named));
        if (named.length > 0) {
          const rerun = await app.duringRepair(['repair', '--url', galera().url(0, database), '--yes', '--format', 'json']);
          expect({ code: rerun.code, stderr: rerun.stderr }).toEqual({ code: 0, stderr: '' });
          for (const node of [0, 1, 2]) expect({ node, drifted: await driftOn(node, database) }).toEqual({ node, drifted: [] });
        }
      }
    } finally {
      outcome = await app.stop();
    }
    console.info(
      `galera, repair through another node: ${outcomes.join('; ')}; application: ${outcome.committed} committed, ` +
        `${outcome.failures.length} failed (${outcome.failures.filter((f) => f.includes('ER_LOCK_DEADLOCK')).length} of them deadlock errors)`,
    );
    expect(outcome.committedDuringRepair).toBeGreaterThan(20);
  }, 120_000);
});

describe('two repairs at once through two nodes', () => {
  const IDS = Array.from({ length: 20 }, (_, i) => 1 + i);
  let database = '';
  const drift = async (): Promise<string[]> => {
    const conn = await connect(0, database);
    try {
      await conn.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 3 WHERE id % 2 = 0');
    } finally {
      await conn.end();
    }
    return IDS.filter((id) => id % 2 === 0).map(String);
  };
  const leaseRows = (node: number) => rows(node, database, 'SELECT owner, holder FROM coupon_audit_run_lock');

  beforeAll(async () => {
    database = await createDatabase('locks', IDS.map((id) => ({ id, issuedCount: 2, usedCount: 1, coupons: 2, uses: 1 })));
  });

  it('a repair through node 3 while one through node 1 holds the lease: exit 5 naming the holder, nothing written', async () => {
    const drifted = await drift();
    const pause = join(scratch, 'pause-first');
    writeFileSync(pause, '');
    // The first takes the lease, then waits at its pause file before its scan.
    const first = startCli(['repair', '--url', galera().url(0, database), '--yes', '--format', 'json', '--pause-file', pause, '--check-interval', '0.1']);
    try {
      await until('the first repair to hold the lease (seen through node 3)', async () => {
        if (first.exited()) throw new Error(`the first repair exited: ${JSON.stringify(await first.done)}`);
        return (await leaseRows(2).catch(() => [])).length === 1;
      });
      const [lease] = await leaseRows(2);
      expect(String(lease!['holder'])).toContain(`(pid ${first.child.pid}) through node node0, 127.0.0.1:${galera().port(0)}`);

      const second = await runCli(['repair', '--url', galera().url(2, database), '--yes', '--format', 'json']);
      expect(second.code).toBe(5);
      expect(second.stdout).toBe('');
      expect(second.stderr).toContain(
        `Another repair of database '${database}' is running (it holds the lease 'coupon-audit:repair:${database}' in coupon_audit_run_lock, ` +
          `run ${String(lease!['owner'])} by root on `,
      );
      expect(second.stderr).toContain(`(pid ${first.child.pid}) through node node0, 127.0.0.1:${galera().port(0)}, held `);
      expect(second.stderr).toMatch(/expires in \d+\.\d s unless renewed\)/);
      // The second wrote nothing: everything is still drifted, read through every node.
      for (const node of [0, 1, 2]) expect(await driftOn(node, database)).toEqual(drifted);
      expect(first.exited()).toBe(false);
    } finally {
      rmSync(pause, { force: true });
    }
    const done = await first.done;
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    const report = repairJson(done);
    expect(changedIds(report)).toEqual(drifted);
    for (const node of [0, 1, 2]) expect(await driftOn(node, database)).toEqual([]);
    const audit = await rows(1, database, 'SELECT DISTINCT runId FROM coupon_audit_log');
    expect(audit.map((row) => String(row['runId']))).toEqual([report.runId]);
    expect(await leaseRows(1)).toEqual([]); // released
  }, 60_000);

  it('started at the same instant through two nodes: exactly one takes the lease, the other exits 5 (three pairs of nodes)', async () => {
    for (const [a, b] of [
      [0, 2],
      [1, 2],
      [0, 1],
    ] as const) {
      const drifted = await drift();
      const pause = join(scratch, `pause-${a}-${b}`);
      writeFileSync(pause, '');
      // Both wait at the pause file once they hold the lease: whichever won keeps it until the file goes.
      const args = (node: number) => ['repair', '--url', galera().url(node, database), '--yes', '--format', 'json', '--pause-file', pause, '--check-interval', '0.1'];
      const runs = [startCli(args(a)), startCli(args(b))];
      try {
        const loser = await Promise.race(runs.map((run) => run.done));
        expect(loser.code).toBe(5);
        // The winner waits at its pause file, holding the lease; the loser names it.
        const waiting = [a, b].filter((_, i) => !runs[i]!.exited());
        expect(waiting).toHaveLength(1);
        const winner = runs[[a, b].indexOf(waiting[0]!)]!;
        expect(loser.stderr).toContain(`Another repair of database '${database}' is running (it holds the lease `);
        expect(loser.stderr).toContain(`(pid ${winner.child.pid}) through node node${waiting[0]}, 127.0.0.1:${galera().port(waiting[0]!)}, held `);
        for (const node of [0, 1, 2]) expect(await driftOn(node, database)).toEqual(drifted);
      } finally {
        rmSync(pause, { force: true });
      }
      const results = await Promise.all(runs.map((run) => run.done));
      expect(results.map((result) => result.code).sort()).toEqual([0, 5]);
      const winner = results.find((result) => result.code === 0)!;
      expect(changedIds(repairJson(winner))).toEqual(drifted);
      for (const node of [0, 1, 2]) expect(await driftOn(node, database)).toEqual([]);
    }
  }, 90_000);
});

describe('causal reads', () => {
  const IDS = Array.from({ length: 20 }, (_, i) => 1 + i);
  let database = '';

  beforeAll(async () => {
    database = await createDatabase('causal', IDS.map((id) => ({ id, issuedCount: 2, usedCount: 1, coupons: 2, uses: 1 })));
    for (const node of [0, 1, 2]) expect(await driftOn(node, database)).toEqual([]);
  });

  it('a check through node 3 right after a commit through node 1 reports it', async () => {
    const conn = await connect(0, database, { causal: false });
    await conn.query('UPDATE g_coupon_settings SET issuedCount = 9 WHERE id = 7');
    await conn.end();
    const check = await runCli(['check', '--url', galera().url(2, database), '--format', 'json']);
    expect(check.code).toBe(1);
    expect(JSON.parse(check.stdout)).toMatchObject({ summary: { drifted: 1 }, drifted: [{ id: '7', counters: { issuedCount: { cached: 9, actual: 2 } } }] });
  });

  it('a check takes no check lock on Galera (GET_LOCK is per node, and some releases refuse it under wsrep): one held there stops nothing', async () => {
    const holder = await connect(2, database, { causal: false });
    try {
      await holder.query('SELECT GET_LOCK(?, 0)', [`coupon-audit:check:${database}`]);
      const check = await runCli(['check', '--url', galera().url(2, database), '--format', 'json']);
      expect(check.stderr).toBe('');
      expect(check.code).toBe(1);
    } finally {
      await holder.end();
    }
  });

  it('…even while node 3 has not applied that commit yet (its applier paused): the check waits for it', async () => {
    // FLUSH TABLES WITH READ LOCK on a Galera node desyncs it and pauses its applier: node 1 goes on
    // committing, node 3 answers plain reads from before those commits until UNLOCK TABLES.
    const holder = await connect(2, database, { causal: false });
    const monitor = await connect(2, database, { causal: false });
    const writer = await connect(0, database, { causal: false });
    let check: ReturnType<typeof startCli> | undefined;
    try {
      await holder.query('FLUSH TABLES WITH READ LOCK');
      await writer.query('UPDATE g_coupon_settings SET usedCount = 5 WHERE id = 13');
      const [stale] = await monitor.query<RowDataPacket[]>('SELECT usedCount FROM g_coupon_settings WHERE id = 13');
      expect(String(stale[0]!['usedCount'])).toBe('1'); // node 3 is behind: a plain read there misses the commit

      check = startCli(['check', '--url', galera().url(2, database), '--format', 'json']);
      // Until the check has sat in a read for a second (waiting for node 3 to catch up), or has finished.
      await until('the check to wait on node 3, or finish', async () => {
        if (check!.exited()) return true;
        const [waiting] = await monitor.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE '/* coupon-audit */%' AND TIME >= 1",
        );
        return Number(waiting[0]!['n']) > 0;
      });
      expect(check.exited()).toBe(false);
    } finally {
      await holder.query('UNLOCK TABLES').catch(() => undefined);
      await Promise.all([holder, monitor, writer].map((conn) => conn.end()));
    }
    const result = await check.done;
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { drifted: { id: string; counters: Record<string, unknown> }[] };
    expect(report.drifted.map((setting) => setting.id)).toEqual(['7', '13']);
    expect(report.drifted[1]!.counters).toMatchObject({ usedCount: { cached: 5, actual: 1 } });
    await galera().waitForSize(3, 30_000); // node 3 Synced again
  }, 60_000);
});

describe('a node killed during repair', () => {
  // Sixty settings, both counters wrong, each with its own wrong values; repaired ten per transaction.
  const IDS = Array.from({ length: 60 }, (_, i) => 1001 + i);
  const HELD = 1035; // the trigger stops the repair's UPDATE of this one: the 4th batch, after 1031-1034
  let database = '';

  beforeAll(async () => {
    // True counts: 3 coupons and 1 use each; the caches are 100 + id and 50 + id.
    database = await createDatabase('kill', IDS.map((id) => ({ id, issuedCount: 100 + id, usedCount: 50 + id, coupons: 3, uses: 1 })));
  });

  it('exit 3, every batch whole or not at all, and a rerun through a surviving node converges', async () => {
    const states = await rows(0, database, 'SELECT id, issuedCount, usedCount FROM g_coupon_settings ORDER BY id');
    const before = new Map(states.map((row) => [String(row['id']), { issuedCount: String(row['issuedCount']), usedCount: String(row['usedCount']) }]));
    expect(await driftOn(0, database)).toEqual(IDS.map(String)); // all sixty, both counters

    // Holds the repair inside its 4th transaction, after it has written 1031-1034 and before it
    // writes 1035 (only statements run on the node fire a trigger: node 2's applier does not).
    const ddl = await connect(0, database);
    await ddl.query(`CREATE TRIGGER hold_repair BEFORE UPDATE ON g_coupon_settings FOR EACH ROW BEGIN IF NEW.id = ${HELD} THEN SET @held = SLEEP(300); END IF; END`);
    // One writer: batches in order, so the 4th is the one held (with two, the other goes on meanwhile).
    const repair = startCli(['repair', '--url', galera().url(1, database), '--yes', '--format', 'json', '--batch-size', '10', '--write-concurrency', '1']);
    const monitor = await connect(1, database, { causal: false });
    let inFlight: { rows: string } | undefined;
    try {
      await until('the repair to be held mid-transaction on node 2', async () => {
        if (repair.exited()) throw new Error(`the repair exited: ${JSON.stringify(await repair.done)}`);
        // The processlist shows the trigger's statement; INNODB_TRX what its transaction has written.
        const [held] = await monitor.query<RowDataPacket[]>(
          `SELECT t.trx_rows_modified AS n FROM information_schema.PROCESSLIST p
           JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
           WHERE p.DB = ? AND p.STATE = 'User sleep' AND p.INFO LIKE 'SET @held = SLEEP%'`,
          [database],
        );
        if (held.length === 0) return false;
        inFlight = { rows: String(held[0]!['n']) };
        return true;
      }, { everyMs: 250 }); // MariaDB refreshes INNODB_TRX only when nobody read it for 0.1 s
    } finally {
      await monitor.end();
    }
    // In flight: 1031-1034 written, uncommitted, and the UPDATE of 1035 waiting in the trigger.
    expect(inFlight).toEqual({ rows: '4' });
    await galera().killNode(1);

    const result = await repair.done;
    // The dead run's lease outlives its node until it expires (15 s after its last renewal, at most
    // 3.75 s before the kill): a repair through node 1 right now is refused, naming the dead run.
    const refused = await runCli(['repair', '--url', galera().url(0, database), '--yes']);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain(`(pid ${repair.child.pid}) through node node1, 127.0.0.1:${galera().port(1)}, held `);

    expect(result.code).toBe(3);
    expect(result.stderr).toBe(
      `coupon-audit: Lost the connection to 127.0.0.1:${galera().port(1)} while repairing settings ${HELD - 4}…${HELD + 5} ` +
        '(PROTOCOL_CONNECTION_LOST): the server went away or killed the session; rerun when it is back.\n',
    );
    // Its report says what it committed before: the first three batches, nothing of the fourth.
    const partial = repairJson(result);
    expect(partial.summary).toMatchObject({ repaired: 30, transactions: 3, uncertain: 0 });
    expect(changedIds(partial)).toEqual(IDS.slice(0, 30).map(String));
    await galera().waitForSize(2, 30_000);
    await ddl.query('DROP TRIGGER hold_repair');
    await ddl.end();

    // Through both survivors: 1001-1030 (three whole batches) repaired, 1031-1060 exactly as they were.
    const committed = IDS.slice(0, 30).map(String);
    for (const node of [0, 2]) {
      const after = await rows(node, database, 'SELECT id, issuedCount, usedCount FROM g_coupon_settings ORDER BY id');
      const repaired = after.filter((row) => String(row['issuedCount']) === '3' && String(row['usedCount']) === '1').map((row) => String(row['id']));
      const untouched = after
        .filter((row) => {
          const was = before.get(String(row['id']))!;
          return String(row['issuedCount']) === was.issuedCount && String(row['usedCount']) === was.usedCount;
        })
        .map((row) => String(row['id']));
      expect({ node, repaired }).toEqual({ node, repaired: committed });
      expect({ node, untouched }).toEqual({ node, untouched: IDS.slice(30).map(String) });
      // The audit trail holds exactly the committed writes: two counters for each of the thirty.
      const audit = await rows(node, database, 'SELECT runId, settingId, COUNT(*) AS n FROM coupon_audit_log GROUP BY runId, settingId ORDER BY settingId');
      expect(audit.map((row) => [String(row['runId']), String(row['settingId']), String(row['n'])])).toEqual(committed.map((id) => [partial.runId, id, '2']));
    }

    // A rerun through node 1 that may wait for the dead run's lease takes it over once expired, and finishes.
    const rerun = await runCli(['repair', '--url', galera().url(0, database), '--yes', '--format', 'json', '--wait-lock', '30']);
    // Nothing but, where the dead run's lease has not expired yet, the line saying it waits for it.
    expect(rerun.stderr).toMatch(/^(Another repair is running \(run [0-9a-f-]+ by .*\): waiting up to 30 s for its lock \(--wait-lock\)\.\n)?$/);
    expect(rerun.code).toBe(0);
    expect(changedIds(repairJson(rerun))).toEqual(IDS.slice(30).map(String));
    for (const node of [0, 2]) expect(await driftOn(node, database)).toEqual([]);
  }, 90_000);
});
