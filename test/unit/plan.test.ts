import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import {
  DRIFT_DELTA_LEGEND,
  driftSummaryLine,
  firstFew,
  limitRows,
  moreLine,
  driftTableText,
  renderKinds,
} from '../../src/cli/drift-report.js';
import { CHECK_HELP, DEMO_HELP, DOCTOR_HELP, REPAIR_HELP, SQL_HELP } from '../../src/cli/help.js';
import { auditTableLine, dryRunLine, repairSummaryLines, changesTableText } from '../../src/cli/repair-report.js';
import { drawn } from '../helpers/output.js';
import type { DriftReport } from '../../src/core/detect-drift.js';
import { compareDeltas, counterDriftKind, type DriftedSetting, largestDelta } from '../../src/core/drift.js';
import { DEFAULT_MODEL } from '../../src/core/model.js';
import { estimateTransactions, kindSummary, planChanges, planTotals, sortChanges, sortSettings } from '../../src/core/plan.js';
import { checkReportJson } from '../../src/core/report.js';
import { emptyRepairResult } from '../../src/core/repair.js';
import { sharedIdError } from '../../src/db/scanner.js';

/** The operator's view: the plan, the kinds, the orders, and the text a person reads. */

const plain = new Chalk({ level: 0 });
const P32 = 1n << 32n;
const P53 = 1n << 53n;

function setting(id: bigint, issued: [bigint | null, bigint], used: [bigint | null, bigint] = [0n, 0n], status = 'ACTIVE'): DriftedSetting {
  return {
    id,
    status,
    deleted: status.toUpperCase() === 'DELETED', // as the server's case-insensitive collation tells it (SettingRow.deleted)
    counters: {
      issuedCount: { cached: issued[0], actual: issued[1], expected: issued[1] },
      usedCount: { cached: used[0], actual: used[1], expected: used[1] },
    },
  };
}

const DRIFTED: DriftedSetting[] = [
  setting(1n, [5n, 1n]), // too high +4
  setting(2n, [0n, 3n]), // too low -3
  setting(3n, [2n, 2n], [null, 1n]), // NULL
  setting(4n, [-2n, 0n]), // negative
  setting(5n, [4n, 2n], [1n, 1n], 'deleted'), // too high, DELETED still counting
  setting(20n, [P32, 1n]), // +4294967295
  ...Array.from({ length: 10 }, (_, i) => setting(100n + BigInt(i), [1n, 0n])), // +1 each
  setting(9007199254740993n, [P53 + 1n, 0n]), // +2^53+1
];
const REPORT: DriftReport = {
  scanned: 30,
  drifted: DRIFTED,
  orphans: [
    { counter: 'issuedCount', table: 'g_coupons', rows: 2n, nullSettingId: 0n, namesSettings: true },
    { counter: 'usedCount', table: 'g_coupon_uses', rows: 1n, nullSettingId: 3n, namesSettings: true },
  ],
  missingIds: [],
  skippedIds: [],
};

