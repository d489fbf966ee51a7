import { createServer } from 'node:net';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJson, runCli } from './helpers/cli.js';
import {
  createTestDatabase,
  insertChildren,
  NULL_CACHE_QUERY,
  seed,
  SEED_VERIFICATION_QUERY,
  type TestDatabase,
} from './helpers/database.js';

const BIG = 9007199254740993n; // 2^53 + 1: not representable as a double

/** One setting per kind of drift, plus clean ones, and orphans below, between and above the settings. */
const SETTINGS = [
  { id: 1, issuedCount: 2, usedCount: 1, coupons: 2, uses: 1 }, // clean
  { id: 2, issuedCount: 5, usedCount: 0, coupons: 1 }, // issued too high
  { id: 3, issuedCount: 0, usedCount: 0, coupons: 3 }, // issued too low
  { id: 4, issuedCount: 1, usedCount: null, coupons: 1, uses: 1 }, // NULL used cache
  { id: 5, issuedCount: null, usedCount: 0 }, // NULL issued cache, no children
  { id: 6, issuedCount: -2, usedCount: 0 }, // negative cache
  { id: 7, issuedCount: 3, usedCount: 2 }, // no children but non-zero
  { id: 8, status: 'DELETED', issuedCount: 4, usedCount: 1, coupons: 2, uses: 1 }, // deleted, stale
  { id: 10, issuedCount: 0, usedCount: 0 }, // clean, no children
  { id: 11, status: 'DELETED', issuedCount: 1, usedCount: 0, coupons: 1 }, // deleted, clean
  { id: BIG, issuedCount: 1, usedCount: 0, coupons: 2 }, // id past 2^53, issued too low
];
const DRIFTED = ['2', '3', '4', '5', '6', '7', '8', BIG.toString()];

let db: TestDatabase;
let clean: TestDatabase;

beforeAll(async () => {
  [db, clean] = await Promise.all([createTestDatabase('check'), createTestDatabase('check_clean')]);
  await seed(db.conn, SETTINGS);
  // Orphans: below the first id, between settings, above the last, and far above (2^63).
  await insertChildren(db.conn, [[0n, 'o1'], [9n, 'o2'], [12345n, 'o3'], [9223372036854775808n, 'o4']], [[9n], [99999n]]);
  await seed(clean.conn, [
    { id: 1, issuedCount: 2, usedCount: 1, coupons: 2, uses: 1 },
    { id: 2, issuedCount: 0, usedCount: 0 },
  ]);
});

afterAll(async () => {
  await Promise.all([db?.drop(), clean?.drop()]);
});

