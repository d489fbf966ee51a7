import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { delimiter, join } from 'node:path';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { findServerBinary, isExecutable } from './server-binary.js';
import { freePort, NoServerBinaryError, ThrowawayServer } from './throwaway-server.js';

/** A package the cluster needs is not installed; `missing` names it. */
export class GaleraUnavailableError extends Error {
  constructor(
    readonly missing: string,
    detail: string,
  ) {
    super(`A Galera cluster needs the ${missing} package: ${detail} (Debian/Ubuntu: apt-get install -y ${missing}).`);
  }
}

export interface GaleraClusterOptions {
  /** How many nodes (default 3). */
  nodes?: number;
  /** libgalera_smm.so (default: found through the galera-4 package, then in the usual places). */
  providerPath?: string;
  /** Extra wsrep provider options, `key=value;key=value`, after ours. */
  providerOptions?: string;
  /** Extra server options for every node. */
  args?: readonly string[];
  /** How long start() may take in all (default 180 s). */
  readyTimeoutMs?: number;
}

export interface GaleraNodeStatus {
  /** wsrep_cluster_size as this node sees it. */
  clusterSize: number;
  /** wsrep_local_state_comment: Synced, Joining, Donor/Desynced… */
  state: string;
  /** wsrep_cluster_status: Primary or non-Primary. */
  clusterStatus: string;
  /** wsrep_ready. */
  ready: boolean;
}

// Where distributions put the provider when the package manager cannot say.
const PROVIDER_CANDIDATES = [
  '/usr/lib/galera/libgalera_smm.so',
  '/usr/lib/libgalera_smm.so',
  '/usr/lib/x86_64-linux-gnu/galera/libgalera_smm.so',
  '/usr/lib/aarch64-linux-gnu/galera/libgalera_smm.so',
  '/usr/lib64/galera-4/libgalera_smm.so',
  '/usr/lib64/galera/libgalera_smm.so',
  '/usr/local/lib/galera/libgalera_smm.so',
  '/usr/local/lib/libgalera_smm.so',
  '/opt/homebrew/lib/libgalera_smm.so',
];
const BIN_DIRS = ['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin'];

/** Faster failure detection than the defaults (PT5S/PT15S), and a small gcache on disk. */
const DEFAULT_PROVIDER_OPTIONS = [
  'gcache.size=32M',
  'evs.keepalive_period=PT0.5S',
  'evs.inactive_check_period=PT0.5S',
  'evs.suspect_timeout=PT2S',
  'evs.inactive_timeout=PT4S',
  'evs.install_timeout=PT3S',
];

/**
 * A MariaDB Galera cluster of our own on 127.0.0.1: each node a ThrowawayServer (temporary
 * directory, free ports, run as mysql when we are root, own process group, removed by the
 * throwaway servers' exit hook if the process exits first). Nodes are numbered from 0; node 0
 * bootstraps the cluster, the others join it by rsync SST.
 */
export class GaleraCluster {
  private readonly nodes: (ThrowawayServer | undefined)[];

  private constructor(
    readonly provider: string,
    readonly name: string,
    private readonly ports: readonly { sql: number; gmcast: number; ist: number; sst: number }[],
    private readonly providerOptions: string | undefined,
    private readonly args: readonly string[],
  ) {
    this.nodes = ports.map(() => undefined);
  }

