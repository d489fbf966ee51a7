import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditScope, DEFAULT_MODEL, type AuditScope, type CounterModel, type DeletedPolicy } from '../src/core/model.js';
import { resolveConnectionConfig } from '../src/db/connection-config.js';
import { Database, type Row } from '../src/db/database.js';
import { type BranchForm, childBranches, sessionSql } from '../src/db/builder.js';
import { compareInSnapshot, comparePackedPage, comparePage, type PageResult } from '../src/db/scanner.js';
import { detectDrift } from '../src/core/detect-drift.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

/**
 * The packed page (db/builder.ts packedPageSql, read by db/scanner.ts comparePackedPage) against
 * the stacked statement it stands in for (comparePageSql), on the same data on the real server:
 * both must find the same drifted settings with the same values, the same orphans and the same
 * number of settings, on every kind of page: NULL caches, negative ones, orphans inside and past
 * the settings, DELETED settings under each policy, a shared child table with filters, ids past
 * 2^53 (the text path), and a packed value cut at group_concat_max_len (the stacked fallback).
 */

let db: TestDatabase;
let database: Database;

const revokeAware: CounterModel = {
  ...DEFAULT_MODEL,
  counters: [
    { name: 'issuedCount', table: 'g_coupons', foreignKey: 'settingId', where: "status <> 'REVOKED'" },
    { name: 'usedCount', table: 'g_coupon_uses', foreignKey: 'settingId', where: null },
  ],
};
const shared: CounterModel = {
  ...DEFAULT_MODEL,
  counters: [
    { name: 'issuedCount', table: 'g_coupons', foreignKey: 'settingId', where: "status <> 'REVOKED'" },
    { name: 'usedCount', table: 'g_coupons', foreignKey: 'settingId', where: "status = 'USED'" },
  ],
};

beforeAll(async () => {
  db = await createTestDatabase('packed');
  // 60 settings with 0-5 codes and 0-3 uses each, their caches right, then every kind of wrong.
  const settings: string[] = [];
  const codes: string[] = [];
  const uses: string[] = [];
  for (let id = 1; id <= 60; id++) {
    const n = id % 6;
    const used = Math.min(n, id % 4);
    const status = id % 13 === 0 ? 'DELETED' : 'ACTIVE';
    settings.push(`(${id}, '${status}', ${n}, ${used})`);
    for (let k = 0; k < n; k++) codes.push(`(${id}, 'c${id}-${k}', '${k === 0 && id % 5 === 0 ? 'REVOKED' : k < used ? 'USED' : 'ISSUED'}')`);
    for (let k = 0; k < used; k++) uses.push(`(${id})`);
  }
  await db.query(`INSERT INTO g_coupon_settings (id, status, issuedCount, usedCount) VALUES ${settings.join(', ')}`);
  await db.query(`INSERT INTO g_coupons (settingId, code, status) VALUES ${codes.join(', ')}`);
  await db.query(`INSERT INTO g_coupon_uses (settingId) VALUES ${uses.join(', ')}`);
  await db.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 2 WHERE id IN (7, 31)');
  await db.query('UPDATE g_coupon_settings SET usedCount = NULL WHERE id = 12');
  await db.query('UPDATE g_coupon_settings SET issuedCount = -1 WHERE id = 44');
  await db.query('DELETE FROM g_coupon_settings WHERE id IN (20, 21)'); // their codes and uses become orphans
  // Orphans past the last setting and between pages, and a setting past 2^53 with its codes.
  await db.query("INSERT INTO g_coupons (settingId, code) VALUES (75, 'o1'), (75, 'o2'), (90, 'o3')");
  await db.query("INSERT INTO g_coupon_settings (id, status, issuedCount, usedCount) VALUES (9007199254740993, 'ACTIVE', 3, 0), (9007199254740995, 'ACTIVE', 1, 0)");
  await db.query("INSERT INTO g_coupons (settingId, code) VALUES (9007199254740993, 'b1'), (9007199254740993, 'b2'), (9007199254740995, 'b3'), (9007199254740994, 'b4')");
  database = await Database.connect(resolveConnectionConfig({ url: db.url, env: {} }), { poolSize: 2 });
}, 60_000);

