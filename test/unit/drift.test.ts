import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { BatchSizer } from '../../src/core/batch-sizer.js';
import { compareSetting, counterWrites, foreignKeyDoubts, isCounterDrifted } from '../../src/core/drift.js';
import { auditScope, type AuditScope, DEFAULT_MODEL } from '../../src/core/model.js';
import { checkReportJson } from '../../src/core/report.js';
import { driftTableText } from '../../src/cli/drift-report.js';
import { drawn } from '../helpers/output.js';
import type { SettingRow } from '../../src/db/rows.js';
import { readPage } from '../../src/db/scanner.js';
import { columnMax } from '../../src/db/inspector.js';
import type { DriftReport, OrphanCount } from '../../src/core/detect-drift.js';

const scope = auditScope(DEFAULT_MODEL);
/** `deleted` is what the server says of the status (db/builder.ts deletedTest); Node does not tell it from the text. */
const setting = (id: bigint, issuedCount: bigint | null, usedCount: bigint | null, status = 'ACTIVE', deleted = status === 'DELETED'): SettingRow => ({
  id,
  status,
  deleted,
  cached: { issuedCount, usedCount },
});

describe('counterWrites: what repair writes, by the same rule as compareSetting', () => {
  const cases: [string, SettingRow, Record<string, bigint>, AuditScope][] = [
    ['right', setting(1n, 3n, 1n), { issuedCount: 3n, usedCount: 1n }, scope],
    ['one too high', setting(2n, 4n, 1n), { issuedCount: 3n, usedCount: 1n }, scope],
    ['NULL and negative', setting(3n, null, -1n), { issuedCount: 0n }, scope],
    ['no children at all, a count absent', setting(4n, 2n, 0n), {}, scope],
    ['deleted, counted', setting(5n, 2n, 0n, 'DELETED'), { issuedCount: 3n }, scope],
    ['deleted, zero expected', setting(6n, 2n, 0n, 'DELETED'), { issuedCount: 3n }, { ...scope, deleted: 'zero' }],
    ['deleted, skipped', setting(7n, 2n, null, 'DELETED'), { issuedCount: 3n }, { ...scope, deleted: 'skip' }],
    ['one counter audited', setting(8n, 4n, null), { issuedCount: 3n }, { ...scope, counters: [scope.counters[0]!] }],
  ];
  it.each(cases)('%s', (_label, row, actual, within) => {
    const report = compareSetting(row, actual, within);
    const expected = Object.entries(report?.counters ?? {})
      .filter(([, state]) => isCounterDrifted(state))
      .map(([counter, state]) => ({ settingId: row.id, counter, from: state.cached, to: state.expected }));
    expect(counterWrites(row, (counter) => actual[counter], within)).toEqual(expected);
  });
  it('writes each drifted counter, cached → expected, in the scope order', () => {
    expect(counterWrites(setting(3n, null, -1n), (counter) => ({ issuedCount: 5n })[counter], scope)).toEqual([
      { settingId: 3n, counter: 'issuedCount', from: null, to: 5n },
      { settingId: 3n, counter: 'usedCount', from: -1n, to: 0n },
    ]);
    expect(counterWrites(setting(6n, 2n, 0n, 'DELETED'), () => 3n, { ...scope, deleted: 'zero' })).toEqual([{ settingId: 6n, counter: 'issuedCount', from: 2n, to: 0n }]);
  });
});

