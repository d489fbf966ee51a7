import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseJson, runCli } from './helpers/cli.js';
import { createTestDatabase, NULL_CACHE_QUERY, OLD_AUDIT_TABLE, seed, SEED_VERIFICATION_QUERY, type TestDatabase } from './helpers/database.js';
import { driftedIds, settingsSnapshot } from './helpers/snapshot.js';
import { writeCountersSql, type CounterWrite } from '../src/db/builder.js';
import { DEFAULT_MODEL } from '../src/core/model.js';
import { repair } from '../src/index.js';

const BIG = 9007199254740993n;
const SETTINGS = [
  { id: 1, issuedCount: 2, usedCount: 1, coupons: 2, uses: 1 }, // clean
  { id: 2, issuedCount: 5, usedCount: 0, coupons: 1 }, // too high
  { id: 3, issuedCount: 0, usedCount: 0, coupons: 3 }, // too low
  { id: 4, issuedCount: 1, usedCount: null, coupons: 1, uses: 1 }, // NULL
  { id: 5, issuedCount: null, usedCount: 0 }, // NULL, no children
  { id: 6, issuedCount: -2, usedCount: 0 }, // negative
  { id: 7, issuedCount: 3, usedCount: 2 }, // no children, non-zero
  { id: 8, status: 'DELETED', issuedCount: 4, usedCount: 1, coupons: 2, uses: 1 }, // deleted, stale
  { id: 10, issuedCount: 0, usedCount: 0 }, // clean
  { id: BIG, issuedCount: 1, usedCount: 0, coupons: 2 }, // past 2^53
];
const DRIFTED = ['2', '3', '4', '5', '6', '7', '8', BIG.toString()];
const AUDIT = 'SELECT settingId, counterName, oldValue, newValue, runId FROM coupon_audit_log ORDER BY settingId, counterName';


let db: TestDatabase;

beforeEach(async () => {
  db = await createTestDatabase('repair');
  await seed(db.conn, SETTINGS);
});
afterEach(async () => {
  await db?.drop();
});

