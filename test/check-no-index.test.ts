import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJson, runCli } from './helpers/cli.js';
import { createTestDatabase, insertChildren, seed, type SettingSpec, type TestDatabase } from './helpers/database.js';

/** The same data with and without the settingId indexes must give the same report. */

const SETTINGS: SettingSpec[] = [];
for (let id = 1; id <= 1200; id += 1) {
  const coupons = id % 7;
  const uses = id % 3;
  const drift = id % 97 === 0 ? 2 : 0;
  SETTINGS.push({
    id: id * 10, // gaps between ids, so orphans can fall between settings
    status: id % 50 === 0 ? 'DELETED' : 'ACTIVE',
    issuedCount: id % 211 === 0 ? null : coupons + drift,
    usedCount: uses,
    coupons,
    uses,
  });
}
SETTINGS.push({ id: 9007199254740993n, issuedCount: 0, usedCount: 0, coupons: 2 });

let indexed: TestDatabase;
let bare: TestDatabase;

beforeAll(async () => {
  [indexed, bare] = await Promise.all([createTestDatabase('noidx_a'), createTestDatabase('noidx_b')]);
  for (const db of [indexed, bare]) {
    await seed(db.conn, SETTINGS);
    // Orphans below, between, above the settings, and a NULL settingId.
    await db.query('ALTER TABLE g_coupons MODIFY settingId BIGINT UNSIGNED NULL');
    await insertChildren(db.conn, [[0n, `o1`], [15n, 'o2'], [5005n, 'o3'], [18446744073709551615n, 'o4'], [null, 'o5']], [[25n], [99999n]]);
  }
  await bare.query('ALTER TABLE g_coupons DROP INDEX idx_g_coupons_setting');
  await bare.query('ALTER TABLE g_coupon_uses DROP INDEX idx_g_coupon_uses_setting');
}, 60_000);
afterAll(async () => {
  await Promise.all([indexed?.drop(), bare?.drop()]);
});

describe('check without a settingId index', () => {
  it('reports exactly what it reports with the index, with small pages and concurrency', async () => {
    for (const args of [[], ['--page-size', '100', '--concurrency', '3'], ['--deleted', 'skip', '--page-size', '150']]) {
      const withIndex = await runCli(['check', '--url', indexed.url, '--format', 'json', ...args]);
      const without = await runCli(['check', '--url', bare.url, '--format', 'json', ...args]);
      expect(withIndex.code).toBe(1);
      expect(without.code).toBe(1);
      expect(parseJson(without)).toEqual(parseJson(withIndex));
    }
    const report = parseJson(await runCli(['check', '--url', bare.url, '--format', 'json']));
    expect(report.summary.orphans).toEqual({ coupons: 4, uses: 2 });
    expect(report.summary['nullSettingId']).toEqual({ coupons: 1 }); // a NULL settingId is no setting's, reported apart
    expect(report.drifted.map((setting) => setting.id)).toContain('9007199254740993');
  });

  it('says so once, plainly, with the CREATE INDEX that fixes it, and reads each table in one pass', async () => {
    const result = await runCli(['check', '--url', bare.url, '--page-size', '100', '--verbose']);
    expect(result.code).toBe(1);
    const warnings = result.stderr.split('\n').filter((line) => line.startsWith('warning:'));
    expect(warnings).toEqual([
      'warning: g_coupons has no index starting with settingId, so every check reads the whole table (once, in one pass). This fixes it: CREATE INDEX `idx_g_coupons_settingId` ON `g_coupons` (`settingId`);',
      'warning: g_coupon_uses has no index starting with settingId, so every check reads the whole table (once, in one pass). This fixes it: CREATE INDEX `idx_g_coupon_uses_settingId` ON `g_coupon_uses` (`settingId`);',
    ]);
    // One statement over the whole tables, not one per page (with the index there is one per page).
    expect(result.stderr.match(/sql [\d.]+ ms, \d+ rows: compare /g)).toEqual(['sql'].map(() => expect.stringMatching(/compare $/)));
    expect(result.stderr).toMatch(/rows: compare \(-∞, \+∞\]/);
    const withIndex = await runCli(['check', '--url', indexed.url, '--page-size', '100', '--verbose']);
    expect(withIndex.stderr.match(/rows: compare \(/g)?.length).toBeGreaterThan(10);
    expect(withIndex.stderr).not.toContain('warning:');
  });

  it('repair works the same on it', async () => {
    const result = await runCli(['repair', '--url', bare.url, '--yes', '--batch-size', '100', '--quiet']);
    expect(result.code).toBe(0);
    // --quiet: the one summary line (README), not the audit table's line after it.
    expect(result.stdout).toMatch(/^Repaired \d+ settings? \(\d+ counters?\) in \d+ transactions?; [^\n]*\n$/);
    const after = await runCli(['check', '--url', bare.url, '--format', 'json', '--quiet']);
    expect(after.code).toBe(0);
  });
});