afterAll(async () => {
  await database?.close();
  await db?.drop();
});

async function packed(
  scope: AuditScope,
  range: { after: bigint | null; upTo: bigint | null; points?: readonly bigint[] },
  options: { maxBytes?: number; forms?: readonly BranchForm[]; beforeMore?: () => Promise<void> } = {},
): Promise<PageResult> {
  const session = await database.session('test');
  try {
    return await comparePackedPage(session, scope, { kind: 'range', ...range }, options);
  } finally {
    session.release();
  }
}

/** A key per child row (builder.ts BranchForm) for every branch that may have it: those of one counter. */
const rowsWherePossible = (scope: AuditScope): BranchForm[] => childBranches(scope).map((branch) => (branch.counters.length === 1 ? 'rows' : 'grouped'));

/** What a page result says, in a form toEqual compares (found is the stacked statement's own). */
function verdict(result: PageResult) {
  return {
    scanned: result.scanned,
    orphans: result.orphans.map(String),
    drifted: result.drifted.map((setting) => ({
      id: String(setting.id),
      status: setting.status,
      counters: Object.fromEntries(Object.entries(setting.counters).map(([name, state]) => [name, [String(state.cached), String(state.actual), String(state.expected)]])),
    })),
  };
}

/**
 * The tool's pool, watched: `query` sees each statement sent by Database.query with its rows (and
 * may hold them back), `session` each statement sent on a session of it.
 */
