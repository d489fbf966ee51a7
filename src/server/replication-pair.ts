import mysql, { type RowDataPacket } from 'mysql2/promise';
import { ThrowawayServer } from './throwaway-server.js';

/**
 * A primary and a replica for tests: two throwaway servers (src/server/throwaway-server.ts) with
 * binlog replication by GTID (MariaDB: MASTER_USE_GTID=slave_pos), root with an empty password on
 * both. Lag on demand: stopReplicaSqlThread(). Caught up when the replica has applied the primary's
 * @@gtid_binlog_pos (waitCaughtUp()). stop() stops both and removes their files; if the process
 * exits first, ThrowawayServer's exit hook does.
 */
export class ReplicationPair {
  private constructor(
    readonly primary: ThrowawayServer,
    readonly replica: ThrowawayServer,
  ) {}

  static async start(options: { binaryPath?: string } = {}): Promise<ReplicationPair> {
    const args = (serverId: number): string[] => [`--server-id=${serverId}`, '--log-bin=bin', '--binlog-format=ROW'];
    const primary = await ThrowawayServer.start({ binaryPath: options.binaryPath, args: args(1) });
    let replica: ThrowawayServer | null = null;
    try {
      replica = await ThrowawayServer.start({ binaryPath: options.binaryPath, args: args(2) });
      const pair = new ReplicationPair(primary, replica);
      await pair.on('primary', 'RESET MASTER');
      await pair.on(
        'replica',
        `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos`,
      );
      await pair.on('replica', 'START SLAVE');
      return pair;
    } catch (error) {
      await Promise.allSettled([primary.stop(), replica?.stop()]);
      throw error;
    }
  }

  /** The replica stops applying what it receives: it lags from the next write on the primary. */
  async stopReplicaSqlThread(): Promise<void> {
    await this.on('replica', 'STOP SLAVE SQL_THREAD');
  }

  async startReplicaSqlThread(): Promise<void> {
    await this.on('replica', 'START SLAVE SQL_THREAD');
  }

  /** Resolves once the replica has applied everything the primary has logged so far. */
  async waitCaughtUp(timeoutMs = 30_000): Promise<void> {
    const [row] = await this.on('primary', 'SELECT @@GLOBAL.gtid_binlog_pos AS pos');
    const position = String(row?.['pos'] ?? '');
    const [waited] = await this.on('replica', `SELECT MASTER_GTID_WAIT(${mysql.escape(position)}, ${timeoutMs / 1000}) AS w`);
    if (Number(waited?.['w']) !== 0) throw new Error(`the replica did not apply the primary's position ${position} within ${timeoutMs} ms`);
  }

  /** Stops both servers and removes their files (each one even if the other fails to stop). */
  async stop(): Promise<void> {
    const results = await Promise.allSettled([this.primary.stop(), this.replica.stop()]);
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  private async on(server: 'primary' | 'replica', sql: string): Promise<RowDataPacket[]> {
    const conn = await mysql.createConnection(this[server].connectionOptions());
    try {
      const [rows] = await conn.query<RowDataPacket[]>(sql);
      return Array.isArray(rows) ? rows : [];
    } finally {
      await conn.end().catch(() => undefined);
    }
  }
}
