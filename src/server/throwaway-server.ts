import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { findServerBinary, INSTALL_HINT, type ServerBinary } from './server-binary.js';

const execFileAsync = promisify(execFile);

export class NoServerBinaryError extends Error {
  constructor() {
    super(`No MariaDB or MySQL server (mariadbd or mysqld) is installed here: ${INSTALL_HINT}.`);
  }
}

export interface ThrowawayServerOptions {
  /** Extra server options, like ['--binlog-format=STATEMENT']. */
  args?: readonly string[];
  binary?: ServerBinary;
  /** How long to wait for the server to answer (default 60 s). */
  readyTimeoutMs?: number;
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
  ) {}

  static async start(options: ThrowawayServerOptions = {}): Promise<ThrowawayServer> {
    const binary = options.binary ?? findServerBinary();
    if (binary === null) throw new NoServerBinaryError();
    installExitHook();
    const dir = mkdtempSync(join(tmpdir(), 'coupon-audit-server-'));
    const server = new ThrowawayServer(binary, dir, await freePort(), options.args ?? []);
    running.add(server);
    try {
      await server.initialise();
      await server.launch(options.readyTimeoutMs ?? 60_000);
      return server;
    } catch (error) {
      await server.stop();
      throw error;
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

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
    running.delete(this);
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  private userArgs(): string[] {
    // mariadbd/mysqld refuse to run as root unless told which user to be.
    return process.getuid?.() === 0 ? ['--user=mysql'] : [];
  }

  private async initialise(): Promise<void> {
    mkdirSync(this.dataDir);
    if (process.getuid?.() === 0) chownToMysql(this.dir);
    const args =
      this.binary.installDb !== null
        ? [
            '--no-defaults',
            `--datadir=${this.dataDir}`,
            '--auth-root-authentication-method=normal',
            '--skip-test-db',
            ...this.userArgs(),
          ]
        : ['--no-defaults', '--initialize-insecure', `--datadir=${this.dataDir}`, ...this.userArgs()];
    try {
      await execFileAsync(this.binary.installDb ?? this.binary.server, args, { timeout: 120_000 });
    } catch (error) {
      const detail = error instanceof Error ? error.message.split('\n').slice(0, 3).join(' ') : String(error);
      throw new Error(`Could not initialise a data directory with ${this.binary.installDb ?? this.binary.server}: ${detail}`);
    }
  }

  private async launch(readyTimeoutMs: number): Promise<void> {
    const child = spawn(
      this.binary.server,
      [
        '--no-defaults',
        ...this.userArgs(),
        `--datadir=${this.dataDir}`,
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
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.unref();
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`The throwaway server exited at start-up: ${this.errorLogTail()}`);
      }
      try {
        const conn = await mysql.createConnection(this.connectionOptions());
        await conn.ping();
        await conn.end();
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`The throwaway server did not answer within ${readyTimeoutMs / 1000} s: ${this.errorLogTail()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    }
  }

  private async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
    this.child = null;
  }

  /** For the exit hook: no promises, nothing to wait for. */
  killNow(): void {
    if (this.child?.pid !== undefined && this.child.exitCode === null) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
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

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const server of running) server.killNow();
  });
}

function chownToMysql(dir: string): void {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  const entry = passwd.split('\n').find((line) => line.startsWith('mysql:'));
  if (entry === undefined) throw new Error('Running as root needs a "mysql" system user for the server to run as.');
  const [, , uid, gid] = entry.split(':');
  chownSync(dir, Number(uid), Number(gid));
  chownSync(join(dir, 'data'), Number(uid), Number(gid));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
