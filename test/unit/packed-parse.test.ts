import { describe, expect, it } from 'vitest';
import { auditScope, DEFAULT_MODEL } from '../../src/core/model.js';
import * as builder from '../../src/db/builder.js';
import type { Row } from '../../src/db/database.js';
import { matchKeys, parsePackedColumns, parsePackedPage, parsePackedRuns } from '../../src/db/scanner.js';
import { holdsIntegerIds } from '../../src/db/inspector.js';
import { branchForms, MAX_POINTS, POINTS_FORM_MIN_PER_GROUP, rangePoints, ROWS_FORM_MAX_PER_GROUP } from '../../src/core/detect-drift.js';

/** Reading a packed page (db/scanner.ts): what the server's text says, whichever way it is read. */

const scope = auditScope(DEFAULT_MODEL);
const rows = (settings: string, codes: string, uses: string): Row[] =>
  [settings, codes, uses].map((p, b) => ({ b, n: p === '' ? 0 : p.split(',').length, p: p === '' ? null : p }) as unknown as Row);

describe('packedPageSql', () => {
  it('reads the same ranges as the stacked statement, each branch packed with its row count', () => {
    expect(builder.packedPageSql(scope, { kind: 'range', after: 10n, upTo: 20n })).toBe(
      "/* coupon-audit */ SELECT 0 AS b, COUNT(*) AS n, GROUP_CONCAT(CONCAT_WS(' ', s.`id`, IFNULL(s.`issuedCount`, '-'), IFNULL(s.`usedCount`, '-')) SEPARATOR ',') AS p " +
        'FROM `g_coupon_settings` s WHERE s.`id` > 10 AND s.`id` <= 20 UNION ALL ' +
        "SELECT 1, COUNT(*), GROUP_CONCAT(CONCAT_WS(' ', x.k, x.n0) SEPARATOR ',') FROM (SELECT `settingId` AS k, COUNT(*) AS n0 FROM `g_coupons` WHERE `settingId` > 10 AND `settingId` <= 20 GROUP BY `settingId`) x UNION ALL " +
        "SELECT 2, COUNT(*), GROUP_CONCAT(CONCAT_WS(' ', x.k, x.n0) SEPARATOR ',') FROM (SELECT `settingId` AS k, COUNT(*) AS n0 FROM `g_coupon_uses` WHERE `settingId` > 10 AND `settingId` <= 20 GROUP BY `settingId`) x",
    );
  });

  it('sends a branch of one counter as a key per child row when asked (its filter in WHERE); never one of several', () => {
    const filtered = { ...DEFAULT_MODEL, counters: [{ ...DEFAULT_MODEL.counters[0]!, where: "status <> 'REVOKED'" }, DEFAULT_MODEL.counters[1]!] };
    expect(builder.packedPageSql(auditScope(filtered), { kind: 'range', after: 10n, upTo: 20n }, ['rows', 'grouped'])).toBe(
      "/* coupon-audit */ SELECT 0 AS b, COUNT(*) AS n, GROUP_CONCAT(CONCAT_WS(' ', s.`id`, IFNULL(s.`issuedCount`, '-'), IFNULL(s.`usedCount`, '-')) SEPARATOR ',') AS p " +
        'FROM `g_coupon_settings` s WHERE s.`id` > 10 AND s.`id` <= 20 UNION ALL ' +
        "SELECT 1, COUNT(*), GROUP_CONCAT(`settingId` SEPARATOR ',') FROM `g_coupons` WHERE `settingId` > 10 AND `settingId` <= 20 AND (status <> 'REVOKED') UNION ALL " +
        "SELECT 2, COUNT(*), GROUP_CONCAT(CONCAT_WS(' ', x.k, x.n0) SEPARATOR ',') FROM (SELECT `settingId` AS k, COUNT(*) AS n0 FROM `g_coupon_uses` WHERE `settingId` > 10 AND `settingId` <= 20 GROUP BY `settingId`) x",
    );
    // The whole table in one page: rows with no key are never a setting's.
    expect(builder.packedPageSql(scope, { kind: 'range', after: null, upTo: null }, ['grouped', 'rows'])).toContain(
      "SELECT 2, COUNT(*), GROUP_CONCAT(`settingId` SEPARATOR ',') FROM `g_coupon_uses` WHERE `settingId` IS NOT NULL",
    );
    const shared = { ...DEFAULT_MODEL, counters: DEFAULT_MODEL.counters.map((counter) => ({ ...counter, table: 'g_coupons' })) };
    expect(() => builder.packedPageSql(auditScope(shared), { kind: 'range', after: null, upTo: null }, ['rows'])).toThrow(/one counter/);
  });

  it('sends a branch in the points form as an equality read per point and one read of the rest of the range, grouped', () => {
    const filtered = { ...DEFAULT_MODEL, counters: [{ ...DEFAULT_MODEL.counters[0]!, where: "status <> 'REVOKED'" }, DEFAULT_MODEL.counters[1]!] };
    expect(builder.packedPageSql(auditScope(filtered), { kind: 'range', after: 10n, upTo: 20n, points: [11n, 12n, 15n] }, ['points', 'grouped'])).toBe(
      "/* coupon-audit */ SELECT 0 AS b, COUNT(*) AS n, GROUP_CONCAT(CONCAT_WS(' ', s.`id`, IFNULL(s.`issuedCount`, '-'), IFNULL(s.`usedCount`, '-')) SEPARATOR ',') AS p " +
        'FROM `g_coupon_settings` s WHERE s.`id` > 10 AND s.`id` <= 20 UNION ALL ' +
        "SELECT 1, COUNT(*), GROUP_CONCAT(CONCAT_WS(' ', x.k, x.n0) SEPARATOR ',') FROM (" +
        "SELECT `settingId` AS k, COUNT(*) AS n0 FROM `g_coupons` WHERE `settingId` = 11 AND (status <> 'REVOKED') GROUP BY `settingId` UNION ALL " +
        "SELECT `settingId` AS k, COUNT(*) AS n0 FROM `g_coupons` WHERE `settingId` = 12 AND (status <> 'REVOKED') GROUP BY `settingId` UNION ALL " +
        "SELECT `settingId` AS k, COUNT(*) AS n0 FROM `g_coupons` WHERE `settingId` = 15 AND (status <> 'REVOKED') GROUP BY `settingId` UNION ALL " +
        'SELECT `settingId` AS k, COUNT(*) AS n0 FROM `g_coupons` WHERE ((`settingId` > 10 AND `settingId` < 11) OR (`settingId` > 11 AND `settingId` < 12) OR ' +
        "(`settingId` > 12 AND `settingId` < 15) OR (`settingId` > 15 AND `settingId` <= 20)) AND (status <> 'REVOKED') GROUP BY `settingId`) x UNION ALL " +
        "SELECT 2, COUNT(*), GROUP_CONCAT(CONCAT_WS(' ', x.k, x.n0) SEPARATOR ',') FROM (SELECT `settingId` AS k, COUNT(*) AS n0 FROM `g_coupon_uses` WHERE `settingId` > 10 AND `settingId` <= 20 GROUP BY `settingId`) x",
    );
    // A branch of several counters sums each filter per point too.
    const shared = { ...DEFAULT_MODEL, counters: [filtered.counters[0]!, { ...DEFAULT_MODEL.counters[1]!, table: 'g_coupons', where: "status = 'USED'" }] };
    expect(builder.packedPageSql(auditScope(shared), { kind: 'range', after: 10n, upTo: 20n, points: [20n] }, ['points'])).toContain(
      "FROM (SELECT `settingId` AS k, SUM(CASE WHEN (status <> 'REVOKED') THEN 1 ELSE 0 END) AS n0, SUM(CASE WHEN (status = 'USED') THEN 1 ELSE 0 END) AS n1 " +
        'FROM `g_coupons` WHERE `settingId` = 20 GROUP BY `settingId` UNION ALL ' +
        "SELECT `settingId` AS k, SUM(CASE WHEN (status <> 'REVOKED') THEN 1 ELSE 0 END) AS n0, SUM(CASE WHEN (status = 'USED') THEN 1 ELSE 0 END) AS n1 " +
        'FROM `g_coupons` WHERE ((`settingId` > 10 AND `settingId` < 20)) GROUP BY `settingId`) x',
    );
    expect(() => builder.packedPageSql(scope, { kind: 'range', after: 10n, upTo: 20n }, ['points'])).toThrow(/a range with points/);
    expect(() => builder.packedPageSql(scope, { kind: 'ids', ids: [1n] }, ['points'])).toThrow(/a range with points/);
  });

  it('pointConditions cover the range once: below the first point, between the points, above the last (to upTo, or open)', () => {
    const k = '`k`';
    expect(builder.pointConditions(k, { kind: 'range', after: null, upTo: 3n, points: [1n, 3n] })).toEqual(['`k` = 1', '`k` = 3', '((`k` < 1) OR (`k` > 1 AND `k` < 3))']);
    expect(builder.pointConditions(k, { kind: 'range', after: 0n, upTo: null, points: [1n] })).toEqual(['`k` = 1', '((`k` > 0 AND `k` < 1) OR (`k` > 1))']);
    expect(builder.pointConditions(k, { kind: 'range', after: 18446744073709551610n, upTo: 18446744073709551615n, points: [18446744073709551611n] })).toEqual([
      '`k` = 18446744073709551611',
      '((`k` > 18446744073709551610 AND `k` < 18446744073709551611) OR (`k` > 18446744073709551611 AND `k` <= 18446744073709551615))',
    ]);
    for (const points of [[2n, 2n], [3n, 2n], [1n], [6n]]) {
      expect(() => builder.pointConditions(k, { kind: 'range', after: 1n, upTo: 5n, points })).toThrow(/out of order or outside \(1, 5\]/);
    }
  });

  it('carries the deleted test only when the policy needs it; a shared table sums each filter', () => {
    const shared = {
      ...DEFAULT_MODEL,
      counters: [
        { name: 'issuedCount', table: 'g_coupons', foreignKey: 'settingId', where: "status <> 'REVOKED'" },
        { name: 'usedCount', table: 'g_coupons', foreignKey: 'settingId', where: "status = 'USED'" },
      ],
    };
    const sql = builder.packedPageSql(auditScope(shared, { deleted: 'skip' }), { kind: 'range', after: null, upTo: null });
    expect(sql).toContain("GROUP_CONCAT(CONCAT_WS(' ', s.`id`, UPPER(s.`status`) <=> UPPER('DELETED'), IFNULL(s.`issuedCount`, '-')");
    expect(sql).toContain(
      "SELECT 1, COUNT(*), GROUP_CONCAT(CONCAT_WS(' ', x.k, x.n0, x.n1) SEPARATOR ',') FROM (SELECT `settingId` AS k, SUM(CASE WHEN (status <> 'REVOKED') THEN 1 ELSE 0 END) AS n0, " +
        "SUM(CASE WHEN (status = 'USED') THEN 1 ELSE 0 END) AS n1 FROM `g_coupons` WHERE `settingId` IS NOT NULL GROUP BY `settingId`) x",
    );
    expect(builder.childBranches(auditScope(shared))).toEqual([{ table: 'g_coupons', counters: [0, 1] }]);
  });
});

