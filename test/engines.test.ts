import { randomBytes, randomUUID } from 'node:crypto';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditScope, DEFAULT_MODEL } from '../src/core/model.js';
import { emptyRepairResult, repairSettings } from '../src/core/repair.js';
import { ensureAuditTable } from '../src/db/applier.js';
import { TAG } from '../src/db/builder.js';
import { resolveConnectionConfig } from '../src/db/connection-config.js';
import { Database } from '../src/db/database.js';
import { detectEngine, type EngineProfile, type ServerAnswers } from '../src/db/engine.js';
import { serverInfo } from '../src/db/inspector.js';
import { acquireRunLock, isRunLock, LEASE_TABLE, leaseTakenMessage, type RunLock, type RunLockHeld } from '../src/db/run-lock.js';
import { DatabaseError } from '../src/errors.js';
import { createTestDatabase, seed, type TestDatabase } from './helpers/database.js';
import { driftedIds } from './helpers/snapshot.js';

/**
 * Engine profiles on the real server: the local MariaDB detected as one server; every pooled
 * connection running the profile's session setup; repair choosing its locking from the flags of
 * engines that cannot run here (recorded answers), seen in the general log; and the lease run lock
 * (what Galera and Group Replication get), taken, refused, expired, fenced.
 */

let db: TestDatabase;
let database: Database;
const scope = auditScope(DEFAULT_MODEL);

const recorded = {
  tidb: { version: '8.0.11-TiDB-v7.5.1', versionComment: 'TiDB Server (Apache License 2.0) Community Edition, MySQL 8.0 compatible', variables: { tidb_txn_mode: 'pessimistic' } },
  vitess: { version: '8.0.30-Vitess', versionComment: "Version: 19.0.4 (Git revision 0b9a4ab branch 'HEAD')", variables: {} },
  galera: {
    version: '10.11.19-MariaDB-0+deb12u1',
    versionComment: 'Debian 12',
    variables: { wsrep_on: 'ON', wsrep_provider: '/usr/lib/galera/libgalera_smm.so', wsrep_node_name: 'node1' },
    status: { wsrep_cluster_size: '3', wsrep_cluster_status: 'Primary', wsrep_local_state_comment: 'Synced' },
  },
} satisfies Record<string, ServerAnswers>;

beforeAll(async () => {
  db = await createTestDatabase('engines');
  database = await Database.connect(resolveConnectionConfig({ url: db.url, env: {} }), { poolSize: 4 });
  await ensureAuditTable(database, DEFAULT_MODEL.auditTable);
});
afterAll(async () => {
  await database?.close();
  await db?.drop();
});

describe('the local server', () => {
  it('is one MariaDB/MySQL server: GET_LOCK, SKIP LOCKED, no session setup', async () => {
    const { engine } = await serverInfo(database);
    expect(['mariadb', 'mysql']).toContain(engine.kind);
    expect(engine).toMatchObject({ supportsSkipLocked: true, namedLockIsClusterWide: true, causalReads: true, readSetup: [], multiPrimary: false });
  });

  it('every pooled connection runs the session setup before its next statement, connections already open included', async () => {
    const pool = await Database.connect(resolveConnectionConfig({ url: db.url, env: {} }), { poolSize: 3 });
    try {
      const probe = `${TAG} SELECT @ca_engine_probe AS v, CONNECTION_ID() AS id`;
      const before = await Promise.all([1, 2, 3].map(() => pool.query(`${TAG} SELECT @ca_engine_probe AS v, CONNECTION_ID() AS id, SLEEP(0.1) AS s`, 'probing')));
      expect(new Set(before.map((rows) => String(rows[0]!['id']))).size).toBe(3); // three connections are open
      expect(before.every((rows) => rows[0]!['v'] === null)).toBe(true);
      pool.setSessionSetup([`${TAG} SET @ca_engine_probe = 'causal'`]);
      const after = await Promise.all([1, 2, 3].map(() => pool.query(probe, 'probing')));
      expect(after.map((rows) => rows[0]!['v'])).toEqual(['causal', 'causal', 'causal']);
      const session = await pool.session('probing');
      expect((await session.query(probe))[0]!['v']).toBe('causal');
      session.release();
    } finally {
      await pool.close();
    }
  });
});

