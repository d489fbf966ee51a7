import { existsSync, readdirSync, readFileSync } from 'node:fs';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findGaleraRequirements, GaleraCluster, GaleraUnavailableError } from '../src/server/galera-cluster.js';
import type { ThrowawayServer } from '../src/server/throwaway-server.js';
import { runCli } from './helpers/cli.js';

/**
 * Smoke tests of the servers the cluster and replica tests run on: a 3-node Galera cluster and a
 * primary with a replica, all started here and left without a trace.
 */

/** Processes whose command line names one of `dirs` (the servers, and helpers such as rsync SST). */
function processesUsing(dirs: readonly string[]): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue; // gone meanwhile
    }
    if (dirs.some((dir) => cmdline.includes(dir))) found.push(`${pid} ${cmdline.trim()}`);
  }
  return found;
}

async function query(server: ThrowawayServer, sql: string, values: unknown[] = [], session: string[] = []): Promise<RowDataPacket[]> {
  const conn = await mysql.createConnection(server.connectionOptions());
  try {
    for (const statement of session) await conn.query(statement);
    const [rows] = await conn.query<RowDataPacket[]>(sql, values);
    return rows;
  } finally {
    await conn.end();
  }
}

describe('Galera prerequisites', () => {
  it('a missing provider names the galera-4 package', () => {
    expect(() => findGaleraRequirements('/nonexistent/libgalera_smm.so')).toThrow(GaleraUnavailableError);
    expect(() => findGaleraRequirements('/nonexistent/libgalera_smm.so')).toThrow(/needs the galera-4 package.*apt-get install -y galera-4/);
  });
});

describe('a 3-node Galera cluster', () => {
  let cluster: GaleraCluster | undefined;
  let dirs: string[] = [];

  beforeAll(async () => {
    cluster = await GaleraCluster.start({ nodes: 3, readyTimeoutMs: 150_000 }); // about 15 s here
    dirs = [0, 1, 2].map((i) => cluster!.node(i).dir);
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('has 3 Synced nodes', async () => {
    for (const i of [0, 1, 2]) {
      expect(await cluster!.status(i)).toEqual({ clusterSize: 3, state: 'Synced', clusterStatus: 'Primary', ready: true });
    }
  });

  it('a row written through node 1 is read through node 3', async () => {
    const [first, third] = [cluster!.node(0), cluster!.node(2)];
    await query(first, 'CREATE DATABASE smoke');
    await query(first, 'CREATE TABLE smoke.t (id INT PRIMARY KEY, note VARCHAR(20))');
    await query(first, "INSERT INTO smoke.t VALUES (1, 'via node 1')");
    const rows = await query(third, 'SELECT id, note FROM smoke.t', [], ['SET SESSION wsrep_sync_wait = 1']);
    expect(rows.map((row) => ({ ...row }))).toEqual([{ id: 1, note: 'via node 1' }]);
  });

  it('counts 2 nodes once one is killed', async () => {
    await cluster!.killNode(2);
    expect(cluster!.alive(2)).toBe(false);
    await cluster!.waitForSize(2, 30_000); // about 3.5 s (evs.suspect_timeout=PT2S)
    expect((await cluster!.status(0)).clusterSize).toBe(2);
    expect((await cluster!.status(1)).clusterSize).toBe(2);
  }, 60_000);

  it("a node left alone (the other two killed) is outside the Primary component: check, repair and doctor say so, not a lock wait (exit 3)", async () => {
    await cluster!.killNode(1);
    const deadline = Date.now() + 30_000;
    while ((await cluster!.status(0)).clusterStatus === 'Primary' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await cluster!.status(0)).clusterStatus).not.toBe('Primary');
    // The database made above: the engine is read once connected to it.
    const url = cluster!.node(0).url('smoke');
    for (const command of [['check'], ['repair', '--yes']]) {
      const result = await runCli([...command, '--url', url]);
      expect(result.code, result.stderr).toBe(3);
      expect(result.stderr).toMatch(/The cluster node 127\.0\.0\.1:\d+ is not ready: it is not in the cluster's Primary component \(wsrep_cluster_status is non-Primary, the node \w+\); connect through another node/);
      expect(result.stderr).not.toContain('metadata lock');
    }
    // doctor's engine line FAILs, and it reads nothing else there.
    const doctor = await runCli(['doctor', '--url', url, '--format', 'json']);
    expect(doctor.code, doctor.stderr).toBe(3);
    const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string; fix?: string }[] }).checks;
    expect(checks.slice(0, 2).map((check) => [check.name, check.status])).toEqual([['connection', 'ok'], ['engine', 'fail']]);
    expect(checks.map((check) => check.name)).not.toContain('schema');
    expect(checks[1]!.detail).toContain('non-Primary (not the Primary component)');
    expect(checks[1]!.fix).toBe('connect through a node of the Primary component (this one refuses reads and writes until it rejoins)');
  }, 60_000);

  it('stop() leaves no process and no directory behind', async () => {
    expect(dirs).toHaveLength(3);
    await cluster!.stop();
    expect(processesUsing(dirs)).toEqual([]);
    expect(dirs.filter((dir) => existsSync(dir))).toEqual([]);
    await cluster!.stop(); // twice is harmless (afterAll does it again)
  }, 60_000);
});