describe('parsePackedPage', () => {
  it('candidates are the settings whose caches are not their counts; orphans are keys with no setting', () => {
    const page = parsePackedPage(rows('1 2 1,2 0 0,3 5 -,4 -1 0,6 1 1', '1 2,3 5,4 1,5 7,6 1', '1 1,5 2,6 1'), scope);
    // 2: no children, right. 3: usedCount NULL. 4: -1 codes cached for 1. 5: no setting (orphans 7 and 2).
    // The counts of each candidate come along (compareCandidates need not read them again).
    // What each child branch held: child rows and settings (orphans too) with children.
    const children = [{ rows: 16, groups: 5 }, { rows: 4, groups: 3 }];
    expect(page).toEqual({ scanned: 5, candidates: [3n, 4n], counts: new Map([[3n, [5n, 0n]], [4n, [1n, 0n]]]), orphans: [7n, 2n], found: [], skipped: [], named: [true, true], children });
  });

  it('a page parsed after a larger one keeps nothing of it (the arrays are reused from page to page)', () => {
    const rowsForm = { forms: ['rows', 'rows'] as const };
    // A large page first: every setting has codes and uses, and its caches say so.
    const ids = Array.from({ length: 300 }, (_, i) => i + 1);
    const large = parsePackedPage(rows(ids.map((id) => `${id} 2 1`).join(','), ids.flatMap((id) => [id, id]).join(','), ids.join(',')), scope, rowsForm);
    expect(large?.candidates).toEqual([]);
    // Then a smaller one at the same positions, with no children at all: each cache that counts is drift.
    const small = parsePackedPage(rows('1 0 0,2 2 1,3 0 1', '', ''), scope, rowsForm);
    expect(small).toMatchObject({ scanned: 3, candidates: [2n, 3n], counts: new Map([[2n, [0n, 0n]], [3n, [0n, 0n]]]), orphans: [0n, 0n], named: [false, false] });
    // Grouped children of fewer settings than the page before had: the counts are this page's.
    const grouped = parsePackedPage(rows('1 5 0,2 0 0,3 0 0', '1 5', ''), scope);
    expect(grouped).toMatchObject({ candidates: [], orphans: [0n, 0n], children: [{ rows: 5, groups: 1 }, { rows: 0, groups: 0 }] });
  });

  it('a candidate whose count is not a plain integer of at most 15 digits comes without counts: it is counted again by key', () => {
    const page = parsePackedPage(rows('1 2 1,2 0 0', '1 2,2 1234567890123456', '1 1'), scope);
    expect(page?.candidates).toEqual([2n]);
    expect(page?.counts).toEqual(new Map());
  });

  it('reads the text way, with the same answer, when ids pass 15 digits or come out of order', () => {
    const big = parsePackedPage(rows('1 2 0,9007199254740993 1 0', '1 2,9007199254740993 2,9007199254740994 4', ''), scope);
    // The text way gives the branches' shapes too (core/detect-drift.ts branchForms).
    const shapes = (codes: [number, number], uses: [number, number]) => [
      { rows: codes[0], groups: codes[1] },
      { rows: uses[0], groups: uses[1] },
    ];
    expect(big).toEqual({ scanned: 2, candidates: [9007199254740993n], orphans: [4n, 0n], found: [], skipped: [], named: [true, false], children: shapes([8, 3], [0, 0]) });
    const unordered = parsePackedPage(rows('6 1 1,1 2 1,4 -1 0', '6 1,4 1,1 2,5 7', '1 1,6 1'), scope);
    expect(unordered).toEqual({ scanned: 3, candidates: [4n], orphans: [7n, 0n], found: [], skipped: [], named: [true, true], children: shapes([11, 4], [2, 2]) });
  });

  it('a cache that is not a plain integer is a candidate, whatever its value (the exact statement decides)', () => {
    expect(parsePackedPage(rows('1 2.00 0,2 1e2 0', '1 2,2 100', ''), scope)?.candidates).toEqual([1n, 2n]);
  });

  it('--deleted zero expects 0 of a DELETED setting; skip leaves it out of the count', () => {
    const withDeleted = rows('1 1 2 0,2 0 2 0', '1 2,2 2', '');
    expect(parsePackedPage(withDeleted, auditScope(DEFAULT_MODEL, { deleted: 'zero' }))).toEqual({
      scanned: 2,
      candidates: [1n],
      counts: new Map([[1n, [2n, 0n]]]),
      orphans: [0n, 0n],
      found: [],
      skipped: [],
      named: [true, false],
      children: [{ rows: 4, groups: 2 }, { rows: 0, groups: 0 }],
    });
    expect(parsePackedPage(withDeleted, auditScope(DEFAULT_MODEL, { deleted: 'skip' }))).toEqual({
      scanned: 1,
      candidates: [],
      counts: new Map(),
      orphans: [0n, 0n],
      found: [],
      skipped: [],
      named: [true, false],
      children: [{ rows: 4, groups: 2 }, { rows: 0, groups: 0 }],
    });
  });

  it('null when a value holds fewer records than its row count (cut at group_concat_max_len)', () => {
    const cut = rows('1 2 1,2 0 0', '1 2', '1 1');
    (cut[1] as Record<string, unknown>)['n'] = 3;
    expect(parsePackedPage(cut, scope)).toBeNull();
    const cutMidRecord = rows('1 2 1,2 0', '1 2', '1 1');
    (cutMidRecord[0] as Record<string, unknown>)['n'] = 2;
    expect(parsePackedPage(cutMidRecord, scope)).toBeNull();
  });

  it('names the settings it read when asked (which ids of an --ids chunk exist), either way it reads', () => {
    expect(parsePackedPage(rows('1 2 0,4 0 0', '1 2', ''), scope, { found: true })?.found).toEqual([1n, 4n]);
    expect(parsePackedPage(rows('4 0 0,9007199254740993 0 0', '', ''), scope, { found: true })?.found).toEqual([4n, 9007199254740993n]);
    // And which of them --deleted skip left out (fields: id deleted issued used), either way.
    const skip = auditScope(DEFAULT_MODEL, { deleted: 'skip' });
    expect(parsePackedPage(rows('1 1 2 0,4 0 0 0', '1 2', ''), skip, { found: true })).toMatchObject({ scanned: 1, found: [1n, 4n], skipped: [1n] });
    expect(parsePackedPage(rows('4 0 0 0,9007199254740993 1 0 0', '', ''), skip, { found: true })).toMatchObject({ scanned: 1, found: [4n, 9007199254740993n], skipped: [9007199254740993n] });
  });

  it('a value as long as group_concat_max_len is cut, even when its record count is whole; a cut inside a record of the text way is null, not a hang', () => {
    // '1 2 1,2 0 12' cut at 11 bytes: two records, the last count 12 read as 1.
    expect(parsePackedPage(rows('1 2 1,2 0 1', '1 2', '1 1,2 12'), scope, { maxBytes: 11 })).toBeNull();
    expect(parsePackedPage(rows('1 2 1,2 0 1', '1 2', '1 1,2 12'), scope, { maxBytes: 12 })).toEqual({
      scanned: 2,
      candidates: [2n],
      counts: new Map([[2n, [0n, 12n]]]),
      orphans: [0n, 0n],
      found: [],
      skipped: [],
      named: [true, true],
      children: [{ rows: 2, groups: 1 }, { rows: 13, groups: 2 }],
    });
    const bigCut = rows('9007199254740993 1 0,9007199254740995 1', '', '');
    expect(parsePackedPage(bigCut, scope)).toBeNull();
  });

  it('a branch sent as a key per child row reads as the same branch grouped, either way it reads', () => {
    const grouped = parsePackedPage(rows('1 2 1,2 0 0,3 5 -,4 -1 0,6 1 1', '1 2,3 5,4 1,5 7,6 1', '1 1,5 2,6 1'), scope);
    const keyed = parsePackedPage(rows('1 2 1,2 0 0,3 5 -,4 -1 0,6 1 1', '1,1,3,3,3,3,3,4,5,5,5,5,5,5,5,6', '1 1,5 2,6 1'), scope, { forms: ['rows'] });
    expect(keyed).toEqual(grouped);
    expect(keyed?.children).toEqual([{ rows: 16, groups: 5 }, { rows: 4, groups: 3 }]);
    // Out of order (a table scan) or past 15 digits: the text way counts them by a map, with the same shapes.
    const unordered = parsePackedPage(rows('1 2 1,2 0 0,3 5 -,4 -1 0,6 1 1', '3,1,3,5,3,6,3,5,5,4,3,5,5,5,1,5', '1,5,6,5'), scope, { forms: ['rows', 'rows'] });
    expect(unordered).toEqual({ scanned: 5, candidates: [3n, 4n], orphans: [7n, 2n], found: [], skipped: [], named: [true, true], children: [{ rows: 16, groups: 5 }, { rows: 4, groups: 3 }] });
    const big = parsePackedPage(rows('1 2 0,9007199254740993 3 0', '1,1,9007199254740993,9007199254740994,9007199254740994', ''), scope, { forms: ['rows', 'rows'] });
    expect(big).toEqual({ scanned: 2, candidates: [9007199254740993n], orphans: [2n, 0n], found: [], skipped: [], named: [true, false], children: [{ rows: 5, groups: 3 }, { rows: 0, groups: 0 }] });
    // Fewer keys than its row count: cut.
    const cut = rows('1 2 1', '1,1', '');
    (cut[1] as Record<string, unknown>)['n'] = 3;
    expect(parsePackedPage(cut, scope, { forms: ['rows', 'rows'] })).toBeNull();
  });

  it('an empty page: no settings, no children', () => {
    expect(parsePackedPage(rows('', '', ''), scope)).toEqual({
      scanned: 0,
      candidates: [],
      counts: new Map(),
      orphans: [0n, 0n],
      found: [],
      skipped: [],
      named: [false, false],
      children: [{ rows: 0, groups: 0 }, { rows: 0, groups: 0 }],
    });
  });
});