describe('repair', () => {
  it('--dry-run shows what would be written, exits 1, and writes nothing', async () => {
    const before = await settingsSnapshot(db.conn);
    const result = await runCli(['repair', '--url', db.url, '--dry-run', '--format', 'json']);
    expect(result.code).toBe(1);
    const report = parseJson(result);
    expect(report.drifted.map((s) => s.id)).toEqual(DRIFTED);
    expect(report['dryRun']).toBe(true);
    expect(await settingsSnapshot(db.conn)).toEqual(before);
    const tables = await db.query<RowDataPacket[]>("SHOW TABLES LIKE 'coupon_audit_log'");
    expect(tables).toHaveLength(0);
    const table = await runCli(['repair', '--url', db.url, '--dry-run']);
    expect(table.code).toBe(1);
    for (const id of DRIFTED) expect(table.stdout).toContain(id);
  });

  it('refuses without a terminal and without --yes (exit 2, names --yes) and writes nothing', async () => {
    const before = await settingsSnapshot(db.conn);
    const result = await runCli(['repair', '--url', db.url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--yes is required when not running interactively');
    expect(await settingsSnapshot(db.conn)).toEqual(before);
  });

  it('--yes fixes every kind of drift, changes nothing but the two counters, and audits exactly the writes', async () => {
    const before = await settingsSnapshot(db.conn);
    const plan = parseJson(await runCli(['repair', '--url', db.url, '--dry-run', '--format', 'json']));
    const result = await runCli(['repair', '--url', db.url, '--yes', '--format', 'json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as { runId: string; summary: Record<string, unknown>; changes: unknown[] };
    expect(summary.summary).toMatchObject({ drifted: 8, repaired: 8, skipped: 0, failed: 0 });

    // The seed's verification query and the NULL caches it cannot see: both empty now.
    expect(await db.query<RowDataPacket[]>(SEED_VERIFICATION_QUERY)).toHaveLength(0);
    expect(await db.query<RowDataPacket[]>(NULL_CACHE_QUERY)).toHaveLength(0);
    expect(await driftedIds(db.conn)).toEqual([]);
    expect((await runCli(['check', '--url', db.url])).code).toBe(0);

    // Nothing but the counters changed (updatedAt has ON UPDATE CURRENT_TIMESTAMP: kept as it was).
    const after = await settingsSnapshot(db.conn);
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [id, row] of before) {
      const { issuedCount: _i, usedCount: _u, ...rest } = row;
      const { issuedCount: _i2, usedCount: _u2, ...restAfter } = after.get(id)!;
      expect(restAfter).toEqual(rest);
    }

    // The audit table holds exactly the planned changes, under this run's id.
    const expected = plan.drifted.flatMap((setting) =>
      Object.entries(setting.counters)
        .filter(([, state]) => state.cached === null || String(state.cached) !== String(state.expected))
        .map(([counter, state]) => [setting.id, counter, state.cached === null ? null : String(state.cached), String(state.expected)]),
    );
    const audit = await db.query<RowDataPacket[]>(AUDIT);
    expect(audit.map((row) => [String(row['settingId']), row['counterName'], row['oldValue'] === null ? null : String(row['oldValue']), String(row['newValue'])])).toEqual(
      expected.sort((a, b) => (BigInt(a[0]!) === BigInt(b[0]!) ? String(a[1]).localeCompare(String(b[1])) : BigInt(a[0]!) < BigInt(b[0]!) ? -1 : 1)),
    );
    expect(new Set(audit.map((row) => row['runId']))).toEqual(new Set([summary.runId]));
    expect(summary.changes).toHaveLength(audit.length);

    // A second run finds nothing and writes nothing.
    const again = await runCli(['repair', '--url', db.url, '--yes']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No drift');
    expect(await db.query<RowDataPacket[]>(AUDIT)).toHaveLength(audit.length);
    // With nothing to repair, --format json is still a repair's document (a script reads
    // summary.repaired either way), the one the library resolves to, but for the run's id.
    const clean = await runCli(['repair', '--url', db.url, '--yes', '--format', 'json']);
    expect(clean.code).toBe(0);
    const cleanJson = JSON.parse(clean.stdout) as { runId: string; summary: Record<string, unknown>; changes: unknown[] };
    expect(cleanJson).toMatchObject({ command: 'repair', summary: { scanned: SETTINGS.length, drifted: 0, repaired: 0, failed: 0, stillDrifted: 0 }, changes: [] });
    expect(cleanJson.runId).toMatch(/^[0-9a-f-]{36}$/);
    const library = await repair({ url: db.url });
    expect({ ...library, runId: 'x' }).toEqual({ ...cleanJson, runId: 'x' });
  });

  it('a batch of many settings is one UPDATE whose CASE is a tree of id ranges: each setting gets its own values, no other row changes', async () => {
    // 300 settings in a run of ids, and 40 at the top of BIGINT UNSIGNED (some split literals pass 2^63).
    const ids = [...Array.from({ length: 300 }, (_, i) => BigInt(1000 + i)), ...Array.from({ length: 40 }, (_, i) => 18446744073709551575n + BigInt(i))];
    await db.query(`INSERT INTO g_coupon_settings (id, issuedCount, usedCount) VALUES ${ids.map((id) => `(${id}, 0, 0)`).join(', ')}`);
    const before = await settingsSnapshot(db.conn);
    const writes: CounterWrite[] = [];
    for (const id of [...ids].reverse()) {
      writes.push({ settingId: id, counter: 'issuedCount', from: 0n, to: id % 97n });
      if (id % 3n === 0n) writes.push({ settingId: id, counter: 'usedCount', from: 0n, to: 1n + (id % 5n) });
    }
    const sql = writeCountersSql(DEFAULT_MODEL, writes, ['updatedAt']);
    expect(sql).toContain('`issuedCount` = CASE WHEN `id` < 1170 THEN CASE WHEN `id` < 1085 THEN');
    expect(sql).toMatch(/CASE WHEN `id` < 184467440737095515\d\d THEN/);
    expect(sql).toContain('WHEN 18446744073709551614 THEN');
    await db.query(sql);
    const after = await settingsSnapshot(db.conn);
    for (const [id, row] of before) {
      const settingId = BigInt(id);
      const written = ids.includes(settingId);
      expect(String(after.get(id)!.issuedCount), id).toBe(written ? String(settingId % 97n) : String(row.issuedCount));
      expect(String(after.get(id)!.usedCount), id).toBe(written && settingId % 3n === 0n ? String(1n + (settingId % 5n)) : String(row.usedCount));
    }
  });

  it.each([['1'], ['3']])('gives the same result with --batch-size %s', async (size) => {
    const result = await runCli(['repair', '--url', db.url, '--yes', '--batch-size', size, '--format', 'json']);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as { summary: { repaired: number; transactions: number } };
    expect(summary.summary.repaired).toBe(8);
    expect(summary.summary.transactions).toBe(Math.ceil(8 / Number(size)));
    expect(await driftedIds(db.conn)).toEqual([]);
  });

  it('prints what changed, old → new, and a summary line', async () => {
    const result = await runCli(['repair', '--url', db.url, '--yes']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/│\s+2 │ issuedCount │\s+5 │\s+1 │/);
    expect(result.stdout).toMatch(/│\s+4 │ usedCount\s+│\s+NULL │\s+1 │/);
    expect(result.stdout).toContain('Repaired 8 settings (9 counters)');
    expect(result.stdout).toContain('failed 0');
  });

  it('--max-changes refuses to write anything when more settings drift (exit 2)', async () => {
    const before = await settingsSnapshot(db.conn);
    const metrics = join(mkdtempSync(join(tmpdir(), 'ca-maxchanges-')), 'repair.prom');
    const refused = await runCli(['repair', '--url', db.url, '--yes', '--max-changes', '7', '--metrics-file', metrics]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('8 settings drift, more than --max-changes 7; nothing was written');
    expect(await settingsSnapshot(db.conn)).toEqual(before);
    // The drift it found is in the metrics file (CouponAuditDriftFound), nothing repaired.
    const exported = readFileSync(metrics, 'utf8');
    expect(exported).toMatch(/^coupon_audit_drifted_settings\{command="repair",database="[^"]+"\} 8$/m);
    expect(exported).toMatch(/^coupon_audit_repaired_settings\{[^}]+\} 0$/m);
    expect(exported).toMatch(/^coupon_audit_last_run_exit_code\{[^}]+\} 2$/m);
    rmSync(dirname(metrics), { recursive: true, force: true });
    expect((await runCli(['repair', '--url', db.url, '--yes', '--max-changes', '8'])).code).toBe(0);
  });

  it('repairs only --ids, and only --columns', async () => {
    expect((await runCli(['repair', '--url', db.url, '--yes', '--ids', `2,${BIG}`])).code).toBe(0);
    expect(await driftedIds(db.conn)).toEqual(['3', '4', '5', '6', '7', '8']);
    expect((await runCli(['repair', '--url', db.url, '--yes', '--columns', 'usedCount'])).code).toBe(0);
    const [row4] = await db.query<RowDataPacket[]>('SELECT issuedCount, usedCount FROM g_coupon_settings WHERE id = 4');
    expect(String(row4!['usedCount'])).toBe('1');
    const [row3] = await db.query<RowDataPacket[]>('SELECT issuedCount, usedCount FROM g_coupon_settings WHERE id = 3');
    expect(String(row3!['issuedCount'])).toBe('0'); // issuedCount left alone
  });

  it('--ids naming no setting: warned on stderr and listed in the JSON summary, whether or not the others drift', async () => {
    for (const [ids, drifted] of [['2,99999', 1], ['1,99999', 0]] as const) {
      const result = await runCli(['repair', '--url', db.url, '--yes', '--format', 'json', '--ids', ids]);
      expect(result.code).toBe(0);
      expect(result.stderr).toContain('setting 99999 (from --ids) does not exist.');
      expect(JSON.parse(result.stdout)).toMatchObject({ command: 'repair', summary: { drifted, repaired: drifted, missingIds: ['99999'] } });
    }
  });

  it('writes its audit trail to --audit-table, created when missing', async () => {
    const result = await runCli(['repair', '--url', db.url, '--yes', '--audit-table', 'ops`audit log']);
    expect(result.code).toBe(0);
    const rows = await db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM `ops``audit log`');
    expect(Number(rows[0]!['n'])).toBe(9);
  });

  it('a cache past BIGINT (a BIGINT UNSIGNED counter) is repaired and audited exactly; an older, narrower audit table stops the batch with the ALTER', async () => {
    await db.query('UPDATE g_coupon_settings SET issuedCount = 0 WHERE id = 6'); // BIGINT UNSIGNED holds no -2
    await db.query('ALTER TABLE g_coupon_settings MODIFY issuedCount BIGINT UNSIGNED NULL');
    await db.query('UPDATE g_coupon_settings SET issuedCount = 18446744073709551615 WHERE id = 7');
    // An audit table made before oldValue was DECIMAL(65, 0): refused, the whole batch rolled back
    // (faults-server.test.ts: the same where sql_mode is not strict and the row would be clipped).
    await db.query(OLD_AUDIT_TABLE);
    const before = await settingsSnapshot(db.conn);
    const narrow = await runCli(['repair', '--url', db.url, '--yes', '--audit-table', 'old_audit', '--batch-size', '100']);
    expect(narrow.code, narrow.stderr).toBe(3);
    expect(narrow.stderr).toContain("The audit table old_audit cannot hold a value this batch records: Out of range value for column 'oldValue'");
    expect(narrow.stderr).toContain('ALTER TABLE `old_audit` MODIFY oldValue DECIMAL(65, 0) NULL;');
    expect(await settingsSnapshot(db.conn)).toEqual(before);
    expect(Number((await db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM old_audit'))[0]!['n'])).toBe(0);
    // The table repair makes holds it: 2^64 - 1 read back exactly.
    expect((await runCli(['repair', '--url', db.url, '--yes'])).code).toBe(0);
    const [row] = await db.query<RowDataPacket[]>("SELECT CAST(oldValue AS CHAR) AS old, newValue FROM coupon_audit_log WHERE settingId = 7 AND counterName = 'issuedCount'");
    expect([row!['old'], String(row!['newValue'])]).toEqual(['18446744073709551615', '0']);
    expect(await driftedIds(db.conn)).toEqual([]);
  });

  it("a status the server's collation takes for DELETED ('deleted ', trailing space) is deleted in every read: reported, zeroed, reread right", async () => {
    // Setting 1 is clean by its counts (2 codes, 1 use). The packed statement compares the status on
    // the server (PAD SPACE, case-insensitive): deleted, so expected 0 and a candidate. Its
    // confirmation by key, the repair's recount and the final reread must say the same, or the
    // setting is dropped as clean after all (as when Node compared the text itself).
    await db.query("UPDATE g_coupon_settings SET status = 'deleted ' WHERE id = 1");
    const zero = await runCli(['check', '--url', db.url, '--deleted', 'zero', '--format', 'json']);
    expect(zero.code).toBe(1);
    const drifted = parseJson(zero).drifted;
    expect(drifted.map((s) => s.id)).toEqual(DRIFTED.includes('1') ? DRIFTED : ['1', ...DRIFTED]);
    expect(drifted.find((s) => s.id === '1')!.counters).toEqual({
      issuedCount: { cached: 2, actual: 2, expected: 0 },
      usedCount: { cached: 1, actual: 1, expected: 0 },
    });
    // The table compares with the 0 it expects (Δ +2, +1) and says the rows beside it.
    const table = await runCli(['check', '--url', db.url, '--deleted', 'zero', '--ids', '1']);
    expect(table.stdout).toMatch(/│\s+1 │ deleted\s+│\s+2 │ 0 \(2 rows; setting deleted\) │\s+\+2 │\s+1 │ 0 \(1 row; setting deleted\) │\s+\+1 │/);
    const repaired = await runCli(['repair', '--url', db.url, '--yes', '--deleted', 'zero', '--format', 'json']);
    expect(repaired.code).toBe(0);
    expect(JSON.parse(repaired.stdout).summary).toMatchObject({ repaired: DRIFTED.length + 1, stillDrifted: 0 });
    const [row] = await db.query<RowDataPacket[]>('SELECT issuedCount, usedCount FROM g_coupon_settings WHERE id = 1');
    expect([String(row!['issuedCount']), String(row!['usedCount'])]).toEqual(['0', '0']);
    const skip = await runCli(['check', '--url', db.url, '--deleted', 'skip', '--format', 'json']);
    expect(JSON.parse(skip.stdout).summary.scanned).toBe(SETTINGS.length - 2);
  });

  it('--deleted skip with --ids of a DELETED setting says so, by id, and in the JSON', async () => {
    // 8 is DELETED; 10 and BIG (past 2^53: the packed text is read the text way) become so.
    await db.query(`UPDATE g_coupon_settings SET status = 'DELETED' WHERE id IN (10, ${BIG})`);
    const one = await runCli(['check', '--url', db.url, '--deleted', 'skip', '--ids', '8']);
    expect(one.code).toBe(0);
    expect(one.stderr).toContain('setting 8 (from --ids) is DELETED: --deleted skip leaves it out.');
    const big = await runCli(['check', '--url', db.url, '--deleted', 'skip', '--ids', String(BIG)]);
    expect(big.stderr).toContain(`setting ${BIG} (from --ids) is DELETED: --deleted skip leaves it out.`);
    const json = parseJson(await runCli(['check', '--url', db.url, '--deleted', 'skip', '--ids', `424242,${BIG},10,8,1`, '--format', 'json']));
    expect(json.summary).toMatchObject({ scanned: 1, drifted: 0, missingIds: ['424242'], skippedIds: ['8', '10', String(BIG)] });
    const dry = await runCli(['repair', '--url', db.url, '--dry-run', '--deleted', 'skip', '--ids', '8,10']);
    expect(dry.stderr).toContain('2 settings from --ids are DELETED, which --deleted skip leaves out: 8, 10.');
    // repair --yes prints no plan: it says so too, once, with drift (2) and without.
    const times = (text: string, line: string) => text.split(line).length - 1;
    for (const ids of ['8,424242,2', '8,424242']) {
      const yes = await runCli(['repair', '--url', db.url, '--yes', '--deleted', 'skip', '--ids', ids]);
      expect(yes.code, yes.stderr).toBe(0);
      expect(times(yes.stderr, 'setting 8 (from --ids) is DELETED: --deleted skip leaves it out.'), ids).toBe(1);
      expect(times(yes.stderr, 'setting 424242 (from --ids) does not exist.'), ids).toBe(1);
    }
    // Counted or zeroed, they are audited: no such warning, and no skippedIds.
    expect((await runCli(['check', '--url', db.url, '--ids', '8'])).stderr).not.toContain('DELETED');
    expect(parseJson(await runCli(['check', '--url', db.url, '--deleted', 'zero', '--ids', '8,10', '--format', 'json'])).summary).not.toHaveProperty('skippedIds');
  });

  it('--deleted zero expects 0 on DELETED settings; --deleted skip leaves them alone', async () => {
    const skip = await runCli(['repair', '--url', db.url, '--yes', '--deleted', 'skip', '--format', 'json']);
    expect(skip.code).toBe(0);
    expect(await driftedIds(db.conn)).toEqual(['8']);
    const zero = await runCli(['check', '--url', db.url, '--deleted', 'zero', '--format', 'json']);
    expect(parseJson(zero).drifted.map((s) => s.id)).toEqual(['8']);
    expect((await runCli(['repair', '--url', db.url, '--yes', '--deleted', 'zero'])).code).toBe(0);
    const [row] = await db.query<RowDataPacket[]>('SELECT issuedCount, usedCount FROM g_coupon_settings WHERE id = 8');
    expect([String(row!['issuedCount']), String(row!['usedCount'])]).toEqual(['0', '0']);
    expect((await runCli(['check', '--url', db.url, '--deleted', 'zero'])).code).toBe(0);
    expect((await runCli(['check', '--url', db.url, '--deleted', 'count'])).code).toBe(1);
  });
});