describe('the plan: what repair would write, from detection', () => {
  it('one change per drifted counter, old → expected, in id and counter order', () => {
    const changes = planChanges(DRIFTED.slice(0, 5));
    expect(changes.map((c) => [c.settingId, c.counter, c.from, c.to])).toEqual([
      [1n, 'issuedCount', 5n, 1n],
      [2n, 'issuedCount', 0n, 3n],
      [3n, 'usedCount', null, 1n],
      [4n, 'issuedCount', -2n, 0n],
      [5n, 'issuedCount', 4n, 2n],
    ]);
    expect(planTotals(changes)).toEqual({ settings: 5, counters: 5, transactions: 1 });
  });

  it('transactions: exact with --batch-size, as the automatic sizing grows without it', () => {
    expect(estimateTransactions(0)).toBe(0);
    expect(estimateTransactions(8)).toBe(1);
    expect(estimateTransactions(50)).toBe(1);
    expect(estimateTransactions(51)).toBe(2);
    expect(estimateTransactions(150)).toBe(2); // 50 + 100
    expect(estimateTransactions(10_000)).toBe(14); // 50+100+200+400+800 = 1550, then 9 of up to 1000
    expect(estimateTransactions(8, 3)).toBe(3);
    expect(planTotals(planChanges(DRIFTED), 5)).toMatchObject({ settings: 17, counters: 17, transactions: 4 });
  });

  it('the dry-run JSON has changes beside the check keys; the check JSON has none; kinds with the model', () => {
    const dry = checkReportJson(REPORT, { command: 'repair', dryRun: true }, DEFAULT_MODEL);
    expect(dry.changes[5]).toEqual({ id: '20', counter: 'issuedCount', old: 4294967296, new: 1 });
    expect(dry.changes[16]).toEqual({ id: '9007199254740993', counter: 'issuedCount', old: '9007199254740993', new: 0 });
    expect(dry.changes).toHaveLength(17);
    expect(Object.keys(dry)).toEqual(['version', 'command', 'dryRun', 'summary', 'drifted', 'changes']);
    expect(dry.summary.kinds).toEqual({ tooHigh: 14, tooLow: 1, null: 1, negative: 1, deletedNonZero: 1 });
    const check = checkReportJson(REPORT, { command: 'check' });
    expect('changes' in check).toBe(false);
    expect(check.summary.kinds).toBeUndefined();
    expect(check.summary.orphans).toEqual({ coupons: 2, uses: 1 });
  });

  it("orphan keys: a table two of the model's counters read is keyed per counter whatever --columns audits; the built-in short key gives way to a table of that name", () => {
    const orphan = (counter: string, table: string, rows: bigint) => ({ counter, table, rows, nullSettingId: 0n, namesSettings: true });
    const shared = { ...DEFAULT_MODEL, counters: [{ ...DEFAULT_MODEL.counters[0]!, name: 'all' }, { ...DEFAULT_MODEL.counters[0]!, name: 'live', where: 'revoked = 0' }] };
    // --columns live: only its orphans were counted, under the same key as when both are.
    expect(checkReportJson({ ...REPORT, orphans: [orphan('live', 'g_coupons', 1n)] }, { command: 'check' }, shared).summary.orphans).toEqual({ 'coupons (live)': 1 });
    const clash = { ...DEFAULT_MODEL, counters: [DEFAULT_MODEL.counters[0]!, { ...DEFAULT_MODEL.counters[1]!, table: 'coupons' }] };
    expect(checkReportJson({ ...REPORT, orphans: [orphan('issuedCount', 'g_coupons', 2n), orphan('usedCount', 'coupons', 3n)] }, { command: 'check' }, clash).summary.orphans).toEqual({
      g_coupons: 2,
      coupons: 3,
    });
  });
});

describe('kinds of drift', () => {
  it('each drifted counter has exactly one kind', () => {
    expect(counterDriftKind({ cached: null, actual: 0n, expected: 0n })).toBe('null');
    expect(counterDriftKind({ cached: -1n, actual: 0n, expected: 0n })).toBe('negative');
    expect(counterDriftKind({ cached: 3n, actual: 1n, expected: 1n })).toBe('tooHigh');
    expect(counterDriftKind({ cached: 0n, actual: 1n, expected: 1n })).toBe('tooLow');
    expect(counterDriftKind({ cached: 1n, actual: 1n, expected: 1n })).toBeNull();
    // --deleted zero: 2 rows, expected 0: the cache is too high.
    expect(counterDriftKind({ cached: 2n, actual: 2n, expected: 0n })).toBe('tooHigh');
  });

  it('a summary by kind, the children included; DELETED as the server tells it', () => {
    const kinds = kindSummary(REPORT);
    expect(kinds).toMatchObject({ tooHigh: 14, tooLow: 1, null: 1, negative: 1, deletedNonZero: 1 });
    expect(renderKinds(kinds, plain)).toEqual([
      'By kind:',
      '  too high                         14 counters',
      '  too low                          1 counter',
      '  NULL                             1 counter',
      '  negative                         1 counter',
      '  DELETED with non-zero counts     1 setting',
      '  children with no setting         3 rows: 2 in g_coupons, 1 in g_coupon_uses',
      '  children with a NULL setting id  3 rows in g_coupon_uses',
    ]);
    expect(renderKinds(kindSummary({ ...REPORT, drifted: [], orphans: null }), plain)).toEqual([]);
  });

  it('a table read for two counters is named with the counter, and not totalled', () => {
    const kinds = kindSummary(
      {
        ...REPORT,
        drifted: [],
        orphans: [
          { counter: 'issuedCount', table: 'g_coupons', rows: 2n, nullSettingId: 0n, namesSettings: true },
          { counter: 'activeCount', table: 'g_coupons', rows: 1n, nullSettingId: 0n, namesSettings: true },
        ],
      },
    );
    expect(renderKinds(kinds, plain)).toEqual(['By kind:', '  children with no setting  rows: 2 in g_coupons (issuedCount), 1 in g_coupons (activeCount)']);
  });

  it('the summary line counts settings per counter, and says so', () => {
    expect(driftSummaryLine(REPORT, ['issuedCount', 'usedCount'], { orphans: false })).toBe(
      '17 of 30 settings drifted (issuedCount off in 16, usedCount off in 1).',
    );
    // A counter off nowhere is left out; counts are grouped as the scanned count is.
    expect(driftSummaryLine({ ...REPORT, scanned: 12_000 }, ['issuedCount', 'usedCount', 'voidedCount'], { orphans: false })).toBe(
      '17 of 12,000 settings drifted (issuedCount off in 16, usedCount off in 1).',
    );
    const many = Array.from({ length: 1234 }, (_, i) => ({ ...DRIFTED[0]!, id: BigInt(i + 1) }));
    expect(driftSummaryLine({ ...REPORT, scanned: 5000, drifted: many }, ['issuedCount', 'usedCount'], { orphans: false })).toMatch(/^1,234 of 5,000 settings drifted \(issuedCount off in 1,234\)\.$/);
  });
});