describe('compareSetting', () => {
  const actual = { issuedCount: 3n, usedCount: 1n };
  it('is null when both caches equal the counts', () => {
    expect(compareSetting(setting(1n, 3n, 1n), actual, scope)).toBeNull();
  });
  it.each([
    ['too high', 4n, 1n],
    ['too low', 2n, 1n],
    ['NULL', null, 1n],
    ['negative', -3n, 1n],
    ['used off', 3n, 0n],
  ])('reports a cache that is %s', (_label, issued, used) => {
    expect(compareSetting(setting(1n, issued, used), actual, scope)).not.toBeNull();
  });
  it('treats a NULL cache on a setting with no children as drift', () => {
    expect(compareSetting(setting(1n, null, 0n), { issuedCount: 0n, usedCount: 0n }, scope)).not.toBeNull();
  });
  it("expects zero under --deleted zero for the settings the server calls deleted, whatever their status's text", () => {
    const zero: AuditScope = { ...scope, deleted: 'zero' };
    const deleted = setting(1n, 3n, 1n, 'DELETED');
    expect(compareSetting(deleted, actual, scope)).toBeNull();
    expect(compareSetting(deleted, actual, zero)?.counters['issuedCount']).toEqual({ cached: 3n, actual: 3n, expected: 0n });
    expect(compareSetting(deleted, actual, zero)?.deleted).toBe(true);
    // In the table: 0 expected, the rows there are, and that it is the setting that is deleted.
    const drawnTable = drawn(driftTableText([compareSetting(deleted, actual, zero)!], ['issuedCount', 'usedCount'], new Chalk({ level: 0 })));
    expect(drawnTable).toContain('0 (3 rows; setting deleted)');
    // The server's collation decides (case, trailing spaces, accents); Node follows its flag.
    expect(compareSetting(setting(1n, 3n, 1n, 'deleted ', true), actual, zero)).not.toBeNull();
    expect(compareSetting(setting(1n, 3n, 1n, 'DELETED', false), actual, zero)).toBeNull();
    expect(compareSetting(setting(1n, 0n, 0n, 'DELETED'), actual, zero)).toBeNull();
    expect(compareSetting(setting(1n, 99n, 99n, 'DELETED'), actual, { ...scope, deleted: 'skip' })).toBeNull();
  });
  it('audits only the counters asked for', () => {
    const usedOnly = auditScope(DEFAULT_MODEL, { counters: ['usedCount'] });
    expect(compareSetting(setting(1n, 99n, 1n), actual, usedOnly)).toBeNull();
    expect(compareSetting(setting(1n, 99n, 2n), actual, usedOnly)?.counters).toEqual({
      usedCount: { cached: 2n, actual: 1n, expected: 1n },
    });
  });
});

describe('readPage (the rows of the one-statement comparison)', () => {
  const group = (id: string, known: number, cached: (string | null)[], actual: string[]) => ({
    id,
    sid: known ? id : null,
    known: String(known),
    audited: String(known),
    status: known ? 'ACTIVE' : null,
    deleted: '0',
    zero: '0',
    cached0: cached[0],
    actual0: actual[0],
    cached1: cached[1],
    actual1: actual[1],
  });
  const rollup = { id: null, known: '3', audited: '3', status: 'ACTIVE', deleted: '0', zero: '0', cached0: '9', actual0: '12', cached1: '1', actual1: '2' };
  it('takes the page total from the rollup row, sums orphan groups, and keeps only drifted settings, exact past 2^53', () => {
    const page = readPage(
      [group('2', 1, ['1', '0'], ['1', '0']), group('7', 0, [null, null], ['6', '1']), group('9007199254740993', 1, [null, '0'], ['3', '0']), rollup] as never,
      scope,
    );
    expect(page.scanned).toBe(3);
    expect(page.orphans).toEqual([6n, 1n]);
    // Some child rows named a setting (12 counted, 6 orphans; 2 and 1): foreignKeyDoubts stays quiet.
    expect(page.named).toEqual([true, true]);
    const orphansOnly = readPage([group('2', 1, ['0', '0'], ['0', '0']), group('7', 0, [null, null], ['6', '1']), { ...rollup, actual0: '6', actual1: '1' }] as never, scope);
    expect(orphansOnly.named).toEqual([false, false]);
    expect(page.found).toEqual([2n, 9007199254740993n]);
    expect(page.drifted).toEqual([
      { id: 9007199254740993n, status: 'ACTIVE', deleted: false, counters: { issuedCount: { cached: null, actual: 3n, expected: 3n }, usedCount: { cached: 0n, actual: 0n, expected: 0n } } },
    ]);
  });
  it('an empty page is empty', () => {
    expect(readPage([], scope)).toEqual({ scanned: 0, drifted: [], found: [], skipped: [], orphans: [0n, 0n] });
  });
});