describe('repair picks its row locking from the engine flags', () => {
  const ids = [11, 12, 13, 14, 15];
  let user: string;
  let asUser: Database;
  let holder: Connection;

  beforeAll(async () => {
    user = `ca_eng_${randomBytes(3).toString('hex')}`;
    await db.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'eng-pw'`);
    await db.query(`GRANT ALL ON \`${db.name}\`.* TO '${user}'@'%'`);
    const url = new URL(db.url);
    url.username = user;
    url.password = 'eng-pw';
    asUser = await Database.connect(resolveConnectionConfig({ url: url.toString(), env: {} }), { poolSize: 3 });
    holder = await db.connect();
  });
  afterAll(async () => {
    await holder?.end();
    await asUser?.close();
    await db.query(`DROP USER IF EXISTS '${user}'@'%'`);
  });
  beforeEach(async () => {
    await holder.query('ROLLBACK');
    await db.query('DELETE FROM g_coupons');
    await db.query('DELETE FROM g_coupon_uses');
    await db.query('DELETE FROM g_coupon_settings');
    await seed(db.conn, ids.map((id) => ({ id, issuedCount: 9, usedCount: 0, coupons: 2 })));
  });

  /** Repairs the five settings with `engine`'s flags, and returns the lock statements the server saw. */
  async function repairAs(engine: EngineProfile): Promise<{ locks: string[]; result: ReturnType<typeof emptyRepairResult> }> {
    const [before] = await db.conn.query<RowDataPacket[]>('SELECT @@general_log AS on_, @@log_output AS output, NOW(6) AS since');
    await db.query("SET GLOBAL log_output = 'TABLE', general_log = ON");
    const result = emptyRepairResult(randomUUID());
    try {
      await repairSettings(asUser, ids.map(BigInt), { scope, runId: result.runId, engine, batchSize: 5, lockWaitTimeoutSeconds: 1, maxAttempts: 2, backoffMs: 10 }, result);
      const [rows] = await db.conn.query<RowDataPacket[]>(
        "SELECT CONVERT(argument USING utf8mb4) AS sql_ FROM mysql.general_log WHERE command_type = 'Query' AND user_host LIKE ? AND event_time >= ? AND argument LIKE '%FOR UPDATE%' ORDER BY event_time",
        [`${user}[%`, before[0]!['since']],
      );
      // "11, 12 FOR UPDATE NOWAIT": the ids locked and how.
      return { locks: rows.map((row) => String(row['sql_']).replace(/^.*WHERE s\.`id` IN \(([^)]*)\).*?(FOR UPDATE.*)$/, '$1 $2')), result };
    } finally {
      await db.query(`SET GLOBAL general_log = ${Number(before[0]!['on_']) === 1 ? 'ON' : 'OFF'}, log_output = ?`, [String(before[0]!['output'])]);
    }
  }

  it('TiDB (SKIP LOCKED silently drops the lock there): NOWAIT batches, never SKIP LOCKED; exact', async () => {
    const { locks, result } = await repairAs(detectEngine(recorded.tidb));
    expect(locks).toEqual(['11, 12, 13, 14, 15 FOR UPDATE NOWAIT']);
    expect(result).toMatchObject({ transactions: 1, failed: [] });
    expect(await driftedIds(db.conn)).toEqual([]);
  });

  it('TiDB with a row the application holds: the NOWAIT batch gives way to one setting at a time, the held one reported', async () => {
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM g_coupon_settings WHERE id = 13 FOR UPDATE');
    const { locks, result } = await repairAs(detectEngine(recorded.tidb));
    await holder.query('ROLLBACK');
    // After the NOWAIT batch: each setting alone, waiting for its row (13 twice, then given up).
    expect(locks).toEqual(['11, 12, 13, 14, 15 FOR UPDATE NOWAIT', '11 FOR UPDATE', '12 FOR UPDATE', '13 FOR UPDATE', '13 FOR UPDATE', '14 FOR UPDATE', '15 FOR UPDATE']);
    expect(result.failed.map((failure) => failure.settingId)).toEqual([13n]);
    expect(result.transactions).toBe(4);
    expect(await driftedIds(db.conn)).toEqual(['13']);
  });

  it('Vitess (SKIP LOCKED refused, no NOWAIT): one setting per transaction with a plain FOR UPDATE; exact', async () => {
    const { locks, result } = await repairAs(detectEngine(recorded.vitess));
    expect(locks).toEqual(['11 FOR UPDATE', '12 FOR UPDATE', '13 FOR UPDATE', '14 FOR UPDATE', '15 FOR UPDATE']);
    expect(result).toMatchObject({ transactions: 5, failed: [] });
    expect(await driftedIds(db.conn)).toEqual([]);
  });

  it('a server with SKIP LOCKED: one batch with SKIP LOCKED', async () => {
    const { locks, result } = await repairAs((await serverInfo(database)).engine);
    expect(locks).toEqual(['11, 12, 13, 14, 15 FOR UPDATE SKIP LOCKED']);
    expect(result.transactions).toBe(1);
  });
});