describe('orders and limits', () => {
  it('--sort delta: NULL caches first, then the largest |Δ| (past 2^32 and 2^53), ties by id', () => {
    const ids = sortSettings(DRIFTED, 'delta').map((s) => s.id.toString());
    expect(ids.slice(0, 6)).toEqual(['3', '9007199254740993', '20', '1', '2', '4']);
    expect(ids.slice(7)).toEqual(['100', '101', '102', '103', '104', '105', '106', '107', '108', '109']);
    expect(sortSettings([...DRIFTED].reverse(), 'id').map((s) => s.id)).toEqual(DRIFTED.map((s) => s.id));
    expect(largestDelta(setting(7n, [1n, 5n], [9n, 0n]))).toBe(9n);
    expect(largestDelta(setting(7n, [1n, 5n], [null, 0n]))).toBeNull();
    expect(compareDeltas(-5n, 4n)).toBe(-1);
    expect(compareDeltas(null, P53)).toBe(-1);
  });

  it('changes sort the same way; by id keeps the counter order within a setting', () => {
    const changes = planChanges(DRIFTED);
    expect(sortChanges(changes, 'delta').slice(0, 3).map((c) => c.settingId.toString())).toEqual(['3', '9007199254740993', '20']);
    expect(sortChanges([...changes].reverse(), 'id').map((c) => c.settingId)).toEqual(changes.map((c) => c.settingId));
  });

  it('--limit cuts the table and says how many more there are', () => {
    expect(limitRows([1, 2, 3], undefined)).toEqual({ shown: [1, 2, 3], more: 0 });
    expect(limitRows([1, 2, 3], 3)).toEqual({ shown: [1, 2, 3], more: 0 });
    expect(limitRows([1, 2, 3], 2)).toEqual({ shown: [1, 2], more: 1 });
    expect(moreLine(206)).toBe('… and 206 more; --format json has them all.');
  });

  it('a long id list is one line with the count and the first few', () => {
    expect(firstFew([1n, 2n, 3n])).toBe('settings 1, 2, 3');
    expect(firstFew([7n])).toBe('setting 7');
    expect(firstFew(Array.from({ length: 206 }, (_, i) => BigInt(i + 1)))).toBe('206 settings, the first 5: 1, 2, 3, 4, 5, …');
  });
});