describe('the pieces', () => {
  it('parsePackedColumns: NaN for a field that is not 1-15 digits; cut when the text and the count disagree; unusual for such a key or one out of order', () => {
    const bytes = (text: string): Buffer => Buffer.from(text, 'latin1'); // as Session.query textAsBytes hands them over
    const columns = (text: string, width: number, count: number) => {
      const parsed = parsePackedColumns(bytes(text), width, count);
      return typeof parsed === 'string' ? parsed : parsed.map((column) => [...column]);
    };
    expect(columns('7 - 12,8 5.0 1234567890123456', 3, 2)).toEqual([[7, 8], [NaN, NaN], [12, NaN]]);
    expect(columns('123456789012345 0', 2, 1)).toEqual([[123456789012345], [0]]);
    expect(columns('1 1', 2, 2)).toBe('cut');
    expect(columns('1 1,2', 2, 2)).toBe('cut'); // ends inside a record
    expect(columns('1 1,2 2,3', 2, 2)).toBe('cut'); // more text than records
    expect(columns('', 2, 0)).toEqual([[], []]);
    expect(parsePackedColumns(null, 2, 0)).toEqual([new Float64Array(0), new Float64Array(0)]);
    expect(parsePackedColumns(null, 2, 1)).toBe('cut');
    expect(columns('1 1', 2, 0)).toBe('cut');
    expect(columns('0 07,5 1', 2, 2)).toEqual([[0, 5], [7, 1]]); // a count may have one; a key may not
    for (const text of ['x 1', '2 1,1 1', '1 1,1 2', '1234567890123456 1', '-1 1', '05 1', '1 1,05 1']) {
      expect(columns(text, 2, text.split(',').length)).toBe('unusual');
    }
  });

  it('parsePackedRuns: keys counted into runs; cut when the text and the count disagree; unusual for a key that is not 1-15 digits or goes down', () => {
    const runs = (text: string, count: number) => {
      const parsed = parsePackedRuns(Buffer.from(text, 'latin1'), count);
      return typeof parsed === 'string' ? parsed : parsed.map((column) => [...column]);
    };
    expect(runs('3,3,3,7,9,9', 6)).toEqual([[3, 7, 9], [3, 1, 2]]);
    expect(runs('123456789012345', 1)).toEqual([[123456789012345], [1]]);
    expect(runs('', 0)).toEqual([[], []]);
    expect(parsePackedRuns(null, 0)).toEqual([new Float64Array(0), new Float64Array(0)]);
    expect(parsePackedRuns(null, 1)).toBe('cut');
    expect(runs('3,3', 3)).toBe('cut');
    expect(runs('3,3,4', 2)).toBe('cut');
    expect(runs('3,3,', 2)).toBe('cut');
    expect(runs('3', 0)).toBe('cut');
    for (const text of ['3,2', 'x', '1234567890123456', '-1', '3 1', '3,,4', '05', '5,05']) expect(runs(text, text.split(',').length)).toBe('unusual');
    expect(runs('0,0,5', 3)).toEqual([[0, 5], [2, 1]]);
  });

  it('branchForms: a key per child row while the settings with children had at most ROWS_FORM_MAX_PER_GROUP each, points from POINTS_FORM_MIN_PER_GROUP, else grouped', () => {
    expect(ROWS_FORM_MAX_PER_GROUP).toBe(3);
    expect(POINTS_FORM_MIN_PER_GROUP).toBe(1500);
    expect(
      branchForms([
        { rows: 30, groups: 10 },
        { rows: 31, groups: 10 },
        { rows: 0, groups: 0 },
        { rows: NaN, groups: 4 },
        { rows: 1, groups: 0 },
        { rows: 14_999, groups: 10 },
        { rows: 15_000, groups: 10 },
      ]),
    ).toEqual(['rows', 'grouped', 'rows', 'grouped', 'points', 'grouped', 'points']);
  });

  it('rangePoints: every id of a range of at most MAX_POINTS ids, the last page up to the highest id at the start', () => {
    expect(MAX_POINTS).toBe(128);
    expect(rangePoints(10n, 13n, 100n)).toEqual([11n, 12n, 13n]);
    expect(rangePoints(10n, 10n + BigInt(MAX_POINTS), 1000n)).toHaveLength(MAX_POINTS);
    expect(rangePoints(10n, 11n + BigInt(MAX_POINTS), 1000n)).toBeUndefined();
    expect(rangePoints(98n, null, 100n)).toEqual([99n, 100n]);
    expect(rangePoints(9007199254740989n, 9007199254740991n, null)).toEqual([9007199254740990n, 9007199254740991n]);
    // Past 2^53 - 1 none: a text key compares with them as a double, where 2^53 and 2^53 + 1 are one.
    expect(rangePoints(9007199254740990n, 9007199254740992n, null)).toBeUndefined();
    // No start (the first page: its ids are read), no end, or nothing left.
    expect(rangePoints(null, 5n, 100n)).toBeUndefined();
    expect(rangePoints(100n, null, null)).toBeUndefined();
    expect(rangePoints(100n, null, 100n)).toBeUndefined();
  });

  it('holdsIntegerIds: integer types, DECIMAL without decimals and text hold ids; anything else does not (db/inspector.ts)', () => {
    const type = (dataType: string, numericScale: number | null = null) => ({ dataType, numericScale });
    for (const held of [type('int', 0), type('bigint', 0), type('tinyint', 0), type('decimal', 0), type('numeric', 0), type('varchar'), type('char'), type('text')]) {
      expect(holdsIntegerIds(held), held.dataType).toBe(true);
    }
    for (const refused of [type('decimal', 1), type('double'), type('float'), type('datetime'), type('varbinary'), type('binary'), type('blob'), type('enum'), type('year', 0), type('bit')]) {
      expect(holdsIntegerIds(refused), `${refused.dataType} ${refused.numericScale}`).toBe(false);
    }
  });

  it('matchKeys finds each key among the ids, in any order, -1 for an orphan', () => {
    expect([...matchKeys(['2', '10', '11'], ['1', '10', '11', '12'])]).toEqual([-1, 1, 2, -1]);
    expect([...matchKeys(['10', '2'], ['2', '3', '10'])]).toEqual([1, -1, 0]);
  });
});