function watched(target: Database, hooks: { query?: (sql: string, rows: Row[]) => Promise<void> | void; session?: (sql: string) => Promise<void> | void }): Database {
  return new Proxy(target, {
    get(_target, key) {
      if (key === 'query' && hooks.query !== undefined) {
        return async (sql: string, context: string) => {
          const rows = await target.query(sql, context);
          await hooks.query!(sql, rows);
          return rows;
        };
      }
      if (key === 'session' && hooks.session !== undefined) {
        return async (context: string) => {
          const session = await target.session(context);
          const query = session.query.bind(session);
          session.query = (async (sql: string, options?: never) => {
            await hooks.session!(sql);
            return query(sql, options);
          }) as typeof session.query;
          return session;
        };
      }
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A counter over a table whose key is text (VARCHAR) holding `keys`, for `run`; the table is dropped after. */
async function withTextKeys(keys: readonly string[], run: (scope: AuditScope) => Promise<void>): Promise<void> {
  await db.query('CREATE TABLE g_text_keyed (id BIGINT AUTO_INCREMENT PRIMARY KEY, settingRef VARCHAR(20) NOT NULL, KEY (settingRef))');
  try {
    await db.query(`INSERT INTO g_text_keyed (settingRef) VALUES ${keys.map((key) => `('${key}')`).join(', ')}`);
    await run(auditScope({ ...DEFAULT_MODEL, counters: [{ name: 'issuedCount', table: 'g_text_keyed', foreignKey: 'settingRef', where: null }] }));
  } finally {
    await db.query('DROP TABLE g_text_keyed');
  }
}

const ranges: { after: bigint | null; upTo: bigint | null }[] = [
  { after: null, upTo: 25n },
  { after: 25n, upTo: 50n },
  { after: 50n, upTo: null },
  { after: null, upTo: null },
  { after: 19n, upTo: 22n },
];

/**
 * Points for the points form (builder.ts BranchForm) in each range: every id, or a few (so that
 * settings, orphans and ids past 2^53 fall between them, below the first and above the last), some
 * of them no setting's (20 and 21 were deleted; 75 holds orphans; 9007199254740994 one orphan).
 */
const pointSets = new Map<(typeof ranges)[number], bigint[][]>([
  [ranges[0]!, [ids(1, 25), [3n, 10n, 20n, 25n]]],
  [ranges[1]!, [ids(26, 50), [30n, 49n]]],
  [ranges[2]!, [[...ids(51, 60), 75n, 9007199254740993n, 9007199254740994n], [60n]]],
  [ranges[3]!, [ids(1, 60), [44n]]],
  [ranges[4]!, [ids(20, 22), [21n]]],
]);

function ids(from: number, to: number): bigint[] {
  return Array.from({ length: to - from + 1 }, (_, i) => BigInt(from + i));
}

describe('the packed page finds what the stacked statement finds', () => {
  for (const [label, model] of [
    ['built-in model', DEFAULT_MODEL],
    ['a filtered counter', revokeAware],
    ['two counters on one child table', shared],
  ] as const) {
    for (const deleted of ['count', 'zero', 'skip'] as DeletedPolicy[]) {
      it(`${label}, --deleted ${deleted}`, async () => {
        const scope = auditScope(model, { deleted });
        for (const range of ranges) {
          const expected = verdict(await comparePage(database, scope, { kind: 'range', ...range }, { onlyDrifted: true }));
          expect(verdict(await packed(scope, range))).toEqual(expected);
          // A key per child row, counted in Node: in id order, or (ids past 2^53, a table scan) by the text way.
          expect(verdict(await packed(scope, range, { forms: rowsWherePossible(scope) }))).toEqual(expected);
          // Counted a point at a time, the rest of the range in one read: whatever the points, the same.
          for (const points of pointSets.get(range)!) {
            expect(verdict(await packed(scope, { ...range, points }, { forms: childBranches(scope).map(() => 'points') }))).toEqual(expected);
          }
        }
      });
    }
  }

  it('a list of ids (--ids, the final reread) too, with the ids that exist', async () => {
    const ids = [1n, 7n, 12n, 20n, 26n, 39n, 44n, 59n, 61n, 9007199254740993n, 9007199254740994n];
    for (const deleted of ['count', 'zero', 'skip'] as DeletedPolicy[]) {
      const scope = auditScope(revokeAware, { deleted });
      const stacked = await comparePage(database, scope, { kind: 'ids', ids }, { onlyDrifted: false });
      const session = await database.session('test');
      try {
        const result = await comparePackedPage(session, scope, { kind: 'ids', ids });
        expect(verdict(result)).toEqual(verdict(stacked));
        expect(result.drifted.length).toBeGreaterThan(0);
        expect(result.found.map(String).sort()).toEqual(stacked.found.map(String).sort());
        // The DELETED ones --deleted skip left out (check warns about them by id).
        expect((result.skipped ?? []).map(String).sort()).toEqual((stacked.skipped ?? []).map(String).sort());
        if (deleted === 'skip') expect(result.skipped!.length).toBeGreaterThan(0);
        else expect(result.skipped ?? []).toEqual([]);
      } finally {
        session.release();
      }
    }
  });

  it('sees the kinds of drift the data holds (so the comparison above compares something)', async () => {
    const result = verdict(await packed(auditScope(DEFAULT_MODEL), { after: null, upTo: null }));
    expect(result.drifted.map((setting) => setting.id)).toEqual(['7', '12', '31', '44', '9007199254740993']);
    expect(result.drifted.find((setting) => setting.id === '12')!.counters['usedCount']).toEqual(['null', '0', '0']);
    // Settings 20 and 21 (deleted) had 2 + 3 codes and 0 + 1 uses; 3 codes past the last small setting, 1 between the big ones.
    expect(result.orphans).toEqual(['9', '1']);
    expect(result.scanned).toBe(60);
  });

  it('a packed value cut at group_concat_max_len falls back to the stacked statement, same answer', async () => {
    const scope = auditScope(revokeAware, { deleted: 'zero' });
    const expected = verdict(await comparePage(database, scope, { kind: 'range', after: null, upTo: null }, { onlyDrifted: true }));
    // 4 bytes holds one id at most: every branch with more than one record is cut.
    expect(verdict(await packed(scope, { after: null, upTo: null }, { maxBytes: 4 }))).toEqual(expected);
    // Read a point at a time, the same.
    const points = { after: null, upTo: null, points: ids(1, 60) };
    expect(verdict(await packed(scope, points, { maxBytes: 4, forms: childBranches(scope).map(() => 'points') }))).toEqual(expected);
    expect(expected.drifted.length).toBeGreaterThan(0);
  });

  it('a key per child row cut at group_concat_max_len: the page is read again grouped, in its snapshot, then stacked if that is cut too', async () => {
    const scope = auditScope(revokeAware, { deleted: 'count' });
    const forms = rowsWherePossible(scope);
    expect(forms).toEqual(['rows', 'rows']);
    /** The page's statements, by kind, and its turns taken again ('turn': beforeMore), in order; its result must be the stacked statement's. */
    const statements = async (range: { after: bigint; upTo: bigint }, maxBytes: number): Promise<string[]> => {
      const expected = verdict(await comparePage(database, scope, { kind: 'range', ...range }, { onlyDrifted: true }));
      const seen: string[] = [];
      const session = await database.session('test');
      const query = session.query.bind(session);
      session.query = ((sql: string, options?: never) => {
        if (sql.includes("GROUP_CONCAT(`settingId` SEPARATOR")) seen.push('rows');
        else if (sql.includes("GROUP_CONCAT(CONCAT_WS(' ', x.k")) seen.push('grouped');
        else if (sql.includes('WITH ROLLUP')) seen.push('stacked');
        return query(sql, options);
      }) as typeof session.query;
      try {
        const beforeMore = async (): Promise<void> => void seen.push('turn');
        expect(verdict(await comparePackedPage(session, scope, { kind: 'range', ...range }, { maxBytes, forms, beforeMore }))).toEqual(expected);
      } finally {
        session.release();
      }
      return seen;
    };
    // Setting 5: '5 5 1' (5 bytes); its 4 codes that count: '5,5,5,5' (7) as rows, '5 4' (3) grouped.
    const five = { after: 4n, upTo: 5n };
    expect((await comparePage(database, scope, { kind: 'range', ...five }, { onlyDrifted: true })).drifted.map((setting) => setting.id)).toEqual([5n]);
    // (Its one candidate is a tenth of the page or more: its reads take a turn too.)
    expect(await statements(five, 8)).toEqual(['rows', 'turn']);
    expect(await statements(five, 7)).toEqual(['rows', 'turn', 'grouped', 'turn']);
    // The settings' value is cut too: so would the grouped page be; the stacked statement at once.
    expect(await statements(five, 4)).toEqual(['rows', 'turn', 'stacked']);
    // Only orphans, a code or two each: '75,75,90' (8 bytes) as rows, '75 2,90 1' (9) grouped.
    const orphans = { after: 60n, upTo: 100n };
    expect(verdict(await comparePage(database, scope, { kind: 'range', ...orphans }, { onlyDrifted: true })).orphans).toEqual(['3', '0']);
    expect(await statements(orphans, 8)).toEqual(['rows', 'turn', 'grouped', 'turn', 'stacked']);
  });

  it("a text key column: '05' is not setting 5, in either form, as the stacked statement groups it", async () => {
    await withTextKeys(['5', '05', '5', '6'], async (scope) => {
      const range = { after: 4n, upTo: 6n };
      const expected = verdict(await comparePage(database, scope, { kind: 'range', ...range }, { onlyDrifted: true }));
      // Setting 5 caches 5 and has two '5' rows; setting 6 caches 0 and has one; '05' is an orphan.
      expect(expected.drifted.map((setting) => [setting.id, setting.counters['issuedCount']![1]])).toEqual([
        ['5', '2'],
        ['6', '1'],
      ]);
      expect(expected.orphans).toEqual(['1']);
      expect(verdict(await packed(scope, range))).toEqual(expected);
      expect(verdict(await packed(scope, range, { forms: ['rows'] }))).toEqual(expected);
      // `settingRef = 5` compares as numbers, as the range does: '05' and '5', apart.
      expect(verdict(await packed(scope, { ...range, points: [5n, 6n] }, { forms: ['points'] }))).toEqual(expected);
    });
  });

  it("a key between two consecutive points (a text key '5.5') is counted with the rest of the range, as the grouped page counts it", async () => {
    await withTextKeys(['5', '5.5', '5.5', '6', '4.5', '6.5'], async (scope) => {
      const range = { after: 4n, upTo: 6n };
      // The grouped page matches such keys by their text, as the stacked statement groups them.
      const expected = verdict(await packed(scope, range));
      // '5' is setting 5's, '6' setting 6's; '4.5' and '5.5' (twice) are orphans; '6.5' is past the range.
      expect(expected.drifted.map((setting) => [setting.id, setting.counters['issuedCount']![1]])).toEqual([
        ['5', '1'],
        ['6', '1'],
      ]);
      expect(expected.orphans).toEqual(['3']);
      expect(verdict(await packed(scope, { ...range, points: [5n, 6n] }, { forms: ['points'] }))).toEqual(expected);
      expect(verdict(await packed(scope, { ...range, points: [6n] }, { forms: ['points'] }))).toEqual(expected);
      // The stacked statement (a cut page, or an unindexed scan) reads an orphan group's key as no id.
      expect(verdict(await comparePage(database, scope, { kind: 'range', ...range }, { onlyDrifted: true }))).toEqual(expected);
      expect(verdict(await comparePage(database, scope, { kind: 'range', ...range }, { onlyDrifted: false }))).toEqual(expected);
    });
  });

  it('the page read again grouped is read in the same snapshot, in a turn of its own (beforeMore)', async () => {
    const scope = auditScope(revokeAware, { deleted: 'count' });
    const range = { after: 4n, upTo: 5n };
    let more = 0;
    const session = await database.session('test');
    try {
      // Before the second read, another session sets setting 5 right (4 codes count, cached 5).
      const result = await comparePackedPage(session, scope, { kind: 'range', ...range }, {
        maxBytes: 7,
        forms: rowsWherePossible(scope),
        beforeMore: async () => {
          more += 1;
          if (more === 1) await db.query('UPDATE g_coupon_settings SET issuedCount = 4 WHERE id = 5');
        },
      });
      // Read in the page's snapshot: still drifted, cached 5.
      expect(verdict(result).drifted).toEqual([{ id: '5', status: 'ACTIVE', counters: { issuedCount: ['5', '4', '4'], usedCount: ['1', '1', '1'] } }]);
      expect(more).toBeGreaterThanOrEqual(1);
      // A new snapshot sees the write.
      expect(verdict(await comparePage(database, scope, { kind: 'range', ...range }, { onlyDrifted: true })).drifted).toEqual([]);
    } finally {
      session.release();
      await db.query('UPDATE g_coupon_settings SET issuedCount = 5 WHERE id = 5');
    }
  });

  it("every read of a page, the candidates' second read too, is of the caller's snapshot", async () => {
    const scope = auditScope(DEFAULT_MODEL);
    const session = await database.session('test');
    try {
      await session.query(sessionSql.packedMaxBytes(4 * 1024 * 1024));
      await session.query(sessionSql.repeatableReadNext);
      await session.query(sessionSql.beginSnapshot);
      // Committed after the snapshot: 7 set right, 8 set wrong, a code added to 31 with its cache.
      await db.query('UPDATE g_coupon_settings SET issuedCount = issuedCount - 2 WHERE id = 7');
      await db.query('UPDATE g_coupon_settings SET usedCount = usedCount + 5 WHERE id = 8');
      await db.query("INSERT INTO g_coupons (settingId, code) VALUES (31, 'late')");
      await db.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 1 WHERE id = 31');
      const seen = verdict(await compareInSnapshot(session, scope, { kind: 'range', after: null, upTo: 40n }));
      await session.query(sessionSql.commit);
      expect(seen.drifted.map((setting) => setting.id)).toEqual(['7', '12', '31']);
      expect(seen.drifted.find((setting) => setting.id === '31')!.counters['issuedCount']).toEqual(['3', '1', '1']);
      // A new snapshot sees the writes.
      const now = verdict(await comparePage(database, scope, { kind: 'range', after: null, upTo: 40n }, { onlyDrifted: true }));
      expect(now.drifted.map((setting) => setting.id)).toEqual(['8', '12', '31']);
    } finally {
      session.release();
      await db.query("DELETE FROM g_coupons WHERE code = 'late'");
      await db.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 2 WHERE id = 7');
      await db.query('UPDATE g_coupon_settings SET usedCount = usedCount - 5 WHERE id = 8');
      await db.query('UPDATE g_coupon_settings SET issuedCount = issuedCount - 1 WHERE id = 31');
    }
  });
});

describe('paging (core/detect-drift.ts): pages end by id arithmetic while ids are dense, by a boundary read where they are not', () => {
  it.each([1, 2, 3, 7, 50])('page size %i: the drift, orphans and count of one stacked statement, and a boundary read only where ids are sparse', async (pageSize) => {
    const scope = auditScope(DEFAULT_MODEL);
    const expected = verdict(await comparePage(database, scope, { kind: 'range', after: null, upTo: null }, { onlyDrifted: true }));
    let reads = 0;
    let pages = 0;
    let rowsForm = 0;
    // The tool's pool, counting the boundary reads (the only statements with OFFSET) and the pages
    // that sent a key per code (builder.ts BranchForm 'rows').
    const counting = watched(database, {
      query: (sql) => void (sql.includes(' OFFSET ') && (reads += 1)),
      session: (sql) => void (sql.includes('GROUP_CONCAT(`settingId` SEPARATOR') && sql.includes('FROM `g_coupons`') && (rowsForm += 1)),
    });
    const report = await detectDrift(counting, { scope, pageSize, concurrency: 2, onStatement: () => (pages += 1) });
    expect(report.drifted.map((setting) => String(setting.id))).toEqual(expected.drifted.map((setting) => setting.id));
    expect(report.orphans!.map((orphan) => String(orphan.rows))).toEqual(expected.orphans);
    expect(report.scanned).toBe(60);
    // Ids 1-60 are dense: after the first pages they end by arithmetic. The gap up to 2^53 is read.
    // Read too: the ends of the pages prepared before a page's rows were in (concurrency + 1 of
    // them, detect-drift.ts TaskPool), whose density is not known yet. A boundary read per page
    // makes up to 62.
    expect(reads).toBeLessThanOrEqual(10);
    if (pageSize <= 3) expect(pages).toBeGreaterThan(60 / pageSize - 5);
    // The first pages are grouped (those read before any page's rows were in); once one shows at
    // most 3 codes per setting that has any, a key per code. At 50 a page, both pages are of the first.
    if (pageSize <= 7) expect(rowsForm).toBeGreaterThan(0);
    expect(rowsForm).toBeLessThan(pages);
  });
  it('counts the first page a setting at a time, and the pages after it while their settings have POINTS_FORM_MIN_PER_GROUP children or more', async () => {
    // Settings 1-8 have 1,600 codes each (the odd ones a use too), 9-16 one code each; setting 3
    // caches one code too few, 9 one too many; 7 orphan codes under 20, past the last setting.
    await db.query('CREATE TABLE h_settings (id BIGINT PRIMARY KEY, status VARCHAR(20), issuedCount INT, usedCount INT)');
    await db.query('CREATE TABLE h_codes (id BIGINT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT NOT NULL, KEY (settingId))');
    await db.query('CREATE TABLE h_uses (id BIGINT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT, KEY (settingId))');
    try {
      const heavy = (id: bigint): boolean => id <= 8n;
      const settings = ids(1, 16).map((id) => `(${id}, 'ACTIVE', ${(heavy(id) ? 1600 : 1) + (id === 3n ? -1 : id === 9n ? 1 : 0)}, ${heavy(id) && id % 2n === 1n ? 1 : 0})`);
      await db.query(`INSERT INTO h_settings VALUES ${settings.join(', ')}`);
      const codes = [...ids(1, 16).flatMap((id) => Array.from({ length: heavy(id) ? 1600 : 1 }, () => id)), ...Array.from({ length: 7 }, () => 20n)];
      await db.query(`INSERT INTO h_codes (settingId) VALUES ${codes.map((id) => `(${id})`).join(', ')}`);
      await db.query('INSERT INTO h_uses (settingId) VALUES (1), (3), (5), (7)');
      const model: CounterModel = {
        ...DEFAULT_MODEL,
        settings: { ...DEFAULT_MODEL.settings, table: 'h_settings' },
        counters: [
          { name: 'issuedCount', table: 'h_codes', foreignKey: 'settingId', where: null },
          { name: 'usedCount', table: 'h_uses', foreignKey: 'settingId', where: null },
        ],
      };
      const scope = auditScope(model);
      const expected = verdict(await comparePage(database, scope, { kind: 'range', after: null, upTo: null }, { onlyDrifted: true }));
      /** Each page's start, and which of its branches were read a point at a time. */
      const pages: [number, string][] = [];
      const watching = watched(database, {
        session: (sql) => {
          if (!sql.includes('SELECT 0 AS b')) return;
          const points = ['h_codes', 'h_uses'].filter((table) => sql.includes(`FROM \`${table}\` WHERE \`settingId\` = `));
          pages.push([Number(/s\.`id` > (\d+)/.exec(sql)?.[1] ?? 0), points.join(' ')]);
        },
      });
      const report = await detectDrift(watching, { scope, pageSize: 2, concurrency: 1 });
      expect(verdict({ ...report, orphans: report.orphans!.map((orphan) => orphan.rows), found: [] })).toEqual(expected);
      expect(expected.drifted.map((setting) => setting.id)).toEqual(['3', '9']);
      expect(expected.orphans).toEqual(['7', '0']);
      // The first two pages (the second prepared before the first's rows were in) are read a point
      // at a time; then the codes while the last page read had 1,600 a setting, the uses never
      // again (one or none a setting). The forms of the pages from 10-11 on follow whichever page
      // ended last before they were prepared: a page of 1,600 codes a setting can end after the
      // light page prepared behind it, and on a loaded machine after two of them (timing), so
      // only their uses are checked.
      pages.sort((a, b) => a[0] - b[0]);
      expect(pages.filter(([start]) => start <= 8)).toEqual([
        [0, 'h_codes h_uses'],
        [2, 'h_codes h_uses'],
        [4, 'h_codes'],
        [6, 'h_codes'],
        [8, 'h_codes'],
      ]);
      const later = pages.filter(([start]) => start > 8);
      expect(later.map(([start]) => start)).toEqual([10, 12, 14]);
      expect(later.every(([, form]) => form === '' || form === 'h_codes')).toBe(true);
    } finally {
      await db.query('DROP TABLE h_settings, h_codes, h_uses');
    }
  });

  it('the last page read a setting at a time counts what lies above the highest id at the start: settings and orphans added during the scan', async () => {
    // Settings 1-10 with 1,600 codes each, setting 4 caching one too many; once the scan has read
    // `last` (10), before any page reads, setting 11 is added (3 codes, caching 2) with 2 orphan
    // codes under 12. Every page's statement waits for that: the last page could otherwise begin
    // its read before the insert (pages 2 and 3 ending while the first waited), and miss it.
    await db.query('CREATE TABLE h_settings (id BIGINT PRIMARY KEY, status VARCHAR(20), issuedCount INT, usedCount INT)');
    await db.query('CREATE TABLE h_codes (id BIGINT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT NOT NULL, KEY (settingId))');
    try {
      await db.query(`INSERT INTO h_settings VALUES ${ids(1, 10).map((id) => `(${id}, 'ACTIVE', ${id === 4n ? 1601 : 1600}, 0)`).join(', ')}`);
      await db.query(`INSERT INTO h_codes (settingId) VALUES ${ids(1, 10).flatMap((id) => Array.from({ length: 1600 }, () => `(${id})`)).join(', ')}`);
      const model: CounterModel = {
        ...DEFAULT_MODEL,
        settings: { ...DEFAULT_MODEL.settings, table: 'h_settings' },
        counters: [{ name: 'issuedCount', table: 'h_codes', foreignKey: 'settingId', where: null }],
      };
      const scope = auditScope(model);
      const pages: string[] = [];
      let added: Promise<void> | null = null;
      const watching = watched(database, {
        session: async (sql) => {
          if (!sql.includes('SELECT 0 AS b')) return;
          pages.push(sql);
          added ??= (async () => {
            await db.query("INSERT INTO h_settings VALUES (11, 'ACTIVE', 2, 0)");
            await db.query('INSERT INTO h_codes (settingId) VALUES (11), (11), (11), (12), (12)');
          })();
          await added;
        },
      });
      const report = await detectDrift(watching, { scope, pageSize: 3, concurrency: 2 });
      const expected = verdict(await comparePage(database, scope, { kind: 'range', after: null, upTo: null }, { onlyDrifted: true }));
      expect(expected.drifted.map((setting) => setting.id)).toEqual(['4', '11']);
      expect(expected.orphans).toEqual(['2']);
      expect(verdict({ ...report, orphans: report.orphans!.map((orphan) => orphan.rows), found: [] })).toEqual(expected);
      // The last page, (9, +∞), read setting 10 by its point and the rest above it in one read.
      // The last page, (9, +∞), read setting 10 by its point and the rest above it in one read: above
      // `last` (10) when its end came by arithmetic, above 11 (added) when its ids were read.
      const lastPage = pages.find((sql) => /s\.`id` > 9 UNION ALL/.test(sql))!;
      expect(lastPage).toContain('WHERE `settingId` = 10 GROUP BY');
      expect(lastPage).toMatch(/WHERE \(\(`settingId` > 9 AND `settingId` < 10\) OR (\(`settingId` > 10\)|\(`settingId` > 10 AND `settingId` < 11\) OR \(`settingId` > 11\))\) GROUP BY/);
    } finally {
      await db.query('DROP TABLE h_settings, h_codes');
    }
  });

  it("a page whose ids were read ends at the last of them, though pages that ended meanwhile resized the next (a read's size is taken once)", async () => {
    const scope = auditScope(DEFAULT_MODEL);
    const expected = verdict(await comparePage(database, scope, { kind: 'range', after: null, upTo: null }, { onlyDrifted: true }));
    /** Each read of a page's ids: where it starts, how many it asked for, how many came. */
    const reads = new Map<string, { asked: number; got: number }>();
    const pages: string[] = [];
    const slow = watched(database, {
      query: async (sql, rows) => {
        const read = /WHERE `id` > (\d+) ORDER BY `id` LIMIT (\d+)$|FROM `g_coupon_settings` ORDER BY `id` LIMIT (\d+)$/.exec(sql);
        if (read === null) return;
        // Held back: the page before ends meanwhile, and the sizer sizes the next one anew.
        await new Promise((resolve) => setTimeout(resolve, 60));
        reads.set(read[1] ?? '', { asked: Number(read[2] ?? read[3]), got: rows.length });
      },
      session: (sql) => void (sql.includes('SELECT 0 AS b') && pages.push(/FROM `g_coupon_settings` s( WHERE [^U]*?)? UNION ALL/.exec(sql)![1] ?? '')),
    });
    const report = await detectDrift(slow, { scope, concurrency: 1, targetStatementMs: 1000 });
    expect(verdict({ ...report, orphans: report.orphans!.map((orphan) => orphan.rows), found: [] })).toEqual(expected);
    expect(reads.size).toBeGreaterThan(1);
    for (const [after, { asked, got }] of reads) {
      // A full read: the page ends at its last id. Fewer: the page is the last, open above.
      const page = pages.find((where) => (after === '' ? !where.includes('>') : where.includes(`s.\`id\` > ${after} `) || where.endsWith(`s.\`id\` > ${after}`)))!;
      expect(page.includes('<='), `the page after ${after || 'the start'} (${got} of ${asked} ids read): ${page}`).toBe(got === asked);
    }
  });

  it('keeps of each drifted setting what `keep` makes of it (a repair that shows no plan keeps the id), in id order across pages read at once', async () => {
    const scope = auditScope(DEFAULT_MODEL);
    const whole = await detectDrift(database, { scope, pageSize: 3, concurrency: 3 });
    const kept = await detectDrift(database, { scope, pageSize: 3, concurrency: 3, keep: (setting) => ({ id: setting.id }) });
    expect(whole.drifted.length).toBeGreaterThan(1);
    expect(kept.drifted).toEqual(whole.drifted.map((setting) => ({ id: setting.id })));
    expect({ ...kept, drifted: null }).toEqual({ ...whole, drifted: null });
  });
});

