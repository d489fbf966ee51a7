import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, repair } from '../src/index.js';
import { runCli, parseJson } from './helpers/cli.js';
import { createTestDatabase, seed, type SettingSpec, type TestDatabase } from './helpers/database.js';
import { driftedIds } from './helpers/snapshot.js';

/**
 * Detection must be exact while the application writes (SPEC.md). Six application sessions write
 * consistent transactions (a child row and its counter change in one commit) on 24 hot settings,
 * interleaved with many check runs. The drift injected before (one application transaction's worth,
 * on half the hot settings) never changes while the application keeps its counters consistent, so
 * every report must name exactly those settings with exactly those deltas. A check that reads the
 * caches and the counts at two moments misses some of them (a write between the two matches a
 * drift); one that reads them in one snapshot never does.
 */

let db: TestDatabase;
const HOT = Array.from({ length: 24 }, (_, i) => 1000 + i * 7);
const COLD: SettingSpec[] = Array.from({ length: 600 }, (_, i) => ({ id: 5000 + i, issuedCount: i % 4, usedCount: i % 2, coupons: i % 4, uses: i % 2 }));

/** The injected drift: settingId → [issued delta, used delta] (cached − actual). */
const INJECTED = new Map<number, [number, number]>();

beforeAll(async () => {
  db = await createTestDatabase('live_detection');
  await seed(db.conn, [...HOT.map((id) => ({ id, issuedCount: 3, usedCount: 1, coupons: 3, uses: 1 })), ...COLD]);
  for (const [n, id] of HOT.entries()) {
    if (n % 2 === 1) continue;
    // One application transaction's worth: an increment without its row, a row without its increment, a redeem counted twice.
    const kind = n % 6;
    if (kind === 0) {
      await db.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 1 WHERE id = ?', [id]);
      INJECTED.set(id, [1, 0]);
    } else if (kind === 2) {
      await db.query('INSERT INTO g_coupons (settingId, code) VALUES (?, ?)', [id, `lost-${id}`]);
      INJECTED.set(id, [-1, 0]);
    } else {
      await db.query('UPDATE g_coupon_settings SET usedCount = usedCount + 1 WHERE id = ?', [id]);
      INJECTED.set(id, [0, 1]);
    }
  }
}, 60_000);
afterAll(async () => {
  await db?.drop();
});

/** Six sessions of consistent application transactions on the hot settings until stopped. */
function application(): { stop: () => Promise<number> } {
  let running = true;
  let commits = 0;
  const sessions = Array.from({ length: 6 }, async (_, worker) => {
    const conn: Connection = await db.connect();
    let n = 0;
    try {
      while (running) {
        n += 1;
        const id = HOT[(worker * 5 + n * 7) % HOT.length]!;
        await conn.query('BEGIN');
        switch (n % 4) {
          case 0: // issue a code
            await conn.query('INSERT INTO g_coupons (settingId, code) VALUES (?, ?)', [id, `w${worker}-${n}-${Date.now()}`]);
            await conn.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 1 WHERE id = ?', [id]);
            break;
          case 1: // redeem
            await conn.query('INSERT INTO g_coupon_uses (settingId) VALUES (?)', [id]);
            await conn.query('UPDATE g_coupon_settings SET usedCount = usedCount + 1 WHERE id = ?', [id]);
            break;
          case 2: {
            // revoke one code, with its decrement
            const [result] = await conn.query<import('mysql2').ResultSetHeader>("DELETE FROM g_coupons WHERE settingId = ? AND code LIKE 'w%' LIMIT 1", [id]);
            if (result.affectedRows > 0) await conn.query('UPDATE g_coupon_settings SET issuedCount = issuedCount - 1 WHERE id = ?', [id]);
            break;
          }
          default: {
            const [result] = await conn.query<import('mysql2').ResultSetHeader>('DELETE FROM g_coupon_uses WHERE settingId = ? ORDER BY id DESC LIMIT 1', [id]);
            if (result.affectedRows > 0) await conn.query('UPDATE g_coupon_settings SET usedCount = usedCount - 1 WHERE id = ?', [id]);
          }
        }
        await conn.query('COMMIT');
        commits += 1;
      }
    } finally {
      await conn.end();
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(sessions);
      return commits;
    },
  };
}

const expected = (): string[] => [...INJECTED.keys()].sort((a, b) => a - b).map(String);

describe('exact detection under live application writes', () => {
  it('every check (library and CLI, small pages, concurrency) reports exactly the injected drift, with its deltas', async () => {
    const expectedDrift = expected();
    expect(expectedDrift).toHaveLength(12);
    expect(await driftedIds(db.conn)).toEqual(expectedDrift);
    const app = application();
    try {
      for (let run = 0; run < 12; run += 1) {
        const report = run % 4 === 3
          ? parseJson(await runCli(['check', '--url', db.url, '--format', 'json', '--page-size', '5', '--concurrency', '2']))
          : await check({ url: db.url, pageSize: [3, 7, 50][run % 3]!, concurrency: 2 });
        expect(report.drifted.map((setting) => setting.id), `run ${run}`).toEqual(expectedDrift);
        for (const setting of report.drifted) {
          const [issued, used] = INJECTED.get(Number(setting.id))!;
          const delta = (counter: { cached: number | string | null; expected: number | string } | undefined) =>
            Number(counter!.cached) - Number(counter!.expected);
          expect([delta(setting.counters['issuedCount']), delta(setting.counters['usedCount'])], `run ${run} setting ${setting.id}`).toEqual([issued, used]);
        }
        expect(report.summary.scanned).toBe(HOT.length + COLD.length);
      }
    } finally {
      const commits = await app.stop();
      expect(commits).toBeGreaterThan(50); // the application really was writing throughout
    }
    expect(await driftedIds(db.conn)).toEqual(expected());
  }, 120_000);

  it('repair under the same traffic leaves no drift (oracle: one statement after the traffic stops), exit 0', async () => {
    const app = application();
    let report;
    try {
      report = await repair({ url: db.url, pageSize: 7, batchSize: 3 });
    } finally {
      await app.stop();
    }
    expect(report.command).toBe('repair');
    expect('changes' in report && report.summary.stillDrifted).toBe(0);
    expect(await driftedIds(db.conn)).toEqual([]);
    const again = await runCli(['check', '--url', db.url]);
    expect(again.code).toBe(0);
  }, 120_000);
});
