import type { Connection, RowDataPacket } from 'mysql2/promise';

/** Every column of every setting, as text: to prove what a run did (or did not) change. */
export async function settingsSnapshot(conn: Connection): Promise<Map<string, Record<string, string | null>>> {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT * FROM g_coupon_settings ORDER BY id');
  return new Map(
    rows.map((row) => [
      String(row['id']),
      Object.fromEntries(Object.entries(row).map(([key, value]) => [key, value === null ? null : String(value)])),
    ]),
  );
}

/** Settings whose counters differ from the true counts, read in one statement (one snapshot), NULL-safe. */
export async function driftedIds(conn: Connection): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT s.id FROM g_coupon_settings s
     WHERE NOT (s.issuedCount <=> (SELECT COUNT(*) FROM g_coupons c WHERE c.settingId = s.id)
            AND s.usedCount <=> (SELECT COUNT(*) FROM g_coupon_uses u WHERE u.settingId = s.id))
     ORDER BY s.id`,
  );
  return rows.map((row) => String(row['id']));
}

export async function counters(conn: Connection, id: bigint | number): Promise<{ issued: string | null; used: string | null; coupons: string; uses: string }> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT issuedCount AS issued, usedCount AS used,
            (SELECT COUNT(*) FROM g_coupons WHERE settingId = s.id) AS coupons,
            (SELECT COUNT(*) FROM g_coupon_uses WHERE settingId = s.id) AS uses
     FROM g_coupon_settings s WHERE id = ?`,
    [BigInt(id)],
  );
  const row = rows[0]!;
  return {
    issued: row['issued'] === null ? null : String(row['issued']),
    used: row['used'] === null ? null : String(row['used']),
    coupons: String(row['coupons']),
    uses: String(row['uses']),
  };
}

/**
 * Waits until some transaction is waiting for a row lock in this database. MariaDB refreshes the
 * INNODB_LOCKS cache only when nobody read it for 0.1 s, hence the slow poll.
 */
export async function waitForLockWait(conn: Connection, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const [rows] = await conn.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.INNODB_LOCK_WAITS w JOIN information_schema.INNODB_LOCKS l ON l.lock_id = w.requested_lock_id WHERE l.lock_table LIKE CONCAT('`', DATABASE(), '`.%')",
    );
    if (Number(rows[0]?.['n']) > 0) return;
  }
  throw new Error('no transaction started waiting for a lock');
}

/**
 * Waits until a statement starting with `prefix` (an ALTER TABLE queued behind a transaction that
 * read the table) shows in the processlist waiting for a table's metadata lock.
 */
export async function waitForMetadataLockWait(conn: Connection, prefix: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [rows] = await conn.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for table metadata lock' AND INFO LIKE CONCAT(?, '%')",
      [prefix],
    );
    if (Number(rows[0]?.['n']) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`'${prefix}…' never queued for a metadata lock`);
}