describe('check', () => {
  it('exits 0 and says so on a clean database', async () => {
    const result = await runCli(['check', '--url', clean.url]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('No drift: 2 settings scanned.');
  });

  it('takes the URL from DATABASE_URL', async () => {
    const result = await runCli(['check'], { env: { DATABASE_URL: clean.url } });
    expect(result.code).toBe(0);
  });

  it('finds every kind of drift and exits 1, with exact ids past 2^53', async () => {
    const result = await runCli(['check', '--url', db.url, '--format', 'json']);
    expect(result.code).toBe(1);
    const report = parseJson(result);
    expect(report.version).toBe(1);
    expect(report.summary).toMatchObject({ scanned: SETTINGS.length, drifted: DRIFTED.length });
    expect(report.drifted.map((s) => s.id)).toEqual(DRIFTED);
    const byId = new Map(report.drifted.map((s) => [s.id, s]));
    expect(byId.get('2')!.counters.issuedCount).toEqual({ cached: 5, actual: 1, expected: 1 });
    expect(byId.get('3')!.counters.issuedCount).toEqual({ cached: 0, actual: 3, expected: 3 });
    expect(byId.get('4')!.counters.usedCount).toEqual({ cached: null, actual: 1, expected: 1 });
    expect(byId.get('5')!.counters.issuedCount).toEqual({ cached: null, actual: 0, expected: 0 });
    expect(byId.get('6')!.counters.issuedCount).toEqual({ cached: -2, actual: 0, expected: 0 });
    expect(byId.get('7')!.counters).toEqual({
      issuedCount: { cached: 3, actual: 0, expected: 0 },
      usedCount: { cached: 2, actual: 0, expected: 0 },
    });
    expect(byId.get('8')).toMatchObject({ status: 'DELETED', counters: { issuedCount: { cached: 4, actual: 2 } } });
    expect(byId.get(BIG.toString())!.counters.issuedCount).toEqual({ cached: 1, actual: 2, expected: 2 });
    // The raw text too: the id is written as a string, never rounded through a double.
    expect(result.stdout).toContain('"9007199254740993"');
    expect(result.stdout).not.toContain('9007199254740992');
  });

  it('counts orphan child rows in the summary without reporting them as drift', async () => {
    const report = parseJson(await runCli(['check', '--url', db.url, '--format', 'json']));
    expect(report.summary.orphans).toEqual({ coupons: 4, uses: 2 });
    const table = await runCli(['check', '--url', db.url]);
    expect(table.stdout).toMatch(/^ {2}children with no setting +6 rows: 4 in g_coupons, 2 in g_coupon_uses$/m);
  });

  it.each([1, 2, 3, 7])('gives the same answer with pages of %i settings', async (size) => {
    const report = parseJson(await runCli(['check', '--url', db.url, '--format', 'json', '--page-size', String(size)]));
    expect(report.drifted.map((s) => s.id)).toEqual(DRIFTED);
    expect(report.summary).toMatchObject({ scanned: SETTINGS.length, orphans: { coupons: 4, uses: 2 } });
  });

  it("takes SPEC's common --batch-size as --page-size: pages of that many settings, the same answer", async () => {
    // Pages of one setting: at least one statement per setting, where the default sizing sends a few.
    const pages = (stderr: string) => new Set([...stderr.matchAll(/: compare (\([^\]]*\])/g)].map((m) => m[1])).size;
    const bySetting = await runCli(['check', '--url', db.url, '--format', 'json', '--batch-size', '1', '--verbose']);
    const sized = await runCli(['check', '--url', db.url, '--format', 'json', '--verbose']);
    expect(bySetting.code).toBe(1);
    expect(pages(bySetting.stderr)).toBeGreaterThanOrEqual(SETTINGS.length);
    expect(pages(sized.stderr)).toBeLessThan(SETTINGS.length / 2);
    expect(bySetting.stdout).toBe(sized.stdout);
    // Its range is --page-size's, not repair's --batch-size (1-1000); both together when they agree.
    const large = await runCli(['check', '--url', db.url, '--format', 'json', '--batch-size', '5000', '--page-size', '5000']);
    expect(large.code).toBe(1);
    expect(large.stdout).toBe(sized.stdout);
  });

  it('prints a table naming every drifted id and no clean one, and a summary line', async () => {
    const result = await runCli(['check', '--url', db.url]);
    expect(result.code).toBe(1);
    const ids = [...result.stdout.matchAll(/^│\s*(\d+) │/gm)].map((match) => match[1]);
    expect(ids).toEqual(DRIFTED);
    expect(result.stdout).toMatch(/issued │ +issued │ +issued │ +used │ +used │ +used │\n│ +│ +│ +cached │ +actual │ +Δ │ +cached │ +actual │ +Δ │/);
    expect(result.stdout).toContain(`${DRIFTED.length} of ${SETTINGS.length} settings drifted`);
    expect(result.stdout).not.toMatch(/\x1b\[/); // no colour on a pipe
  });

  it('restricts the check to --ids and warns about ids that name no setting', async () => {
    const result = await runCli(['check', '--url', db.url, '--format', 'json', '--ids', `1,6,${BIG},424242`]);
    expect(result.code).toBe(1);
    const report = parseJson(result);
    expect(report.drifted.map((s) => s.id)).toEqual(['6', BIG.toString()]);
    expect(report.summary).toMatchObject({ scanned: 3, drifted: 2, missingIds: ['424242'] });
    expect(result.stderr).toContain('setting 424242 (from --ids) does not exist');
    // With --quiet too: an id that names nothing is a line that needs a human.
    const quiet = await runCli(['check', '--url', db.url, '--quiet', '--ids', '424242']);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toBe('');
    expect(quiet.stderr).toContain('setting 424242 (from --ids) does not exist');
    const cleanOnly = await runCli(['check', '--url', db.url, '--ids', '1,10', '--ids', '11']);
    expect(cleanOnly.code).toBe(0);
    expect(cleanOnly.stdout).toContain('No drift: 3 settings scanned.');
  });

  it('matches the seed verification query row for row, plus the NULL caches it misses', async () => {
    const seedRows = await db.query<RowDataPacket[]>(SEED_VERIFICATION_QUERY);
    const nullRows = await db.query<RowDataPacket[]>(NULL_CACHE_QUERY);
    const report = parseJson(await runCli(['check', '--url', db.url, '--format', 'json']));
    const expectedIds = new Set([...seedRows, ...nullRows].map((row) => String(row['id'])));
    expect(new Set(report.drifted.map((s) => s.id))).toEqual(expectedIds);
    expect(nullRows.length).toBeGreaterThan(0);
    for (const row of seedRows) {
      const setting = report.drifted.find((s) => s.id === String(row['id']))!;
      expect(String(setting.counters.issuedCount!.cached)).toBe(String(row['issuedCount']));
      expect(String(setting.counters.issuedCount!.actual)).toBe(String(row['actual_issued']));
      expect(String(setting.counters.usedCount!.cached)).toBe(String(row['usedCount']));
      expect(String(setting.counters.usedCount!.actual)).toBe(String(row['actual_used']));
    }
  });

  it('prints SQL that, run by hand, finds the same settings', async () => {
    const result = await runCli(['sql']);
    expect(result.code).toBe(0);
    const statement = result.stdout.split('-- As one statement (run it by hand; returns the drifted settings):\n')[1]!.split(';')[0]!;
    const rows = await db.query<RowDataPacket[]>(statement);
    expect(rows.map((row) => String(row['id']))).toEqual(DRIFTED);
    // The page statement it prints, for the page of ids (0, 1000], finds those of that page.
    const page = result.stdout.split('would pass group_concat_max_len.\n')[1]!.split(';\n')[0]!;
    expect(page).toContain('s.`id` <= 1000 UNION ALL');
    const pageRows = await db.query<RowDataPacket[]>(page);
    expect(pageRows.filter((row) => row['id'] !== null && Number(row['known']) > 0).map((row) => String(row['id']))).toEqual(DRIFTED.filter((id) => BigInt(id) <= 1000n));
    // The packed statement check sends, as printed: run by hand, its settings row holds every
    // setting of the page, the one text value per branch that check parses.
    const packed = result.stdout.split('IN (…)).\n')[1]!.split(';\n')[0]!;
    expect(packed).toMatch(/^\/\* coupon-audit \*\/ SELECT 0 AS b, COUNT\(\*\) AS n, GROUP_CONCAT\(/);
    const [settingsRow] = await db.query<RowDataPacket[]>(packed);
    expect(Number(settingsRow!['n'])).toBe(SETTINGS.filter((s) => BigInt(s.id) <= 1000n).length);
  });

  it("sql takes check's --ids and --format json: statements for those settings only, that find their drift when run", async () => {
    const ids = [DRIFTED[0]!, DRIFTED[1]!, '1']; // two drifted, one clean
    const result = await runCli(['sql', '--ids', [...ids, '2'].join(','), '--format', 'json', '--batch-size', '50']);
    expect(result.code).toBe(0);
    const { version, statements } = JSON.parse(result.stdout) as { version: number; statements: { purpose: string; sql: string }[] };
    expect(version).toBe(1);
    // No orphan counts (a whole-table finding): the one statement, then the two page forms.
    expect(statements).toHaveLength(3);
    const drifted = await db.query<RowDataPacket[]>(statements[0]!.sql);
    expect(drifted.map((row) => String(row['id']))).toEqual([DRIFTED[0], DRIFTED[1]]);
    // Each id once, ascending, as check sends them.
    for (const statement of statements.slice(1)) expect(statement.sql).toContain('IN (1, 2, 3)');
    expect((await runCli(['sql', '--batch-size', '5', '--page-size', '6'])).code).toBe(2);
  });
});

describe('check: an account limited to fewer connections than the default scan uses', () => {
  it('reads fewer pages at once instead of failing (MAX_USER_CONNECTIONS 4: the same report as root)', async () => {
    const user = `ca_fewcon_${Math.random().toString(16).slice(2, 8)}`;
    await db.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'fewcon-pw' WITH MAX_USER_CONNECTIONS 4`);
    await db.query(`GRANT SELECT ON \`${db.name}\`.* TO '${user}'@'%'`);
    try {
      const url = new URL(db.url);
      url.username = user;
      url.password = 'fewcon-pw';
      // A page per setting: pages run four at once unless the limit says otherwise.
      const asRoot = await runCli(['check', '--url', db.url, '--page-size', '1', '--format', 'json']);
      const limited = await runCli(['check', '--url', url.toString(), '--page-size', '1', '--format', 'json']);
      expect(limited.stderr).toBe('');
      expect(limited.code).toBe(asRoot.code);
      expect(asRoot.code).toBe(1);
      expect(parseJson(limited)).toEqual(parseJson(asRoot));
    } finally {
      await db.query(`DROP USER IF EXISTS '${user}'@'%'`);
    }
  });
});

describe('check: database errors exit 3 with one clear sentence', () => {
  const noStack = (stderr: string) => {
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  };

  it('wrong password, never echoed', async () => {
    const url = new URL(db.url);
    url.password = 'Wr0ng-s3cret';
    const result = await runCli(['check', '--url', url.toString()]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('Access denied');
    expect(result.stderr + result.stdout).not.toContain('Wr0ng-s3cret');
    noStack(result.stderr);
  });

  it('closed port, within seconds', async () => {
    const port = await freePort();
    const started = Date.now();
    const result = await runCli(['check', '--url', `mysql://root@127.0.0.1:${port}/x`]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`Cannot connect to 127.0.0.1:${port}`);
    expect(Date.now() - started).toBeLessThan(10_000);
    noStack(result.stderr);
  });

  it('unknown database', async () => {
    const url = new URL(db.url);
    url.pathname = '/ca_no_such_database_here';
    const result = await runCli(['check', '--url', url.toString()]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain("Unknown database 'ca_no_such_database_here'");
    noStack(result.stderr);
  });

  it('missing table and missing column', async () => {
    const broken = await createTestDatabase('check_broken');
    try {
      await broken.query('DROP TABLE g_coupon_uses');
      await broken.query('ALTER TABLE g_coupon_settings DROP COLUMN usedCount');
      const result = await runCli(['check', '--url', broken.url]);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('table g_coupon_uses is missing');
      expect(result.stderr).toContain('table g_coupon_settings has no column usedCount');
      // What to do: another database, or a config for other tables.
      expect(result.stderr).toContain('Point --url at the coupon database, or describe your own tables with --config FILE (README "Counters by definition").');
      expect(result.stdout).toBe('');
      noStack(result.stderr);
    } finally {
      await broken.drop();
    }
  });

  it('a key column whose values are no integer ids (DECIMAL with decimals): exit 3, one sentence, not an internal error', async () => {
    const broken = await createTestDatabase('check_fractional');
    try {
      await broken.query('ALTER TABLE g_coupons MODIFY settingId DECIMAL(10, 1) NOT NULL');
      await broken.query("INSERT INTO g_coupon_settings (id, issuedCount, usedCount) VALUES (5, 1, 0)");
      await broken.query("INSERT INTO g_coupons (settingId, code) VALUES (4.5, 'a'), (5, 'b')");
      const result = await runCli(['check', '--url', broken.url]);
      expect(result.code, result.stderr).toBe(3);
      expect(result.stderr).toContain('g_coupons.settingId is decimal with 1 decimals: a key must be an integer column (or text holding integers)');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stdout).toBe('');
    } finally {
      await broken.drop();
    }
  });
});

describe('check: pages of signed ids and a DECIMAL(n,0) key', () => {
  // Ranges of an integer key are read as BETWEEN after+1 AND upTo (db/builder.ts scopeCondition):
  // exact only while every key is a whole number. Negative ids, a DECIMAL(20,0) key and orphans
  // on both sides of every page boundary, at page sizes that put a boundary between any two ids:
  // every child row is counted once, in its setting's page or as an orphan.
  it('counts every child row once whatever the page size', async () => {
    const signed = await createTestDatabase('check_signed');
    try {
      await signed.query('ALTER TABLE g_coupon_settings MODIFY id BIGINT NOT NULL');
      await signed.query('ALTER TABLE g_coupons MODIFY settingId DECIMAL(20, 0) NOT NULL');
      await signed.query('ALTER TABLE g_coupon_uses MODIFY settingId BIGINT NULL');
      await seed(signed.conn, [
        { id: -3, issuedCount: 2, usedCount: 0, coupons: 2 }, // clean
        { id: -2, issuedCount: 0, usedCount: 0, coupons: 1, uses: 1 }, // both too low
        { id: 0, issuedCount: 1, usedCount: 1, coupons: 1, uses: 1 }, // clean
        { id: 1, issuedCount: 5, usedCount: 0, coupons: 3 }, // issued too high
        { id: 4, issuedCount: 1, usedCount: 2, coupons: 1, uses: 2 }, // clean
      ]);
      // Orphans below the first id, between each pair of settings, and above the last.
      await insertChildren(signed.conn, [[-4, 'o-4'], [-1, 'o-1'], [2, 'o2'], [3, 'o3'], [5, 'o5']], [[-4], [-1], [3], [5], [5]]);
      for (const size of [[], ['--page-size', '1'], ['--page-size', '2'], ['--page-size', '3']]) {
        const result = await runCli(['check', '--url', signed.url, '--format', 'json', '--concurrency', '2', ...size]);
        expect(result.code, result.stderr).toBe(1);
        const report = parseJson(result);
        expect(report.summary, size.join(' ')).toMatchObject({ scanned: 5, drifted: 2 });
        const drifted = (report.drifted as { id: string; counters: Record<string, { cached: string; actual: string }> }[]).map((d) => [
          d.id,
          Object.fromEntries(Object.entries(d.counters).map(([name, c]) => [name, [String(c.cached), String(c.actual)]])),
        ]);
        expect(drifted, size.join(' ')).toEqual([
          ['-2', { issuedCount: ['0', '1'], usedCount: ['0', '1'] }],
          ['1', { issuedCount: ['5', '3'], usedCount: ['0', '0'] }],
        ]);
        expect(report.summary.orphans, size.join(' ')).toEqual({ coupons: 5, uses: 5 });
      }
    } finally {
      await signed.drop();
    }
  });
});

describe('check: usage errors exit 2 and touch nothing', () => {
  it.each([
    [['check', '--page-size', '0'], '--page-size'],
    [['check', '--page-size', '-5'], '--page-size'],
    [['check', '--page-size', 'abc'], '--page-size'],
    [['check', '--page-size', '100001'], '--page-size'],
    [['check', '--batch-size', '0'], '--batch-size'],
    [['check', '--batch-size', '5', '--page-size', '6'], 'are one setting here'],
    [['repair', '--batch-size', '1001'], '--batch-size'],
    [['repair', '--write-concurrency', '0'], '--write-concurrency'],
    [['repair', '--write-concurrency', '17'], '--write-concurrency'],
    [['check', '--write-concurrency', '2'], "unknown option '--write-concurrency'"],
    [['check', '--format', 'xml'], '--format'],
    [['check', '--ids', '1,x'], 'not a setting id'],
    [['check', '--ids', ''], 'comma-separated'],
    [['check', '--no-such-flag'], "unknown option '--no-such-flag'"],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['check', '--url', 'mysql://root@127.0.0.1:3306'], 'names no database'],
    [['check', '--url', 'not a url'], 'malformed'],
    [['check', '--url', 'postgres://root@127.0.0.1/x'], 'must start with mysql://'],
    [['check'], 'No database given'],
  ])('%j', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('masks the password of a URL it complains about', async () => {
    const result = await runCli(['check', '--url', 'mysql://root:hunter2@127.0.0.1:3306']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('mysql://root:***@127.0.0.1:3306');
    expect(result.stderr).not.toContain('hunter2');
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
