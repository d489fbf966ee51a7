import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { connectionOptions, EVICT_DATABASE } from './dataset.js';

/** One bench at a time per server: two would fight over the buffer pool size. */
const LOCK_NAME = 'coupon_audit_bench_pool';

/**
 * The server's buffer pool, for the bench: one control connection holds the bench lock, sets
 * `innodb_buffer_pool_size` (dynamic on MariaDB 10.11 and MySQL 8; the resize finishes in the
 * background, so it waits for it), reads the pages read from disk, evicts for cold runs, and puts
 * back the original settings at the end, on failure and on SIGINT/SIGTERM.
 */
export class PoolControl {
  private restored = false;
  private oldBlocksTimeChanged = false;

  private constructor(
    private readonly conn: Connection,
    private readonly url: string,
    readonly originalPoolBytes: number,
    readonly originalOldBlocksTime: number,
    readonly pageSize: number,
  ) {}

  static async open(url: string, log: (line: string) => void): Promise<PoolControl> {
    const conn = await mysql.createConnection(connectionOptions(url));
    try {
      const [[free]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 0) AS got', [LOCK_NAME]);
      if (Number(free!['got']) !== 1) {
        log('Another bench is running on this server (it holds the bench lock); waiting for it, up to 30 min.');
        const [[waited]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 1800) AS got', [LOCK_NAME]);
        if (Number(waited!['got']) !== 1) throw new Error('another bench kept the server for 30 min; try again later.');
      }
      const [[row]] = await conn.query<RowDataPacket[]>(
        'SELECT @@innodb_buffer_pool_size AS pool, @@innodb_old_blocks_time AS oldBlocksTime, @@innodb_page_size AS pageSize',
      );
      return new PoolControl(conn, url, Number(row!['pool']), Number(row!['oldBlocksTime']), Number(row!['pageSize']));
    } catch (error) {
      await conn.end().catch(() => undefined);
      throw error;
    }
  }

  async poolBytes(): Promise<number> {
    const [[row]] = await this.conn.query<RowDataPacket[]>('SELECT @@innodb_buffer_pool_size AS pool');
    return Number(row!['pool']);
  }

  /** Sets the pool size and waits until the server has resized; returns the size it settled on (rounded to its chunks). */
  async setPool(bytes: number, log: (line: string) => void): Promise<number> {
    const current = await this.poolBytes();
    if (current !== bytes) {
      const started = performance.now();
      await this.conn.query('SET GLOBAL innodb_buffer_pool_size = ?', [bytes]);
      await waitForResize(this.conn, this.pageSize, started);
      log(`  innodb_buffer_pool_size ${mibText(current)} -> ${mibText(await this.poolBytes())} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    }
    return this.poolBytes();
  }

  private async status(names: readonly string[]): Promise<Map<string, string>> {
    return status(this.conn, names);
  }

  /** Pages read from disk into the pool so far (server-wide: other sessions' reads count too). */
  async pagesRead(): Promise<number> {
    return Number((await this.status(['Innodb_buffer_pool_reads'])).get('innodb_buffer_pool_reads') ?? '0');
  }

  /**
   * Makes the pool cold: reads `bench_evict` (larger than the pool) with innodb_old_blocks_time = 0
   * for the length of the read, so its pages displace the young part of the LRU list too (with the
   * default 1000 ms a scan only cycles the old 3/8 and would leave earlier pages cached).
   */
  async evict(): Promise<void> {
    this.oldBlocksTimeChanged = true;
    await this.conn.query('SET GLOBAL innodb_old_blocks_time = 0');
    try {
      await this.conn.query(`SELECT SUM(LENGTH(pad)) AS n FROM ${mysql.escapeId(EVICT_DATABASE)}.bench_evict`);
    } finally {
      await this.conn.query('SET GLOBAL innodb_old_blocks_time = ?', [this.originalOldBlocksTime]);
      this.oldBlocksTimeChanged = false;
    }
  }

  /** Puts the original pool size (and innodb_old_blocks_time) back; safe to call more than once. */
  async restore(log: (line: string) => void): Promise<void> {
    if (this.restored) return;
    this.restored = true;
    // The control connection may be busy (a signal mid-query) or gone: restore on a fresh one.
    const conn = await mysql.createConnection(connectionOptions(this.url));
    try {
      if (this.oldBlocksTimeChanged) await conn.query('SET GLOBAL innodb_old_blocks_time = ?', [this.originalOldBlocksTime]);
      const [[row]] = await conn.query<RowDataPacket[]>('SELECT @@innodb_buffer_pool_size AS pool');
      if (Number(row!['pool']) !== this.originalPoolBytes) {
        const started = performance.now();
        await conn.query('SET GLOBAL innodb_buffer_pool_size = ?', [this.originalPoolBytes]);
        await waitForResize(conn, this.pageSize, started);
        log(`Restored innodb_buffer_pool_size to ${mibText(this.originalPoolBytes)}.`);
      } else {
        log(`innodb_buffer_pool_size is back at its original ${mibText(this.originalPoolBytes)}.`);
      }
    } finally {
      await conn.end();
    }
  }

  async close(): Promise<void> {
    await this.conn.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME]).catch(() => undefined);
    await this.conn.end().catch(() => undefined);
  }
}

/** Waits until the server has finished the resize it was asked for (it runs in the background). */
async function waitForResize(conn: Connection, pageSize: number, started: number): Promise<void> {
  const [[row]] = await conn.query<RowDataPacket[]>('SELECT @@innodb_buffer_pool_size AS pool');
  const target = Number(row!['pool']);
  for (;;) {
    const values = await status(conn, ['Innodb_buffer_pool_resize_status', 'Innodb_buffer_pool_pages_total']);
    const text = values.get('innodb_buffer_pool_resize_status') ?? '';
    const pages = Number(values.get('innodb_buffer_pool_pages_total') ?? '0');
    const settled = Math.abs(pages * pageSize - target) <= target * 0.05;
    if (settled && (text === '' || /complet/i.test(text))) return;
    if (performance.now() - started > 300_000) throw new Error(`the buffer pool did not finish resizing in 5 min (${text})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function status(conn: Connection, names: readonly string[]): Promise<Map<string, string>> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SHOW GLOBAL STATUS WHERE Variable_name IN (${names.map(() => '?').join(', ')})`,
    [...names],
  );
  return new Map(rows.map((row) => [String(row['Variable_name']).toLowerCase(), String(row['Value'])]));
}

export const mibText = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