describe('toBigInt: an integer as the server writes one', () => {
  it('takes digits with a sign for a negative; refuses leading zeros, spaces, decimals and words with a DatabaseError (exit 3)', async () => {
    const { toBigInt } = await import('../../src/db/rows.js');
    const { DatabaseError } = await import('../../src/errors.js');
    expect([toBigInt('10'), toBigInt('0'), toBigInt('-3'), toBigInt('18446744073709551615'), toBigInt(7), toBigInt(5n)]).toEqual([10n, 0n, -3n, 18446744073709551615n, 7n, 5n]);
    for (const bad of ['010', '10.0', ' 10', '10 ', 'x', '', '+5', '--1', '-0', 5.5]) expect(() => toBigInt(bad), String(bad)).toThrow(DatabaseError);
    expect(() => toBigInt(null)).toThrow(TypeError);
  });
});

describe("a counter's where is one expression (config-schema expressionProblem)", () => {
  it('pairs parentheses outside quotes, doubled and backslashed quotes included', async () => {
    const { expressionProblem } = await import('../../src/core/config-schema.js');
    for (const ok of ["status <> 'REVOKED'", "(a = 1 OR b = ')') AND c IN (1, 2)", "note = 'it''s (here'", 'note = "a\\"("', '`we(ird` IS NULL', "x = 'a\\\\'"]) {
      expect(expressionProblem(ok), ok).toBeNull();
    }
    expect(expressionProblem("status <> 'REVOKED' /* don't count (revoked */")).toBeNull();
    expect(expressionProblem('a - -1 = 0 AND b--1 = 2')).toBeNull();
    expect(expressionProblem('1=1) OR (1=1')).toMatch(/closes a parenthesis/);
    // Comments hide nothing from it: what the server skips, it skips.
    expect(expressionProblem('/* ( */ 1=1) OR (1=1 /* ) */')).toMatch(/closes a parenthesis/);
    expect(expressionProblem("1=1 /* ' */) OR (/* ' */ 1=1")).toMatch(/closes a parenthesis/);
    expect(expressionProblem('1=1 #(\n) OR (1=1')).toMatch(/-- or # comment/);
    expect(expressionProblem('1=1 -- (\n) OR (1=1')).toMatch(/-- or # comment/);
    // A trial's: the server starts a -- comment before a control character too.
    expect(expressionProblem("status <> 'REVOKED' --\u0001'\n) OR (1=1 --\u0001'\n AND 1=1")).toMatch(/-- or # comment/);
    expect(expressionProblem('1=1 /*! ) OR ( */')).toMatch(/\/\*! comment/);
    expect(expressionProblem('1=1 /* open')).toBe('a /* comment is not closed');
    expect(expressionProblem('(a = 1')).toBe('a "(" is not closed');
    expect(expressionProblem("status <> 'REVOKED")).toBe("a ' quote is not closed");
  });
});
