import { type ChildProcess, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import mysql from 'mysql2/promise';
import { findServerBinary, INSTALL_HINT, type ServerBinary, serverBinaryAt } from './server-binary.js';

export class NoServerBinaryError extends Error {
  constructor(path?: string) {
    super(
      path === undefined
        ? `No MariaDB or MySQL server (mariadbd or mysqld) is installed here: ${INSTALL_HINT}.`
        : `${path} is not a server binary this can start (an executable mysqld, or mariadbd with mariadb-install-db beside it): ${INSTALL_HINT}.`,
    );
  }
}

export interface ThrowawayServerOptions {
  /** Extra server options, like ['--binlog-format=STATEMENT']. */
  args?: readonly string[];
  /** The server binary to start (default: the first mariadbd/mysqld found). */
  binaryPath?: string;
  /** How long to wait for the server to answer (default 60 s). */
  readyTimeoutMs?: number;
  /** The TCP port (default: a free one). */
  port?: number;
  /** Aborting it stops a start in progress (whatever it spawned is killed, its files removed); start() then rejects with its reason. */
  signal?: AbortSignal | undefined;
}

const running = new Set<ThrowawayServer>();
let exitHookInstalled = false;

/**
 * A MariaDB/MySQL server of our own: a temporary data directory, a free port on 127.0.0.1, root
 * with an empty password. `stop()` leaves nothing behind; if the process exits first (an error,
 * process.exit from a signal handler), an exit hook kills the server and removes the directory.
 */
export class ThrowawayServer {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly binary: ServerBinary,
    readonly dir: string,
    readonly port: number,
    private readonly args: readonly string[],
    /** The --user the server runs as when we are root (it refuses root unless told); null otherwise. */
    private readonly runAs: 'mysql' | 'root' | null,
  ) {}

  static async start(options: ThrowawayServerOptions = {}): Promise<ThrowawayServer> {
    const binary = options.binaryPath !== undefined ? serverBinaryAt(options.binaryPath) : findServerBinary();
    if (binary === null) throw new NoServerBinaryError(options.binaryPath);
    installExitHook();
    const dir = mkdtempSync(join(tmpdir(), 'coupon-audit-server-'));
    const server = new ThrowawayServer(binary, dir, options.port ?? (await freePort()), options.args ?? [], chooseUser(dir));
    running.add(server);
    const signal = options.signal;
    // The process group of whatever runs now (install-db and its bootstrap server, or the server).
    const onAbort = (): void => void server.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      signal?.throwIfAborted();
      await server.initialise();
      signal?.throwIfAborted();
      await server.launch(options.readyTimeoutMs ?? 60_000, signal);
      return server;
    } catch (error) {
      await server.stop();
      if (signal?.aborted === true) throw signal.reason;
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  get host(): string {
    return '127.0.0.1';
  }

  /** mysql://root@127.0.0.1:PORT/database */
  url(database = ''): string {
    return `mysql://root@${this.host}:${this.port}/${encodeURIComponent(database)}`;
  }

  connectionOptions(database?: string): mysql.ConnectionOptions {
    return { host: this.host, port: this.port, user: 'root', database, connectTimeout: 5_000 };
  }

  /** Kills the server (SIGKILL: a crash; SIGTERM: a clean shutdown) and starts it again on the same data and port. */
  async restart(options: { signal?: NodeJS.Signals; readyTimeoutMs?: number } = {}): Promise<void> {
    await this.kill(options.signal ?? 'SIGTERM');
    await this.launch(options.readyTimeoutMs ?? 60_000);
  }

  /** The server's process id (also its process group's), or null when it is not running. */
  get pid(): number | null {
    const child = this.child;
    return child?.pid === undefined || child.exitCode !== null || child.signalCode !== null ? null : child.pid;
  }

  /**
   * Kills the server's whole process group with SIGKILL (a crash: helpers such as Galera's SST
   * scripts go too) and waits until it has exited. It stays down: restart() starts it again on the
   * same data and port, stop() removes the directory.
   */
  async crash(): Promise<void> {
    const pid = this.pid;
    if (pid === null) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
    const keepAlive = setInterval(() => undefined, 1_000); // the child is unref'd: wait for it all the same
    await this.exited;
    clearInterval(keepAlive);
    this.child = null;
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
    running.delete(this);
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  /**
   * A tmpdir of its own: at start-up the server deletes every #sql* file in its tmpdir, so with a
   * shared /tmp one server starting removes another's bootstrap tables (mariadb-install-db then
   * fails with "Unknown table 'mysql.tmp_…'") when test files start servers at once.
   */
  private get tmpDir(): string {
    return join(this.dir, 'tmp');
  }

  private userArgs(): string[] {
    return this.runAs === null ? [] : [`--user=${this.runAs}`];
  }

  private async initialise(): Promise<void> {
    mkdirSync(this.dataDir);
    mkdirSync(this.tmpDir);
    if (this.runAs === 'mysql') {
      const { uid, gid } = mysqlUser()!;
      for (const path of [this.dir, this.dataDir, this.tmpDir]) chownSync(path, uid, gid);
    }
    const args =
      this.binary.installDb !== null
        ? [
            '--no-defaults',
            `--datadir=${this.dataDir}`,
            '--auth-root-authentication-method=normal',
            '--skip-test-db',
            `--tmpdir=${this.tmpDir}`,
            ...this.userArgs(),
          ]
        : ['--no-defaults', '--initialize-insecure', `--datadir=${this.dataDir}`, `--tmpdir=${this.tmpDir}`, ...this.userArgs()];
    const program = this.binary.installDb ?? this.binary.server;
    // Spawned like the server (own process group, tracked), so an exit mid-initialisation kills it too.
    const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (exitCode) => resolve(exitCode));
    });
    this.child = null;
    if (code !== 0) {
      const detail = stderr.trim().split('\n').slice(-3).join(' ');
      throw new Error(`Could not initialise a data directory with ${program} (exit ${code}): ${detail}`);
    }
  }

  private async launch(readyTimeoutMs: number, signal?: AbortSignal): Promise<void> {
    const child = spawn(
      this.binary.server,
      [
        '--no-defaults',
        ...this.userArgs(),
        `--datadir=${this.dataDir}`,
        `--tmpdir=${this.tmpDir}`,
        `--port=${this.port}`,
        `--bind-address=${this.host}`,
        `--socket=${join(this.dir, 'sock')}`,
        `--pid-file=${join(this.dir, 'pid')}`,
        `--log-error=${join(this.dir, 'error.log')}`,
        '--innodb-buffer-pool-size=64M',
        '--skip-name-resolve',
        ...this.args,
      ],
      // Its own process group: a Ctrl-C at the terminal reaches us, and we decide how it stops.
      { stdio: 'ignore', detached: true },
    );
    this.child = child;
    // A program that cannot be run (a directory, no execute permission: EACCES) is told by an
    // 'error' event, not an exit: unheard, it ended the process with Node's stack and exit 1.
    let spawnError: Error | null = null;
    child.once('error', (error) => (spawnError = error));
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    child.unref();
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      if (spawnError !== null) throw new Error(`Could not run ${this.binary.server}: ${(spawnError as Error).message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`The throwaway server exited at start-up: ${this.errorLogTail()}`);
      }
      try {
        const conn = await mysql.createConnection(this.connectionOptions());
        await conn.ping();
        await conn.end();
        return;
      } catch {
        if (Date.now() > deadline) {
          throw new Error(`The throwaway server did not answer within ${readyTimeoutMs / 1000} s: ${this.errorLogTail()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    }
  }

  /** Signals the child's whole process group (mariadb-install-db runs a bootstrap server of its own) and waits for the child. */
  private async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const send = (which: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, which);
      } catch {
        child.kill(which); // no group (already gone, or not its leader)
      }
    };
    send(signal);
    const timer = setTimeout(() => send('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
    if (this.child === child) this.child = null;
  }

  /** For the exit hook: no promises, nothing to wait for. */
  killNow(): void {
    if (this.child?.pid !== undefined && this.child.exitCode === null) {
      try {
        process.kill(-this.child.pid, 'SIGKILL'); // the whole group: install-db runs a bootstrap server
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private errorLogTail(): string {
    const file = join(this.dir, 'error.log');
    if (!existsSync(file)) return 'no error log';
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return lines.filter((line) => /ERROR|error/.test(line)).slice(-3).join(' | ') || lines.slice(-3).join(' | ');
  }
}

/**
 * Kills every server this process started and removes their directories, at once and without
 * waiting: for a signal handler that then lets the signal end the process (which skips the exit
 * hook), like the test workers' on Ctrl-C.
 */
export function killAllNow(): void {
  for (const server of running) server.killNow();
  running.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const server of running) server.killNow();
  });
}

function mysqlUser(): { uid: number; gid: number } | null {
  try {
    const entry = readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith('mysql:'));
    if (entry === undefined) return null;
    const [, , uid, gid] = entry.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return null;
  }
}

/** Whether another user can reach `dir` (every parent searchable by others). */
function othersCanTraverse(dir: string): boolean {
  for (let current = dirname(dir); ; current = dirname(current)) {
    if ((statSync(current).mode & 0o001) === 0) return false;
    if (dirname(current) === current) return true;
  }
}

/**
 * As root, the server must be told which user to be: the mysql user where it can reach the
 * directory, root itself where it cannot (a private TMPDIR). Not root: whoever we are.
 */
function chooseUser(dir: string): 'mysql' | 'root' | null {
  if (process.getuid?.() !== 0) return null;
  return mysqlUser() !== null && othersCanTraverse(dir) ? 'mysql' : 'root';
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