describe('tables and lines a person reads', () => {
  it('the drift table has a line under its header and none between rows', () => {
    const lines = drawn(driftTableText(DRIFTED.slice(0, 2), ['issuedCount', 'usedCount'], plain)).split('\n');
    expect(lines).toHaveLength(7);
    expect(lines[0]).toMatch(/^┌─+┬/);
    // A header of two lines, so that the table fits 80 columns.
    expect(lines[1]).toMatch(/│ id │ status │ issued │ issued │ issued │   used │   used │ used │/);
    expect(lines[2]).toMatch(/│    │        │ cached │ actual │      Δ │ cached │ actual │    Δ │/);
    expect(lines[3]).toMatch(/^├─+┼/);
    expect(lines[4]).toMatch(/│ +1 │ ACTIVE +│ +5 │ +1 │ +\+4 │/);
    expect(lines[5]).toMatch(/│ +2 │ ACTIVE +│ +0 │ +3 │ +-3 │/);
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(80);
    expect(lines[6]).toMatch(/^└─+┴/);
    expect(DRIFT_DELTA_LEGEND).toContain('Δ = cached − actual');
  });

  it('the changes table: id, counter, old, new, Δ; exact past 2^53', () => {
    const lines = drawn(changesTableText(planChanges([DRIFTED[5]!, DRIFTED[16]!]), plain)).split('\n');
    expect(lines[1]).toMatch(/│ +id │ counter +│ +old │ new │ +Δ │/);
    expect(lines[2]).toMatch(/^├─+┼/);
    expect(lines[3]).toMatch(/│ +20 │ issuedCount │ +4294967296 │ +1 │ +\+4294967295 │/);
    expect(lines[4]).toMatch(/│ 9007199254740993 │ issuedCount │ 9007199254740993 │ +0 │ \+9007199254740993 │/);
  });

  it('the dry run ends with what it would do; the audit table is named before anything is written', () => {
    expect(dryRunLine({ settings: 190, counters: 201, transactions: 3 })).toBe(
      'dry run: would change 190 settings (201 counters) in about 3 transactions; nothing written.',
    );
    expect(dryRunLine({ settings: 0, counters: 0, transactions: 0 })).toBe('dry run: nothing to change; nothing written.');
    expect(auditTableLine({ database: 'coupons', auditTable: 'coupon_audit_log', auditTableExists: false }, 'will')).toBe(
      'Repair will create the table coupons.coupon_audit_log (from sql/audit-table.sql; CREATE privilege needed) and record each write there.',
    );
    expect(auditTableLine({ database: 'coupons', auditTable: 'coupon_audit_log', auditTableExists: true }, 'would')).toBe(
      'Repair would record each write in coupons.coupon_audit_log (it exists).',
    );
  });

  it('repair summaries name at most a few ids of a long list', () => {
    const result = emptyRepairResult('run-1');
    result.failed = Array.from({ length: 300 }, (_, i) => ({ settingId: BigInt(i + 1), reason: 'locked' }));
    result.stillDrifted = [7n];
    const lines = repairSummaryLines(result, plain);
    expect(lines).toContain('Not repaired, still locked by another session: 300 settings, the first 5: 1, 2, 3, 4, 5, … A rerun finishes them.');
    expect(lines.some((line) => line.includes('(one snapshot): setting 7.'))).toBe(true);
    // Settings left when a table stayed locked are not said to be held by a session.
    result.failed = [{ settingId: 2n, reason: "every try waited past --lock-wait-timeout for something other than a setting row: most likely a table's metadata lock (an ALTER TABLE or LOCK TABLES queued on it?)" }];
    expect(repairSummaryLines(result, plain)).toContain('Not repaired, a table stayed locked (an ALTER TABLE or LOCK TABLES queued on it?): setting 2. A rerun finishes it.');
  });

  it("failures a rerun would not change are said setting by setting, those of one reason together, never as locked", () => {
    const result = emptyRepairResult('run-1');
    const refused = 'the server refused its write: "no" (error 1644, a trigger\'s SIGNAL?), and a rerun would too';
    // In the order writers on two connections failed them: said in id order.
    result.failed = [
      { settingId: 3n, reason: refused, refused: true },
      { settingId: 2n, reason: 'issuedCount holds 6 where repair wrote 3: the row kept it (a trigger? SHOW TRIGGERS shows them), and a rerun would too', kept: true },
      { settingId: 1n, reason: refused, refused: true },
      ...Array.from({ length: 6 }, (_, i) => ({ settingId: BigInt(10 + i), reason: `issuedCount counts ${300 + i}, past the most (255)`, unfit: true as const })),
    ];
    const lines = repairSummaryLines(result, plain);
    expect(lines.filter((line) => line.startsWith('Not repaired'))).toEqual([
      `Not repaired: settings 1, 3: ${refused}; setting 2: issuedCount holds 6 where repair wrote 3: the row kept it (a trigger? SHOW TRIGGERS shows them), and a rerun would too; ` +
        'setting 10: issuedCount counts 300, past the most (255); setting 11: issuedCount counts 301, past the most (255); setting 12: issuedCount counts 302, past the most (255); and 3 more settings.',
    ]);
  });

  it('a settings id two rows share: the built-in model is told to make it the key (it has no settings.id to correct), a config to name another', () => {
    expect(sharedIdError(DEFAULT_MODEL, 5n).message).toBe(
      "g_coupon_settings.id is 5 in more than one row, and a setting must be one row. Make id the table's key (a PRIMARY KEY or UNIQUE index of that column alone), " +
        'or describe another key column as settings.id with --config FILE.',
    );
    expect(sharedIdError({ ...DEFAULT_MODEL, source: 'c.json' }, 5n).message).toMatch(/^settings\.id: g_coupon_settings\.id is 5 in more than one row, .* as settings\.id\.$/);
  });

  it('every command help ends with examples and exit codes', () => {
    for (const help of [CHECK_HELP, REPAIR_HELP, SQL_HELP, DOCTOR_HELP, DEMO_HELP]) {
      const [, examples, codes] = help.split(/\n(?:Examples|Exit codes):\n/);
      expect(examples).toMatch(/\$ coupon-audit /);
      expect(codes!.trimEnd().split('\n').every((line) => /^ {2}\d+ +\S/.test(line))).toBe(true);
      expect(codes).toMatch(/^ {2}2 +bad flag/m);
    }
    expect(CHECK_HELP.replace(/\s+/g, ' ')).toContain('Δ = cached − actual');
    expect(REPAIR_HELP.replace(/\s+/g, ' ')).toContain('--emit-sql FILE writes the plan as guarded UPDATEs');
  });
});