describe('BatchSizer', () => {
  it('moves toward the target time, at most doubling or halving per step, within limits', () => {
    const sizer = new BatchSizer({ initial: 1000, min: 100, max: 5000, targetMs: 500, adaptive: true });
    sizer.observe(1000, 100); // 10/ms → wants 5000, capped at ×2
    expect(sizer.size).toBe(2000);
    sizer.observe(2000, 200);
    expect(sizer.size).toBe(4000);
    sizer.observe(4000, 400);
    expect(sizer.size).toBe(5000); // max
    const slow = new BatchSizer({ initial: 1000, min: 100, max: 5000, targetMs: 500, adaptive: true });
    slow.observe(1000, 10_000); // 0.1/ms → wants 50, halved at most, floored at min
    expect(slow.size).toBe(500);
    slow.observe(500, 10_000);
    expect(slow.size).toBe(250);
  });
  it('never changes a fixed size', () => {
    const sizer = new BatchSizer({ initial: 300, min: 100, max: 5000, targetMs: 500, adaptive: false });
    sizer.observe(300, 1);
    expect(sizer.size).toBe(300);
  });
});

describe('reports', () => {
  const drifted = [
    { id: 9007199254740993n, status: 'ACTIVE', deleted: false, counters: { issuedCount: { cached: null, actual: 3n, expected: 3n }, usedCount: { cached: 1n, actual: 1n, expected: 1n } } },
  ];
  const report = {
    scanned: 10,
    drifted,
    orphans: [
      { counter: 'issuedCount', table: 'g_coupons', rows: 2n, nullSettingId: 0n, namesSettings: true },
      { counter: 'usedCount', table: 'g_coupon_uses', rows: 0n, nullSettingId: 3n, namesSettings: true },
    ],
    missingIds: [],
    skippedIds: [],
  };

  it('JSON keeps ids exact as strings and NULL caches as null; NULL setting ids apart from orphans', () => {
    const json = JSON.parse(JSON.stringify(checkReportJson(report, { command: 'check' })));
    expect(json).toEqual({
      version: 1,
      command: 'check',
      summary: { scanned: 10, drifted: 1, orphans: { coupons: 2, uses: 0 }, nullSettingId: { uses: 3 } },
      drifted: [
        {
          id: '9007199254740993',
          status: 'ACTIVE',
          counters: { issuedCount: { cached: null, actual: 3, expected: 3 }, usedCount: { cached: 1, actual: 1, expected: 1 } },
        },
      ],
    });
  });

  it('the table has no ANSI codes without colour, and marks the drifted cell with colour when on', () => {
    const names = scope.counters.map((counter) => counter.name);
    const plain = drawn(driftTableText(drifted, names, new Chalk({ level: 0 })));
    expect(plain).not.toMatch(/\x1b\[/);
    expect(plain).toContain('9007199254740993');
    expect(plain).toMatch(/NULL/);
    expect(plain).toMatch(/│ +issued │ +issued │ +issued │ +used │ +used │ +used │\n│ +│ +│ +cached │ +actual │ +Δ │ +cached │ +actual │ +Δ │/);
    const coloured = drawn(driftTableText(drifted, names, new Chalk({ level: 1 })));
    expect(coloured).toContain('\x1b[31m'); // red: the drifted cached value
  });

  it('a status with control characters prints escaped, on its row: the database cannot move the cursor or add a line', () => {
    const names = scope.counters.map((counter) => counter.name);
    const odd = compareSetting(setting(7n, 2n, 0n, 'two\nlines\x1b[2J\tend'), new Map([['issuedCount', 1n], ['usedCount', 0n]]), scope)!;
    const lines = drawn(driftTableText([odd], names, new Chalk({ level: 0 }))).split('\n');
    expect(lines).toHaveLength(6); // top, the head's two lines, rule, the row, bottom
    expect(lines[4]).toContain('two\\nlines\\x1b[2J\\tend');
    expect(lines.join('\n')).not.toMatch(/\x1b/);
  });
});

describe('foreignKeyDoubts (a counter that counted no child row for any setting)', () => {
  const model = DEFAULT_MODEL;
  const orphans = (issued: Partial<OrphanCount>): Pick<DriftReport, 'orphans'> => ({
    orphans: [
      { counter: 'issuedCount', table: 'g_coupons', rows: 0n, nullSettingId: 0n, namesSettings: false, ...issued },
      { counter: 'usedCount', table: 'g_coupon_uses', rows: 0n, nullSettingId: 0n, namesSettings: true },
    ],
  });
  const doubted = (issued: Partial<OrphanCount>, drifting: string[] = []) => foreignKeyDoubts(orphans(issued), model, new Set(drifting)).map((doubt) => doubt.counter);
  it('doubts one with rows that all name no setting or hold NULL, drifting or not', () => {
    expect(doubted({ rows: 3n })).toEqual(['issuedCount']);
    expect(doubted({ nullSettingId: 3n })).toEqual(['issuedCount']);
    expect(doubted({ rows: 2n, nullSettingId: 1n })[0]).toBe('issuedCount');
  });
  it('doubts one whose where lets no row through, or whose table is empty, only where settings cache a count for it, and does not refuse it', () => {
    const filtered = { ...DEFAULT_MODEL, counters: [{ ...DEFAULT_MODEL.counters[0]!, where: "status = 'REVOKD'" }, DEFAULT_MODEL.counters[1]!] };
    const doubts = (drifting: string[]) => foreignKeyDoubts(orphans({}), filtered, new Set(drifting));
    expect(doubts([])).toEqual([]);
    expect(doubts(['issuedCount']).map((doubt) => [doubt.counter, doubt.refuse])).toEqual([['issuedCount', false]]);
    expect(doubts(['usedCount'])).toEqual([]);
    // No where: the table is empty. Settings caching counts for it would be zeroed: a warning.
    expect(doubted({}, [])).toEqual([]);
    const empty = foreignKeyDoubts(orphans({}), model, new Set(['issuedCount']));
    expect(empty.map((doubt) => [doubt.counter, doubt.refuse])).toEqual([['issuedCount', false]]);
    expect(empty[0]!.message).toBe(
      'counter issuedCount counts no row of g_coupons (the table is empty), yet settings cache a count for it; is g_coupons the table that holds them? (repair writes 0 into them)',
    );
    expect(foreignKeyDoubts(orphans({ rows: 3n }), model, new Set()).map((doubt) => doubt.refuse)).toEqual([true]);
  });
  it('never one whose rows named a setting, nor one a page did not say (null), nor an --ids run (no orphans)', () => {
    expect(doubted({ rows: 3n, namesSettings: true }, ['issuedCount'])).toEqual([]);
    expect(doubted({ rows: 3n, namesSettings: null }, ['issuedCount'])).toEqual([]);
    expect(foreignKeyDoubts({ orphans: null }, model, new Set(['issuedCount']))).toEqual([]);
  });
});

describe("a counter column's largest value (inspector.ts columnMax), which repair leaves a count past", () => {
  it('per integer type, signed and UNSIGNED, and per DECIMAL digits; none for a type that does not say', () => {
    const max = (dataType: string, columnType: string, numericPrecision: number | null = null, numericScale: number | null = 0) =>
      columnMax({ dataType, columnType, numericPrecision, numericScale });
    expect(max('tinyint', 'tinyint(3) unsigned')).toBe(255n);
    expect(max('tinyint', 'tinyint(4)')).toBe(127n);
    expect(max('smallint', 'smallint(5) unsigned')).toBe(65_535n);
    expect(max('mediumint', 'mediumint(9)')).toBe(8_388_607n);
    expect(max('int', 'int(10) unsigned zerofill')).toBe(4_294_967_295n);
    expect(max('int', 'int(11)')).toBe(2_147_483_647n);
    expect(max('bigint', 'bigint(20) unsigned')).toBe(18_446_744_073_709_551_615n);
    expect(max('bigint', 'bigint(20)')).toBe(9_223_372_036_854_775_807n);
    expect(max('decimal', 'decimal(5,0)', 5)).toBe(99_999n);
    expect(max('decimal', 'decimal(5,2)', 5, 2)).toBeNull();
    expect(max('decimal', 'decimal(5,0)', null)).toBeNull();
  });
});
