// SCRATCH STAND-IN — NOT COMMITTED; replaced by h-clusters' replication-pair.ts.
import mysql from 'mysql2/promise';
import { ThrowawayServer } from './throwaway-server.js';

export class ReplicationPair {
  private constructor(readonly primary: ThrowawayServer, readonly replica: ThrowawayServer) {}
  static async start(): Promise<ReplicationPair> {
    const args = (id: number) => [`--server-id=${id}`, '--log-bin=bin', '--binlog-format=ROW'];
    const primary = await ThrowawayServer.start({ args: args(1) });
    const replica = await ThrowawayServer.start({ args: args(2) });
    const p = await mysql.createConnection(primary.connectionOptions());
    await p.query('RESET MASTER');
    await p.end();
    const r = await mysql.createConnection(replica.connectionOptions());
    await r.query(`CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos`);
    await r.query('START SLAVE');
    await r.end();
    return new ReplicationPair(primary, replica);
  }
  async stopReplicaSqlThread() { await this.onReplica('STOP SLAVE SQL_THREAD'); }
  async startReplicaSqlThread() { await this.onReplica('START SLAVE SQL_THREAD'); }
  async waitCaughtUp(timeoutMs = 30_000) {
    const p = await mysql.createConnection(this.primary.connectionOptions());
    const [[row]] = await p.query<any>('SELECT @@gtid_binlog_pos AS pos');
    await p.end();
    const r = await mysql.createConnection(this.replica.connectionOptions());
    const [[w]] = await r.query<any>('SELECT MASTER_GTID_WAIT(?, ?) AS w', [row.pos, timeoutMs / 1000]);
    await r.end();
    if (Number(w.w) !== 0) throw new Error('replica did not catch up');
  }
  async stop() { await Promise.all([this.primary.stop(), this.replica.stop()]); }
  private async onReplica(sql: string) {
    const r = await mysql.createConnection(this.replica.connectionOptions());
    await r.query(sql);
    await r.end();
  }
}