describe('the lease run lock (Galera, Group Replication)', () => {
  const galera = detectEngine(recorded.galera);
  const held: RunLock[] = [];
  const take = async (owner = randomUUID(), waitSeconds = 0, ttlSeconds?: number): Promise<RunLock | RunLockHeld> => {
    const lock = await acquireRunLock(database, galera, { waitSeconds, owner, ...(ttlSeconds === undefined ? {} : { ttlSeconds }) });
    if (isRunLock(lock)) held.push(lock);
    return lock;
  };
  const leaseRows = async () => (await db.query<RowDataPacket[]>(`SELECT name, owner, holder FROM ${LEASE_TABLE}`)).map((row) => ({ ...row }));

  afterEach(async () => {
    for (const lock of held.splice(0)) await lock.release();
    await db.query(`DELETE FROM ${LEASE_TABLE}`).catch(() => undefined);
  });

  it('is a row in a table the tool creates; a second repair is refused, naming the holder; released at the end', async () => {
    const owner = randomUUID();
    const lock = await take(owner);
    expect(isRunLock(lock)).toBe(true);
    expect((lock as RunLock).description).toBe(`the lease 'coupon-audit:repair:${db.name}' in ${LEASE_TABLE}`);
    expect(await leaseRows()).toEqual([
      { name: `coupon-audit:repair:${db.name}`, owner, holder: expect.stringMatching(/^root on \S+ \(pid \d+\) through node node1, 127\.0\.0\.1:\d+$/) },
    ]);
    const second = await take();
    expect(isRunLock(second)).toBe(false);
    expect((second as RunLockHeld).heldBy).toMatch(
      new RegExp(`^run ${owner} by root on \\S+ \\(pid ${process.pid}\\) through node node1, .*, held \\d+\\.\\d s, renewed \\d+\\.\\d s ago, expires in \\d+\\.\\d s unless renewed$`),
    );
    await (lock as RunLock).release();
    expect(await leaseRows()).toEqual([]);
    const third = await take();
    expect(isRunLock(third)).toBe(true);
    await (third as RunLock).release();
  });

  it('waits for the holder with --wait-lock, and is renewed while held', async () => {
    const first = (await take(randomUUID(), 0, 2)) as RunLock;
    const [{ expiresAt: initial }] = await db.query<RowDataPacket[]>(`SELECT expiresAt FROM ${LEASE_TABLE}`) as [{ expiresAt: string }];
    await new Promise((resolve) => setTimeout(resolve, 1200)); // two heartbeats (every ttl/4)
    const [{ expiresAt: renewed }] = await db.query<RowDataPacket[]>(`SELECT expiresAt FROM ${LEASE_TABLE}`) as [{ expiresAt: string }];
    expect(String(renewed) > String(initial)).toBe(true);
    setTimeout(() => void first.release(), 500);
    const started = Date.now();
    const second = await take(randomUUID(), 5);
    expect(isRunLock(second)).toBe(true);
    expect(Date.now() - started).toBeLessThan(3000);
    await (second as RunLock).release();
  });

  it('names a holder whose text holds control characters with them escaped: the lease table cannot drive the terminal', async () => {
    await db.query(
      `INSERT INTO ${LEASE_TABLE} (name, owner, holder, acquiredAt, heartbeatAt, expiresAt) VALUES (?, 'run\x1b[2J', 'ops\n\u202eevil', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL 30 SECOND)`,
      [`coupon-audit:repair:${db.name}`],
    );
    const refused = (await take()) as RunLockHeld;
    expect(refused.heldBy).toMatch(/^run run\\x1b\[2J by ops\\n\\u202eevil, held /);
    expect(refused.heldBy).not.toMatch(/[\u0000-\u001f\u202e]/);
  });

  it('a lease its holder stopped renewing (the process died) is taken over once expired, and not before', async () => {
    await db.query(
      `INSERT INTO ${LEASE_TABLE} (name, owner, holder, acquiredAt, heartbeatAt, expiresAt) VALUES (?, 'dead-run', 'a killed repair', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL 1 SECOND)`,
      [`coupon-audit:repair:${db.name}`],
    );
    const early = await take();
    expect((early as RunLockHeld).heldBy).toMatch(/^run dead-run by a killed repair, held \d\.\d s, renewed \d\.\d s ago, expires in [01]\.\d s unless renewed$/);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const owner = randomUUID();
    const late = await take(owner);
    expect(isRunLock(late)).toBe(true);
    expect((await leaseRows())[0]).toMatchObject({ owner });
    await (late as RunLock).release();
  });

  it('taken over from a paused holder: its heartbeat notices (lost), and its next transaction is rolled back by the fence', async () => {
    const owner = randomUUID();
    const lock = (await take(owner, 0, 1)) as RunLock;
    await seed(db.conn, [{ id: 21, issuedCount: 5, usedCount: 0, coupons: 1 }]);
    // Another repair takes the lease over (as after an expiry while this process was paused).
    await db.query(`UPDATE ${LEASE_TABLE} SET owner = 'thief' WHERE owner = ?`, [owner]);
    const result = emptyRepairResult(owner);
    const error = await repairSettings(
      database,
      [21n],
      { scope, runId: owner, engine: galera, fence: { sql: lock.fenceSql!, lostMessage: leaseTakenMessage(lock.description) } },
      result,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toMatch(/^Lost the run lock: the lease .* is no longer this run's .* the transaction in flight was rolled back/);
    expect(result.transactions).toBe(0);
    expect(await driftedIds(db.conn)).toContain('21'); // nothing written
    expect(await db.query<RowDataPacket[]>('SELECT * FROM coupon_audit_log WHERE runId = ?', [owner])).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 600)); // a heartbeat (every 250 ms at ttl 1 s)
    expect(lock.lost.aborted).toBe(true);
    expect((lock.lost.reason as Error).message).toMatch(/no longer this run's/);
    await lock.release();
    expect(await leaseRows()).toEqual([{ name: `coupon-audit:repair:${db.name}`, owner: 'thief', holder: expect.any(String) }]); // not ours to delete
    await db.query(`DELETE FROM ${LEASE_TABLE}`);
  });
});