  static async start(options: GaleraClusterOptions = {}): Promise<GaleraCluster> {
    const count = options.nodes ?? 3;
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`nodes must be a positive integer, not ${count}`);
    const binary = findServerBinary();
    if (binary === null) throw new NoServerBinaryError();
    if (binary.flavor !== 'MariaDB') {
      throw new GaleraUnavailableError('mariadb-server', `${binary.server} is MySQL, and Galera here means MariaDB's wsrep`);
    }
    const provider = findGaleraRequirements(options.providerPath);
    // All chosen up front and distinct: a node's SQL port must not be another's gmcast port not yet bound.
    const free = await distinctFreePorts(count * 4);
    const ports = Array.from({ length: count }, (_, i) => ({ sql: free[4 * i]!, gmcast: free[4 * i + 1]!, ist: free[4 * i + 2]!, sst: free[4 * i + 3]! }));
    const name = `coupon-audit-${randomBytes(4).toString('hex')}`;
    const cluster = new GaleraCluster(provider, name, ports, options.providerOptions, options.args ?? []);
    const timeoutMs = options.readyTimeoutMs ?? 180_000;
    const deadline = Date.now() + timeoutMs;
    try {
      cluster.nodes[0] = await ThrowawayServer.start({ args: cluster.nodeArgs(0), port: ports[0]!.sql, readyTimeoutMs: timeoutMs });
      // The joiners together: the donor serves one SST at a time, the other retries every second.
      const joiners = await Promise.allSettled(
        ports.slice(1).map(async (_, j) => {
          const node = await ThrowawayServer.start({
            args: cluster.nodeArgs(j + 1),
            port: ports[j + 1]!.sql,
            readyTimeoutMs: Math.max(deadline - Date.now(), 1_000) });
          cluster.nodes[j + 1] = node;
        }),
      );
      const failed = joiners.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      await cluster.waitForSize(count, Math.max(deadline - Date.now(), 1_000));
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** How many nodes the cluster was started with (killed ones included). */
  get size(): number {
    return this.nodes.length;
  }

  /** The throwaway server of node i (0-based). */
  node(i: number): ThrowawayServer {
    const node = this.nodes[i];
    if (node === undefined) throw new RangeError(`no node ${i} (nodes are 0…${this.nodes.length - 1})`);
    return node;
  }

  /** mysql://root@127.0.0.1:PORT/database of node i. */
  url(i: number, database = ''): string {
    return this.node(i).url(database);
  }

  /** The SQL port of node i. */
  port(i: number): number {
    return this.node(i).port;
  }

  connectionOptions(i: number, database?: string): mysql.ConnectionOptions {
    return this.node(i).connectionOptions(database);
  }

  /** Whether node i is running (not killed). */
  alive(i: number): boolean {
    return this.nodes[i]?.pid != null;
  }

  /** SIGKILLs node i (a crash; the survivors notice within a few seconds: see waitForSize). */
  async killNode(i: number): Promise<void> {
    await this.node(i).crash();
  }

  /** wsrep status of node i as it reports it. */
  async status(i: number): Promise<GaleraNodeStatus> {
    const conn = await mysql.createConnection(this.connectionOptions(i));
    try {
      const [rows] = await conn.query<RowDataPacket[]>(
        `SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', 'wsrep_local_state_comment', 'wsrep_cluster_status', 'wsrep_ready')`,
      );
      const value = (name: string): string => String(rows.find((row) => row['Variable_name'] === name)?.['Value'] ?? '');
      return {
        clusterSize: Number(value('wsrep_cluster_size')),
        state: value('wsrep_local_state_comment'),
        clusterStatus: value('wsrep_cluster_status'),
        ready: value('wsrep_ready') === 'ON',
      };
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  /** Waits until every running node is Synced, ready, in the Primary component, and counts `size` nodes. */
  async waitForSize(size: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const live = this.nodes.map((_, i) => i).filter((i) => this.alive(i));
      const seen = await Promise.all(
        live.map(async (i) => {
          try {
            return { i, status: await this.status(i) };
          } catch (error) {
            return { i, error: error instanceof Error ? error.message : String(error) };
          }
        }),
      );
      const settled = seen.every(
        (s) => s.status !== undefined && s.status.clusterSize === size && s.status.state === 'Synced' && s.status.ready && s.status.clusterStatus === 'Primary',
      );
      if (settled && live.length > 0) return;
      if (Date.now() > deadline) {
        const report = seen
          .map((s) => (s.status === undefined ? `node ${s.i}: ${s.error}` : `node ${s.i}: size ${s.status.clusterSize}, ${s.status.state}, ${s.status.clusterStatus}`))
          .join('; ');
        throw new Error(`The Galera cluster did not reach ${size} Synced nodes within ${timeoutMs / 1000} s (${report || 'no node running'})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Kills every node and removes every directory. Safe to call twice. */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        if (node === undefined) return;
        await node.crash(); // the data is thrown away: no need for a clean shutdown
        await node.stop();
      }),
    );
  }

  private nodeArgs(i: number): string[] {
    const own = this.ports[i]!;
    const providerOptions = [
      `gmcast.listen_addr=tcp://127.0.0.1:${own.gmcast}`,
      `ist.recv_addr=127.0.0.1:${own.ist}`,
      ...DEFAULT_PROVIDER_OPTIONS,
      ...(this.providerOptions === undefined ? [] : [this.providerOptions]),
    ].join(';');
    return [
      '--binlog-format=ROW',
      '--innodb-autoinc-lock-mode=2',
      '--wsrep-on=ON',
      `--wsrep-provider=${this.provider}`,
      `--wsrep-cluster-name=${this.name}`,
      `--wsrep-cluster-address=gcomm://${this.ports.map((p) => `127.0.0.1:${p.gmcast}`).join(',')}`,
      '--wsrep-node-address=127.0.0.1',
      `--wsrep-node-name=node${i}`,
      `--wsrep-node-incoming-address=127.0.0.1:${own.sql}`,
      `--wsrep-provider-options=${providerOptions}`,
      '--wsrep-sst-method=rsync',
      `--wsrep-sst-receive-address=127.0.0.1:${own.sst}`,
      ...(i === 0 ? ['--wsrep-new-cluster'] : []),
      ...this.args,
    ];
  }
}

/**
 * The provider library, after checking that the SST by rsync can run: rsync, MariaDB's
 * wsrep_sst_rsync script, and a socket tool that script needs (ss, lsof or sockstat).
 */
export function findGaleraRequirements(providerPath?: string, env: NodeJS.ProcessEnv = process.env): string {
  let provider: string | null;
  if (providerPath !== undefined) {
    if (!existsSync(providerPath)) throw new GaleraUnavailableError('galera-4', `${providerPath} does not exist`);
    provider = providerPath;
  } else {
    provider = findProvider();
    if (provider === null) throw new GaleraUnavailableError('galera-4', 'libgalera_smm.so, the wsrep provider, is not installed');
  }
  const dirs = [...(env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== ''), ...BIN_DIRS];
  const find = (name: string): string | null => dirs.map((dir) => join(dir, name)).find(isExecutable) ?? null;
  if (find('rsync') === null) throw new GaleraUnavailableError('rsync', 'rsync, which copies the data to a joining node (SST), is not installed');
  if (find('wsrep_sst_rsync') === null) {
    throw new GaleraUnavailableError('mariadb-server', 'its wsrep_sst_rsync script, which runs the state transfer, is not on the PATH');
  }
  if (find('ss') === null && find('lsof') === null && find('sockstat') === null) {
    throw new GaleraUnavailableError('iproute2', 'wsrep_sst_rsync needs ss (or lsof) to watch its rsync daemon');
  }
  return provider;
}

/** libgalera_smm.so: from the package's file list (dpkg, rpm), then the usual places. */
function findProvider(): string | null {
  const listed: string[] = [];
  for (const [command, args] of [
    ['dpkg', ['-L', 'galera-4']],
    ['rpm', ['-ql', 'galera-4']],
    ['rpm', ['-ql', 'galera']],
  ] as const) {
    try {
      const out = execFileSync(command, [...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      listed.push(...out.split('\n').filter((line) => line.endsWith('/libgalera_smm.so')));
    } catch {
      // no such package manager, or the package is not installed
    }
  }
  return [...listed, ...PROVIDER_CANDIDATES].find((path) => existsSync(path)) ?? null;
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}
