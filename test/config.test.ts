import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lchownSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, repair } from '../src/index.js';
import { loadModel } from '../src/core/config.js';
import { auditScope, DEFAULT_MODEL } from '../src/core/model.js';
import * as builder from '../src/db/builder.js';
import { resolveConnectionConfig } from '../src/db/connection-config.js';
import { Database } from '../src/db/database.js';
import { verifySchema } from '../src/db/inspector.js';
import { REFUSALS_BEFORE_STOP } from '../src/core/repair.js';
import { parseJson, runCli } from './helpers/cli.js';
import { connectionOptions, createTestDatabase, OLD_AUDIT_TABLE, seed, type TestDatabase } from './helpers/database.js';
import { settingsSnapshot } from './helpers/snapshot.js';

/** Counters by definition (SPEC.md): a revoke-aware model, a renamed schema, and bad configs. */

let dir: string;
let revoke: TestDatabase;
let renamed: TestDatabase;
let textKeyed: TestDatabase;

const REVOKE_CONFIG = {
  counters: {
    issuedCount: { table: 'g_coupons', foreignKey: 'settingId', where: "status <> 'REVOKED'" },
    usedCount: { table: 'g_coupon_uses', foreignKey: 'settingId', where: 'cancelledAt IS NULL' },
  },
};
const RENAMED_CONFIG = {
  settings: { table: 'campaigns', id: 'campaign_id', status: 'state', deletedStatus: 'ARCHIVED' },
  counters: {
    codes_issued: { table: 'codes', foreignKey: 'campaign_ref' },
    codes_redeemed: { table: 'redemptions', foreignKey: 'campaign_ref' },
  },
  auditTable: 'campaign_counter_log',
};

function writeConfig(name: string, config: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return path;
}

/**
 * Runs `body` with these tables (name: its CREATE TABLE body) made in the revoke database, then drops
 * them, also when it fails: the other tests there read the seeded tables only.
 */
async function withTables(tables: Record<string, string>, body: () => Promise<void>, made: readonly string[] = []): Promise<void> {
  try {
    for (const [name, definition] of Object.entries(tables)) await revoke.query(`CREATE TABLE ${name} ${definition}`);
    await body();
  } finally {
    // `made`: tables the body has the tool make (an audit table), dropped with the others.
    await revoke.query(`DROP TABLE IF EXISTS ${[...Object.keys(tables), ...made].join(', ')}`);
  }
}

/**
 * withTables for the usual one-counter model: `${prefix}_settings` (id, status, issuedCount) and
 * `${prefix}_codes` (settingId), and the config that names them, with `${prefix}_audit` as its audit
 * table (repair makes it; dropped after).
 */
async function withIssuedCounter(
  prefix: string,
  body: (config: { settings: { table: string }; counters: { issuedCount: { table: string; foreignKey: string } }; auditTable: string }) => Promise<void>,
): Promise<void> {
  await withTables(
    {
      [`${prefix}_settings`]: '(id BIGINT UNSIGNED PRIMARY KEY, status VARCHAR(16) NULL, issuedCount INT NULL)',
      [`${prefix}_codes`]: '(id INT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT UNSIGNED NOT NULL, KEY (settingId))',
    },
    () => body({ settings: { table: `${prefix}_settings` }, counters: { issuedCount: { table: `${prefix}_codes`, foreignKey: 'settingId' } }, auditTable: `${prefix}_audit` }),
    [`${prefix}_audit`],
  );
}

/** Runs SQL with the stock client, as a DBA would paste it. */
function mariadb(database: string, sql: string): string {
  const options = connectionOptions(database);
  return execFileSync('mariadb', ['-h', String(options.host), '-P', String(options.port), '-u', String(options.user), '-N', '-B', database], {
    input: sql,
    encoding: 'utf8',
    env: { ...process.env, MYSQL_PWD: String(options.password ?? '') },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ca-config-'));
  revoke = await createTestDatabase('config_revoke');
  await revoke.query('ALTER TABLE g_coupon_uses ADD cancelledAt DATETIME NULL');
  await seed(revoke.conn, [
    { id: 1, issuedCount: 2, usedCount: 1, coupons: 3, uses: 2 }, // right once the revoked code and the cancelled use do not count
    { id: 2, issuedCount: 3, usedCount: 0, coupons: 3 }, // counts a revoked code: issued +1
    { id: 3, issuedCount: 1, usedCount: 1, coupons: 1, uses: 1 }, // right either way
  ]);
  await revoke.query("UPDATE g_coupons SET status = 'REVOKED' WHERE settingId = 1 ORDER BY id LIMIT 1");
  await revoke.query("UPDATE g_coupons SET status = 'REVOKED' WHERE settingId = 2 ORDER BY id LIMIT 1");
  await revoke.query('UPDATE g_coupon_uses SET cancelledAt = NOW() WHERE settingId = 1 ORDER BY id LIMIT 1');

  renamed = await createTestDatabase('config_renamed', { schema: false });
  await renamed.query(
    'CREATE TABLE campaigns (campaign_id BIGINT UNSIGNED PRIMARY KEY, state VARCHAR(16) NOT NULL, codes_issued BIGINT NULL, codes_redeemed BIGINT NULL)',
  );
  await renamed.query('CREATE TABLE codes (code_id INT AUTO_INCREMENT PRIMARY KEY, campaign_ref BIGINT UNSIGNED NULL, KEY (campaign_ref))');
  await renamed.query('CREATE TABLE redemptions (rid INT AUTO_INCREMENT PRIMARY KEY, campaign_ref BIGINT UNSIGNED NOT NULL, KEY (campaign_ref))');
  await renamed.query(
    "INSERT INTO campaigns VALUES (10, 'LIVE', 2, 1), (11, 'LIVE', 5, 0), (12, 'ARCHIVED', 1, 2), (18446744073709551615, 'LIVE', NULL, 0)",
  );
  await renamed.query('INSERT INTO codes (campaign_ref) VALUES (10), (10), (11), (12), (18446744073709551615), (99), (NULL)');
  await renamed.query('INSERT INTO redemptions (campaign_ref) VALUES (10), (12)');

  textKeyed = await createTestDatabase('config_text_key');
  await seed(textKeyed.conn, [
    { id: 10, issuedCount: 5, usedCount: 0 },
    { id: 11, issuedCount: 0, usedCount: 0 },
  ]);
  await textKeyed.query('CREATE TABLE text_codes (id INT AUTO_INCREMENT PRIMARY KEY, settingRef VARCHAR(20) NOT NULL, KEY (settingRef))');
  await textKeyed.query("INSERT INTO text_codes (settingRef) VALUES ('10'), ('10'), ('010'), ('10.0'), ('x')");
  await textKeyed.query('CREATE TABLE spaced_codes (id INT AUTO_INCREMENT PRIMARY KEY, settingRef VARCHAR(20) NOT NULL, KEY (settingRef))');
  await textKeyed.query("INSERT INTO spaced_codes (settingRef) VALUES ('11 '), ('11'), (' 11'), ('1 1'), ('11,1'), ('12')");
  await textKeyed.query("CREATE TABLE text_settings (ref VARCHAR(20) PRIMARY KEY, status VARCHAR(16) NOT NULL DEFAULT 'ACTIVE', issuedCount INT NULL, usedCount INT NULL)");
  await textKeyed.query("INSERT INTO text_settings (ref, issuedCount, usedCount) VALUES ('7', 0, 0), ('010', 5, 0)");
}, 60_000);

afterAll(async () => {
  await Promise.all([revoke?.drop(), renamed?.drop(), textKeyed?.drop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('a revoke-aware model (codes with a status, uses with a cancellation time)', () => {
  it('the built-in model calls the revoked code and the cancelled use drift; the config does not', async () => {
    const builtIn = parseJson(await runCli(['check', '--url', revoke.url, '--format', 'json']));
    expect(builtIn.drifted.map((s) => s.id)).toEqual(['1']);
    const config = writeConfig('revoke.json', REVOKE_CONFIG);
    const result = await runCli(['check', '--url', revoke.url, '--config', config, '--format', 'json']);
    expect(result.code).toBe(1);
    const report = parseJson(result);
    expect(report.drifted).toEqual([
      { id: '2', status: 'ACTIVE', counters: { issuedCount: { cached: 3, actual: 2, expected: 2 }, usedCount: { cached: 0, actual: 0, expected: 0 } } },
    ]);
  });

  it('repair --dry-run plans it, repair writes it, sql prints statements that agree, and check is then clean', async () => {
    const config = writeConfig('revoke.json', REVOKE_CONFIG);
    const dry = parseJson(await runCli(['repair', '--url', revoke.url, '--config', config, '--dry-run', '--format', 'json']));
    expect(dry.drifted.map((s) => s.id)).toEqual(['2']);
    const sql = await runCli(['sql', '--config', config]);
    expect(sql.code).toBe(0);
    expect(sql.stdout).toContain("WHERE (status <> 'REVOKED')");
    expect(sql.stdout).toContain('WHERE (cancelledAt IS NULL)');
    const oneStatement = /-- As one statement.*?\n(SELECT[\s\S]*?;)\n/.exec(sql.stdout)![1]!;
    expect(mariadb(revoke.name, oneStatement).trim().split('\n')).toEqual(['2\tACTIVE\t3\t2\t0\t0']);
    // Every statement it prints runs as printed, also with filters that name their table (the
    // orphan counts had aliased it away: 1054 Unknown column 'g_coupons.status').
    const qualified = writeConfig('qualified.json', {
      counters: {
        issuedCount: { table: 'g_coupons', foreignKey: 'settingId', where: "g_coupons.status <> 'REVOKED'" },
        usedCount: { table: 'g_coupon_uses', foreignKey: 'settingId', where: 'g_coupon_uses.cancelledAt IS NULL' },
      },
    });
    expect(parseJson(await runCli(['check', '--url', revoke.url, '--config', qualified, '--format', 'json'])).drifted.map((s) => s.id)).toEqual(['2']);
    const printed = await runCli(['sql', '--config', qualified]);
    expect(() => mariadb(revoke.name, printed.stdout)).not.toThrow();

    const applied = await runCli(['repair', '--url', revoke.url, '--config', config, '--yes', '--format', 'json']);
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.stdout).changes).toEqual([{ id: '2', counter: 'issuedCount', old: 3, new: 2 }]);
    expect((await runCli(['check', '--url', revoke.url, '--config', config])).code).toBe(0);
    expect(mariadb(revoke.name, oneStatement).trim()).toBe('');
    const [audit] = await revoke.conn.query<RowDataPacket[]>('SELECT settingId, counterName, oldValue, newValue FROM coupon_audit_log');
    expect(audit.map((row) => [String(row['settingId']), row['counterName'], String(row['oldValue']), String(row['newValue'])])).toEqual([
      ['2', 'issuedCount', '3', '2'],
    ]);
  });

  it('coupon-audit.json in the working directory is the config when --config is not given', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'ca-cwd-'));
    try {
      writeFileSync(join(cwd, 'coupon-audit.json'), JSON.stringify(REVOKE_CONFIG));
      const inDir = await runCli(['check', '--url', revoke.url], { cwd });
      expect(inDir.code).toBe(0);
      // Said, as it was found rather than named; not under --quiet.
      expect(inDir.stderr).toContain(`Counters from ${join(cwd, 'coupon-audit.json')} (in the working directory; --config names another file).`);
      expect((await runCli(['check', '--url', revoke.url, '--quiet'], { cwd })).stderr).toBe('');
      expect((await runCli(['sql'], { cwd })).stderr).toContain('Counters from ');
      expect((await runCli(['check', '--url', revoke.url, '--config', join(cwd, 'coupon-audit.json')], { cwd })).stderr).not.toContain('Counters from');
      const elsewhere = await runCli(['check', '--url', revoke.url]);
      expect(elsewhere.code).toBe(1); // the built-in model still counts the revoked code
      // One others may write is not taken (a trial's planted file pointed repair at another table,
      // and --quiet said nothing); named with --config it is the operator's choice. A BOM is no error.
      writeFileSync(join(cwd, 'coupon-audit.json'), `\uFEFF${JSON.stringify(REVOKE_CONFIG)}`);
      expect((await runCli(['check', '--url', revoke.url], { cwd })).code).toBe(0);
      chmodSync(join(cwd, 'coupon-audit.json'), 0o666);
      const shared = await runCli(['repair', '--yes', '--quiet', '--url', revoke.url], { cwd });
      expect(shared.code).toBe(2);
      expect(shared.stderr).toBe(
        `coupon-audit: ${join(cwd, 'coupon-audit.json')} (found in the working directory) is not used: other users may write it (mode 0666), and it decides what repair writes. ` +
          'Make it yours and writable by you alone (chown, chmod go-w), or name it with --config.\n',
      );
      expect((await runCli(['check', '--url', revoke.url, '--config', 'coupon-audit.json'], { cwd })).code).toBe(0);
      // A FIFO at the name (a review's: the open waited for a writer, for ever) is no config.
      rmSync(join(cwd, 'coupon-audit.json'));
      execFileSync('mkfifo', [join(cwd, 'coupon-audit.json')]);
      const fifo = await runCli(['check', '--url', revoke.url], { cwd });
      expect(fifo.code).toBe(2);
      expect(fifo.stderr).toContain('is not used: it is not a regular file');
      rmSync(join(cwd, 'coupon-audit.json'));
      writeFileSync(join(cwd, 'coupon-audit.json'), JSON.stringify(REVOKE_CONFIG), { mode: 0o644 });
      if (process.getuid?.() === 0) {
        // A link another user made to a file root owns (a review's: the guard had judged the target only).
        chmodSync(join(cwd, 'coupon-audit.json'), 0o644);
        renameSync(join(cwd, 'coupon-audit.json'), join(cwd, 'target.json'));
        symlinkSync('target.json', join(cwd, 'coupon-audit.json'));
        lchownSync(join(cwd, 'coupon-audit.json'), 65534, 65534);
        const linked = await runCli(['check', '--url', revoke.url], { cwd });
        expect(linked.code).toBe(2);
        expect(linked.stderr).toContain('is not used: it is a link that another user made (uid 65534)');
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe('a renamed schema (other table and column names, ids past 2^63, another deleted status)', () => {
  it('check reports by the configured counter names; --deleted skip follows deletedStatus', async () => {
    const config = writeConfig('renamed.json', RENAMED_CONFIG);
    const report = parseJson(await runCli(['check', '--url', renamed.url, '--config', config, '--format', 'json']));
    expect(report.drifted.map((s) => s.id)).toEqual(['11', '12', '18446744073709551615']);
    expect(report.drifted[0]!.counters).toEqual({
      codes_issued: { cached: 5, actual: 1, expected: 1 },
      codes_redeemed: { cached: 0, actual: 0, expected: 0 },
    });
    expect(report.summary).toMatchObject({ scanned: 4, orphans: { codes: 1, redemptions: 0 }, nullSettingId: { codes: 1 } });
    const skip = parseJson(await runCli(['check', '--url', renamed.url, '--config', config, '--format', 'json', '--deleted', 'skip']));
    expect(skip.drifted.map((s) => s.id)).toEqual(['11', '18446744073709551615']);
    const table = await runCli(['check', '--url', renamed.url, '--config', config, '--columns', 'codes_redeemed', '--deleted', 'skip']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('No drift: 3 settings scanned.');
  });

  it('repair (library API) writes the configured columns and its own audit table; the sql statement agrees', async () => {
    const config = writeConfig('renamed.json', RENAMED_CONFIG);
    const plan = await repair({ url: renamed.url, config, dryRun: true });
    expect(plan.drifted.map((s) => s.id)).toEqual(['11', '12', '18446744073709551615']);
    const sql = await runCli(['sql', '--config', config, '--url', renamed.url]);
    const oneStatement = /-- As one statement.*?\n(SELECT[\s\S]*?;)\n/.exec(sql.stdout)![1]!;
    expect(mariadb(renamed.name, oneStatement).trim().split('\n').map((line) => line.split('\t')[0])).toEqual(['11', '12', '18446744073709551615']);

    const done = await repair({ url: renamed.url, config });
    expect('changes' in done && done.changes).toEqual([
      { id: '11', counter: 'codes_issued', old: 5, new: 1 },
      { id: '12', counter: 'codes_redeemed', old: 2, new: 1 },
      { id: '18446744073709551615', counter: 'codes_issued', old: null, new: 1 },
    ]);
    expect((await check({ url: renamed.url, config })).summary.drifted).toBe(0);
    const [rows] = await renamed.conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM campaign_counter_log');
    expect(Number(rows[0]!['n'])).toBe(3);
    expect(mariadb(renamed.name, oneStatement).trim()).toBe('');
  });
});

describe('a text key column (VARCHAR)', () => {
  const config = () =>
    writeConfig('text.json', { counters: { issuedCount: { table: 'text_codes', foreignKey: 'settingRef' }, usedCount: { table: 'g_coupon_uses', foreignKey: 'settingId' } } });

  it("a key is a setting's when its text is the id ('10'); '010', '10.0' and 'x' are orphans, to check and to repair alike", async () => {
    const report = parseJson(await runCli(['check', '--url', textKeyed.url, '--config', config(), '--format', 'json']));
    expect(report.drifted).toEqual([
      { id: '10', status: 'ACTIVE', counters: { issuedCount: { cached: 5, actual: 2, expected: 2 }, usedCount: { cached: 0, actual: 0, expected: 0 } } },
    ]);
    expect(report.summary).toMatchObject({ scanned: 2, orphans: { text_codes: 3, uses: 0 } });
    // The recount under the lock reads `settingRef IN (10)`, which '010' and '10.0' match as numbers too.
    const done = await repair({ url: textKeyed.url, config: config() });
    expect('changes' in done && done.changes).toEqual([{ id: '10', counter: 'issuedCount', old: 5, new: 2 }]);
    expect((await check({ url: textKeyed.url, config: config() })).summary.drifted).toBe(0);
  });

  it("trailing spaces are the id's, as the collation groups them ('11 ' is setting 11's); a space or comma inside a key is an orphan, not a crash", async () => {
    const spaced = writeConfig('spaced.json', { counters: { issuedCount: { table: 'spaced_codes', foreignKey: 'settingRef' }, usedCount: { table: 'g_coupon_uses', foreignKey: 'settingId' } } });
    const issued = (report: { drifted: { id: string; counters: { issuedCount?: { actual: unknown } } }[] }) => report.drifted.map((setting) => [setting.id, setting.counters.issuedCount!.actual]);
    // Setting 10 has none here (it caches what the test before wrote); setting 11 caches 0 and has '11 ' and '11'.
    const whole = parseJson(await runCli(['check', '--url', textKeyed.url, '--config', spaced, '--format', 'json']));
    expect(issued(whole)).toEqual([['10', 0], ['11', 2]]);
    expect(whole.summary).toMatchObject({ scanned: 2, orphans: { spaced_codes: 4 } }); // ' 11', '1 1', '11,1', '12'
    for (const ids of [['--ids', '11'], ['--ids', '10,11'], ['--page-size', '1']]) {
      const result = await runCli(['check', '--url', textKeyed.url, '--config', spaced, '--format', 'json', ...ids]);
      expect(result.stderr, ids.join(' ')).toBe('');
      expect(issued(parseJson(result)).filter(([id]) => id === '11'), ids.join(' ')).toEqual([['11', 2]]);
    }
    const dry = await runCli(['repair', '--dry-run', '--url', textKeyed.url, '--config', spaced, '--format', 'json', '--ids', '11']);
    expect(issued(parseJson(dry))).toEqual([['11', 2]]);
    // The recount under the lock counts '11 ' too: the final reread finds both right (exit 0).
    expect((await runCli(['repair', '--yes', '--url', textKeyed.url, '--config', spaced])).code).toBe(0);
    expect((await runCli(['check', '--url', textKeyed.url, '--config', spaced])).code).toBe(0);
  });

  it("under a NO PAD collation '11 ' is not '11': an orphan to check and to repair's recount alike", async () => {
    await textKeyed.query('CREATE TABLE nopad_codes (id INT AUTO_INCREMENT PRIMARY KEY, settingRef VARCHAR(20) COLLATE utf8mb4_general_nopad_ci NOT NULL, KEY (settingRef))');
    await textKeyed.query("INSERT INTO nopad_codes (settingRef) VALUES ('11 '), ('11'), ('11')");
    await textKeyed.query('UPDATE g_coupon_settings SET issuedCount = 7 WHERE id = 11');
    const nopad = writeConfig('nopad.json', { counters: { issuedCount: { table: 'nopad_codes', foreignKey: 'settingRef' }, usedCount: { table: 'g_coupon_uses', foreignKey: 'settingId' } } });
    const report = parseJson(await runCli(['check', '--url', textKeyed.url, '--config', nopad, '--format', 'json', '--ids', '11']));
    expect(report.drifted.map((setting) => [setting.id, setting.counters.issuedCount!.actual])).toEqual([['11', 2]]);
    // The recount under the lock writes 2, not the '11 ' group's 1: the final reread agrees (exit 0).
    const repaired = await runCli(['repair', '--yes', '--url', textKeyed.url, '--config', nopad, '--ids', '11', '--format', 'json']);
    expect(repaired.code).toBe(0);
    expect(JSON.parse(repaired.stdout).changes).toEqual([{ id: '11', counter: 'issuedCount', old: 7, new: 2 }]);
    const whole = parseJson(await runCli(['check', '--url', textKeyed.url, '--config', nopad, '--format', 'json', '--columns', 'issuedCount']));
    expect(whole.summary).toMatchObject({ orphans: { nopad_codes: 1 } });
    expect(whole.drifted.map((setting) => setting.id)).not.toContain('11');
  });

  it("a settings id that is no integer as digits ('010') is exit 3 naming it, not a crash; nothing is written", async () => {
    const textIds = writeConfig('text-ids.json', {
      settings: { table: 'text_settings', id: 'ref' },
      counters: { issuedCount: { table: 'text_codes', foreignKey: 'settingRef' }, usedCount: { table: 'g_coupon_uses', foreignKey: 'settingId' } },
    });
    const before = mariadb(textKeyed.name, 'SELECT * FROM text_settings ORDER BY ref');
    for (const args of [['check'], ['repair', '--yes'], ['repair', '--dry-run']]) {
      const result = await runCli([...args, '--url', textKeyed.url, '--config', textIds]);
      expect(result.code, args.join(' ')).toBe(3);
      expect(result.stderr).toContain("The server returned '010' where coupon-audit reads an integer");
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(mariadb(textKeyed.name, 'SELECT * FROM text_settings ORDER BY ref')).toBe(before);
    // doctor says so first (a trial's UUID ids: doctor had said "All is well").
    const doctor = await runCli(['doctor', '--url', textKeyed.url, '--config', textIds, '--format', 'json']);
    expect(doctor.code).toBe(3);
    expect((JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks.find((check) => check.name === 'settings ids')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining("text_settings.ref holds '010', which is no whole number"),
    });
  });
});

describe('statements by id on text keys use the keys\' indexes (under repair\'s locks)', () => {
  it('the ids are quoted for a text column, numbers for an integer one; EXPLAIN finds an index for each', async () => {
    // Enough rows that the optimizer prefers the index where it can use one.
    await textKeyed.query("CREATE TABLE wide_settings (ref VARCHAR(20) PRIMARY KEY, status VARCHAR(16) NOT NULL DEFAULT 'ACTIVE', issuedCount INT NULL)");
    await textKeyed.query('CREATE TABLE wide_codes (id INT AUTO_INCREMENT PRIMARY KEY, settingRef VARCHAR(20) NOT NULL, KEY (settingRef))');
    await textKeyed.query('INSERT INTO wide_settings (ref, issuedCount) SELECT seq, 0 FROM seq_1_to_2000');
    await textKeyed.query('INSERT INTO wide_codes (settingRef) SELECT seq % 2000 + 1 FROM seq_1_to_20000');
    await textKeyed.query('ANALYZE TABLE wide_settings, wide_codes');
    const model = await loadModel({ settings: { table: 'wide_settings', id: 'ref' }, counters: { issuedCount: { table: 'wide_codes', foreignKey: 'settingRef' } } });
    const database = await Database.connect(resolveConnectionConfig({ url: textKeyed.url, env: {} }), { poolSize: 2 });
    try {
      const scope = await verifySchema(database, auditScope(model));
      expect([scope.model.settings.idIsText, scope.counters[0]!.keyIsText]).toEqual([true, true]);
      const counter = scope.counters[0]!;
      const ids = [10n, 11n];
      const statements = {
        lock: builder.lockSettingsSql(scope, ids, 'wait'),
        count: builder.countChildrenSql(counter, ids),
        countStacked: builder.countChildrenStackedSql(scope.model, counter, ids),
        write: builder.writeCountersSql(scope.model, [{ settingId: 10n, counter: 'issuedCount', from: 0n, to: 10n }], []),
        idsPage: builder.packedPageSql(scope, { kind: 'ids', ids }),
      };
      expect(statements.lock).toContain("IN ('10', '11')");
      expect(statements.count).toContain("`settingRef` IN ('10', '11')");
      for (const [name, sql] of Object.entries(statements)) {
        const plan = await database.query(sql.replace(/^\/\* coupon-audit \*\/ /, '/* coupon-audit */ EXPLAIN '), 'explaining');
        // Every row of the plan that reads a wide_ table looks its rows up by a key: never the whole
        // table ('ALL') nor the whole index ('index').
        const reads = plan.filter((row) => /^wide_/.test(String(row['table'])) || /^s$/.test(String(row['table'])));
        expect(reads.length, name).toBeGreaterThan(0);
        for (const row of reads) expect(['const', 'eq_ref', 'ref', 'range'], `${name}: ${JSON.stringify(row)}`).toContain(row['type']);
      }
      // Text ids past 2^53, neighbours, more than a flat CASE holds: each row gets its own count
      // (compared with numbers, as doubles, 9007199254740993 took 9007199254740992's).
      await textKeyed.query("CREATE TABLE big_settings (ref VARCHAR(24) PRIMARY KEY, status VARCHAR(16) NOT NULL DEFAULT 'ACTIVE', issuedCount INT NULL)");
      // With short ones among them, text order is not number order ('10' < '9'): the tree must split as the server compares.
      const bigIds = [9n, 10n, 99n, 100n, 1000n, ...Array.from({ length: 40 }, (_, k) => 9007199254740980n + BigInt(k))];
      await textKeyed.query(`INSERT INTO big_settings (ref, issuedCount) VALUES ${bigIds.map((id) => `('${id}', 0)`).join(', ')}`);
      const big = await verifySchema(database, auditScope(await loadModel({ settings: { table: 'big_settings', id: 'ref' }, counters: { issuedCount: { table: 'wide_codes', foreignKey: 'settingRef' } } })));
      const writes = bigIds.map((id, k) => ({ settingId: id, counter: 'issuedCount', from: 0n, to: BigInt(k + 1) }));
      await database.query(builder.writeCountersSql(big.model, writes, []), 'writing');
      const rows = await database.query(`${builder.TAG} SELECT ref, issuedCount FROM big_settings ORDER BY ref`, 'reading');
      const byRef = new Map(rows.map((row) => [String(row['ref']), Number(row['issuedCount'])]));
      expect(bigIds.map((id) => `${id}=${byRef.get(String(id))}`)).toEqual(bigIds.map((id, k) => `${id}=${k + 1}`));
      // An integer key keeps its numbers (a quoted id would be compared as a double past 2^53).
      const integer = await verifySchema(database, auditScope(DEFAULT_MODEL));
      expect(builder.countChildrenSql(integer.counters[0]!, [9007199254740993n])).toContain('`settingId` IN (9007199254740993)');
    } finally {
      await database.close();
    }
    // And repair writes the count there.
    await textKeyed.query("UPDATE wide_settings SET issuedCount = 99 WHERE ref = '10'");
    const config = writeConfig('wide.json', { settings: { table: 'wide_settings', id: 'ref' }, counters: { issuedCount: { table: 'wide_codes', foreignKey: 'settingRef' } } });
    expect((await runCli(['repair', '--url', textKeyed.url, '--config', config, '--yes', '--ids', '10'])).code).toBe(0);
    const [row] = await textKeyed.query<RowDataPacket[]>("SELECT issuedCount FROM wide_settings WHERE ref = '10'");
    expect(Number(row!['issuedCount'])).toBe(10);
    // The change script a DBA runs by hand matches the text id by its index too.
    await textKeyed.query("UPDATE wide_settings SET issuedCount = 77 WHERE ref = '11'");
    const script = join(dir, 'wide.sql');
    expect((await runCli(['repair', '--url', textKeyed.url, '--config', config, '--emit-sql', script, '--ids', '11'])).code).toBe(1);
    expect(readFileSync(script, 'utf8')).toContain("UPDATE `wide_settings` SET `issuedCount` = 10 WHERE `ref` = '11' AND `issuedCount` <=> 77;");
    // A whole check pages a text settings id, whose ids come in text order ('1', '10', '100', …):
    // every setting once, whatever the page size (pages of points asserted ascending ids before).
    for (const size of [[], ['--page-size', '50'], ['--page-size', '7']]) {
      const whole = await runCli(['check', '--url', textKeyed.url, '--config', config, '--format', 'json', ...size]);
      expect(whole.code, whole.stderr).toBe(1);
      // 10 codes each; 10 was repaired to 10, the rest cache 0, 11 caches 77.
      expect(JSON.parse(whole.stdout).summary).toMatchObject({ scanned: 2000, drifted: 1999 });
    }
  });
});

describe('a foreignKey no child row names a setting by (a code column by mistake)', () => {
  it('check and the dry run warn; repair refuses before writing (exit 2), the CLI and the library', async () => {
    const path = writeConfig('code-key.json', { counters: { issuedCount: { table: 'g_coupons', foreignKey: 'code' } } });
    const doubt = 'counter issuedCount: none of the 7 rows of g_coupons it counts names a setting by code (all are orphans); is code the column that holds the g_coupon_settings id?';
    const before = await settingsSnapshot(revoke.conn);
    // Other cases of this file repair here too: the audit rows before, or -1 for no audit table.
    const auditRows = async (): Promise<number> => {
      const [table] = await revoke.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'coupon_audit_log'");
      if (Number(table!['n']) === 0) return -1;
      const [rows] = await revoke.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM coupon_audit_log');
      return Number(rows!['n']);
    };
    const auditBefore = await auditRows();
    const checked = await runCli(['check', '--url', revoke.url, '--config', path]);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toContain(doubt);
    expect(checked.stdout).toMatch(/children with no setting +7 rows in g_coupons/);
    // A warning that needs a human: in a cron job's --quiet output too.
    expect((await runCli(['check', '--url', revoke.url, '--config', path, '--quiet'])).stderr).toContain(doubt);
    const dry = await runCli(['repair', '--url', revoke.url, '--config', path, '--dry-run', '--format', 'json']);
    expect(dry.code).toBe(1);
    expect(dry.stderr).toContain(doubt);
    // In the JSON too, and so to a program that calls the library's check().
    expect(JSON.parse(dry.stdout).summary.doubts).toEqual([doubt]);
    expect((await check({ url: revoke.url, config: path })).summary.doubts).toEqual([doubt]);
    const refused = await runCli(['repair', '--url', revoke.url, '--config', path, '--yes']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${doubt} Repair would write 0 for each such setting; nothing was written.`);
    const library = await repair({ url: revoke.url, config: path }).then(() => null, (e: unknown) => e);
    expect((library as { exitCode?: number }).exitCode).toBe(2);
    expect(await settingsSnapshot(revoke.conn)).toEqual(before);
    expect(await auditRows()).toBe(auditBefore);
    // The right key: no doubt.
    const right = await runCli(['check', '--url', revoke.url, '--config', writeConfig('id-key.json', { counters: { issuedCount: { table: 'g_coupons', foreignKey: 'settingId' } } })]);
    expect(right.stderr).not.toContain('none of the');
  });

  it('an indexed integer column of other numbers (read the packed way, by the numbers) is refused the same way', async () => {
    await revoke.query('ALTER TABLE g_coupons ADD COLUMN batchNo INT NULL, ADD INDEX (batchNo)');
    try {
      await revoke.query('UPDATE g_coupons SET batchNo = 1000 + id');
      const before = await settingsSnapshot(revoke.conn);
      const config = writeConfig('batch-key.json', { counters: { issuedCount: { table: 'g_coupons', foreignKey: 'batchNo' } } });
      const doubt = 'counter issuedCount: none of the 7 rows of g_coupons it counts names a setting by batchNo (all are orphans)';
      const checked = await runCli(['check', '--url', revoke.url, '--config', config, '--verbose']);
      expect(checked.stderr).toContain(doubt);
      expect(checked.stderr).not.toContain('no index'); // the packed page, not the whole-table statement
      const refused = await runCli(['repair', '--url', revoke.url, '--config', config, '--yes']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(doubt);
      expect(await settingsSnapshot(revoke.conn)).toEqual(before);
      // A change script is there to be run: it is refused the same way, and no file is left.
      const script = join(dir, 'batch-key.sql');
      const emitted = await runCli(['repair', '--url', revoke.url, '--config', config, '--emit-sql', script]);
      expect(emitted.code).toBe(2);
      expect(emitted.stderr).toContain(doubt);
      expect(emitted.stderr).toContain('nothing was written');
      expect(existsSync(script)).toBe(false);
      // A dry run still shows the plan, with the doubt (it writes nothing).
      const dry = await runCli(['repair', '--url', revoke.url, '--config', config, '--dry-run']);
      expect(dry.code).toBe(1);
      expect(dry.stderr).toContain(doubt);
    } finally {
      await revoke.query('ALTER TABLE g_coupons DROP COLUMN batchNo');
    }
  });

  it('a key column NULL in every row (a migration never filled it) is refused the same way; a where that lets no row through is warned about', async () => {
    await revoke.query('ALTER TABLE g_coupons ADD COLUMN legacyRef BIGINT NULL');
    try {
      const before = await settingsSnapshot(revoke.conn);
      const nullKey = writeConfig('null-key.json', { counters: { issuedCount: { table: 'g_coupons', foreignKey: 'legacyRef' } } });
      const nullDoubt = 'counter issuedCount: none of the 7 rows of g_coupons it counts names a setting by legacyRef (legacyRef is NULL in every one)';
      expect((await runCli(['check', '--url', revoke.url, '--config', nullKey])).stderr).toContain(nullDoubt);
      const refusedNull = await runCli(['repair', '--url', revoke.url, '--config', nullKey, '--yes']);
      expect(refusedNull.code).toBe(2);
      expect(refusedNull.stderr).toContain(nullDoubt);
      const typo = writeConfig('typo-where.json', { counters: { issuedCount: { table: 'g_coupons', foreignKey: 'settingId', where: "status = 'REVOKD'" } } });
      // A filter that lets no row through: a misspelt status, or truly none yet. A warning only.
      const typoDoubt = "counter issuedCount counts no row of g_coupons (none passes its where: status = 'REVOKD'), yet settings cache a count for it; is the where right? (repair writes 0 into them)";
      expect((await runCli(['check', '--url', revoke.url, '--config', typo])).stderr).toContain(typoDoubt);
      expect((await runCli(['repair', '--url', revoke.url, '--config', typo, '--dry-run'])).stderr).toContain(typoDoubt);
      // repair --yes prints it too, before it writes (here --max-changes 0 stops it there).
      const yes = await runCli(['repair', '--url', revoke.url, '--config', typo, '--yes', '--max-changes', '0']);
      expect(yes.code).toBe(2);
      expect(yes.stderr).toContain(typoDoubt);
      expect(await settingsSnapshot(revoke.conn)).toEqual(before);
      // A repair that goes ahead (it is only a warning) says it in its report's summary too.
      const repaired = await repair({ url: revoke.url, config: typo });
      expect('runId' in repaired && repaired.summary.doubts).toEqual([typoDoubt]);
      // Put back for the cases after this one (its updatedAt moves on).
      for (const [id, row] of before) await revoke.query('UPDATE g_coupon_settings SET issuedCount = ? WHERE id = ?', [row['issuedCount'], id]);
      const issued = (snapshot: Map<string, Record<string, string | null>>) => [...snapshot].map(([id, row]) => `${id}:${row['issuedCount']}`);
      expect(issued(await settingsSnapshot(revoke.conn))).toEqual(issued(before));
    } finally {
      await revoke.query('ALTER TABLE g_coupons DROP COLUMN legacyRef');
    }
  });

  it('a counter whose table is empty while settings cache counts for it is warned about (repair would zero them all)', async () => {
    await revoke.query('CREATE TABLE g_coupons_archive LIKE g_coupons');
    try {
      const before = await settingsSnapshot(revoke.conn);
      const archive = writeConfig('empty-table.json', { counters: { issuedCount: { table: 'g_coupons_archive', foreignKey: 'settingId' } } });
      const doubt =
        'counter issuedCount counts no row of g_coupons_archive (the table is empty), yet settings cache a count for it; is g_coupons_archive the table that holds them? (repair writes 0 into them)';
      const checked = await runCli(['check', '--url', revoke.url, '--config', archive]);
      expect(checked.code).toBe(1);
      expect(checked.stderr).toContain(doubt);
      expect((await runCli(['check', '--url', revoke.url, '--config', archive, '--quiet'])).stderr).toContain(doubt);
      const dry = await runCli(['repair', '--url', revoke.url, '--config', archive, '--dry-run', '--format', 'json']);
      expect(dry.code).toBe(1);
      expect(JSON.parse(dry.stdout).summary.doubts).toEqual([doubt]);
      // The change script carries it for whoever reviews the file.
      const script = join(dir, 'empty-table.sql');
      expect((await runCli(['repair', '--url', revoke.url, '--config', archive, '--emit-sql', script])).code).toBe(1);
      expect(readFileSync(script, 'utf8')).toContain(`\n--\n-- WARNING: ${doubt}\n\n/* coupon-audit */ UPDATE`);
      expect(await settingsSnapshot(revoke.conn)).toEqual(before);
      // Settings that all cache 0 beside an empty table: nothing to doubt.
      await revoke.query('CREATE TABLE g_empty_settings LIKE g_coupon_settings');
      try {
        await revoke.query("INSERT INTO g_empty_settings (id, status, issuedCount, usedCount) VALUES (1, 'ACTIVE', 0, 0)");
        const fresh = writeConfig('empty-both.json', { settings: { table: 'g_empty_settings' }, counters: { issuedCount: { table: 'g_coupons_archive', foreignKey: 'settingId' } } });
        const clean = await runCli(['check', '--url', revoke.url, '--config', fresh]);
        expect(clean.code, clean.stderr).toBe(0);
        expect(clean.stderr).not.toContain('counts no row');
      } finally {
        await revoke.query('DROP TABLE g_empty_settings');
      }
    } finally {
      await revoke.query('DROP TABLE g_coupons_archive');
    }
  });
});

describe('a child table two counters read, each with its own filter', () => {
  it("its orphans are counted per counter in the JSON summary, as the table names them (the last counter's count hid the other's)", async () => {
    await withTables(
      {
        shared_settings: '(id BIGINT UNSIGNED PRIMARY KEY, status VARCHAR(16) NULL, issuedCount INT NULL, usedCount INT NULL)',
        shared_codes: '(id INT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT UNSIGNED NULL, revoked TINYINT NOT NULL, KEY (settingId))',
      },
      async () => {
        await revoke.query("INSERT INTO shared_settings VALUES (1, 'ACTIVE', 2, 1)");
        // Setting 99 does not exist: a revoked orphan (all codes count it, live ones do not); a NULL key, live.
        await revoke.query('INSERT INTO shared_codes (settingId, revoked) VALUES (1, 0), (1, 1), (99, 1), (NULL, 0)');
        const both = {
          settings: { table: 'shared_settings' },
          counters: { issuedCount: { table: 'shared_codes', foreignKey: 'settingId' }, usedCount: { table: 'shared_codes', foreignKey: 'settingId', where: 'revoked = 0' } },
        };
        for (const config of [both, { ...both, counters: { usedCount: both.counters.usedCount, issuedCount: both.counters.issuedCount } }]) {
          const file = writeConfig('shared.json', config);
          const report = parseJson(await runCli(['check', '--url', revoke.url, '--config', file, '--format', 'json']));
          expect(report.summary).toMatchObject({
            scanned: 1,
            drifted: 0,
            orphans: { 'shared_codes (issuedCount)': 1, 'shared_codes (usedCount)': 0 },
            nullSettingId: { 'shared_codes (issuedCount)': 1, 'shared_codes (usedCount)': 1 },
          });
          expect(Object.keys(report.summary.orphans as object)).toHaveLength(2);
          const table = await runCli(['check', '--url', revoke.url, '--config', file]);
          expect(table.stdout).toContain('Child rows with no setting: 1 in shared_codes (issuedCount).');
        }
      },
    );
  });
});

describe('a bad config: exit 2, one sentence naming what is wrong, nothing read or written', () => {
  it.each([
    ['an unknown key', { counters: { issuedCount: { table: 'g_coupons', foreignKey: 'settingId', filter: 'x' } } }, 'counters.issuedCount: unknown key "filter"'],
    ['a wrong type', { settings: { table: 42 } }, 'settings.table: '],
    // The unknown key is named, not the key it stands in for ("foreignKey: expected string, received undefined").
    ['a misspelt key', { counters: { issuedCount: { table: 'g_coupons', foreign_key: 'settingId' } } }, 'counters.issuedCount: unknown key "foreign_key"'],
    ['a key left out', { counters: { issuedCount: { table: 'g_coupons' } } }, 'counters.issuedCount.foreignKey: missing (expected string)'],
    ['no counters', { counters: {} }, 'counters: name at least one counter'],
    ['not JSON', '{ "counters": ', 'is not valid JSON'],
    ['not JSON, where', '{\n  "counters": {}\n  "settings": {}\n}', "is not valid JSON: Expected ',' or '}' after property value in JSON at line 3, column 3."],
    [
      'a counter named twice (JSON.parse would keep the second alone)',
      '{ "counters": {\n  "issuedCount": { "table": "g_coupons", "foreignKey": "settingId" },\n  "issuedCount": { "table": "g_coupons", "foreignKey": "settingId", "where": "1" } } }',
      'names counters.issuedCount twice (the second at line 3, column 3): rename or remove one.',
    ],
    ['a key named twice at the top', '{ "auditTable": "a", "auditTable": "b" }', 'names auditTable twice (the second at line 1, column 22)'],
    ['a missing column', { counters: { issuedCount: { table: 'g_coupons', foreignKey: 'campaignId' } } }, 'counter issuedCount: table g_coupons has no column campaignId'],
    ['a missing table', { counters: { issuedCount: { table: 'g_codes', foreignKey: 'settingId' } } }, 'counter issuedCount: table g_codes is missing'],
    // Quoted as one name, `other.g_coupons` was "missing" although other.g_coupons exists.
    [
      'a table of another database',
      { counters: { issuedCount: { table: 'other.g_coupons', foreignKey: 'settingId' } } },
      "counters.issuedCount.table: 'other.g_coupons' has a dot: give a table name in the --url database, without a database prefix (for a table of another database, make a view of it in this one).",
    ],
    ['a settings table of another database', { settings: { table: 'other.g_coupon_settings' } }, "settings.table: 'other.g_coupon_settings' has a dot"],
    [
      'a filter that does not compile',
      { counters: { issuedCount: { table: 'g_coupons', foreignKey: 'settingId', where: "revokedAt IS NULL AND status <> 'REVOKED'" } } },
      "counter issuedCount: the filter \"revokedAt IS NULL AND status <> 'REVOKED'\" does not work here: Unknown column 'revokedAt'",
    ],
    // MariaDB numbers its own errors from 4000 (4015 here), past the 1000-1999 of MySQL's and its own.
    [
      'a filter the server refuses with an error number of its own',
      { counters: { issuedCount: { table: 'g_coupons', foreignKey: 'settingId', where: 'ROW_NUMBER() OVER () > 0' } } },
      'counter issuedCount: the filter "ROW_NUMBER() OVER () > 0" does not work here: Window function is allowed only in SELECT list and ORDER BY clause',
    ],
    ['a cached column the settings do not have', { counters: { voidedCount: { table: 'g_coupons', foreignKey: 'settingId' } } }, 'counter voidedCount: table g_coupon_settings has no column voidedCount'],
    [
      'a key column that holds no ids',
      { counters: { usedCount: { table: 'g_coupon_uses', foreignKey: 'usedAt' } } },
      'g_coupon_uses.usedAt is datetime: a key must be an integer column (or text holding integers)',
    ],
    [
      'a filter that is not one expression (it would leave its parentheses)',
      { counters: { issuedCount: { table: 'g_coupons', foreignKey: 'settingId', where: '1=1) OR (1=1' } } },
      'counters.issuedCount.where: a ")" closes a parenthesis the expression did not open',
    ],
    ['a cached counter column that holds no counts', { counters: { name: { table: 'g_coupons', foreignKey: 'settingId' } } }, 'g_coupon_settings.name is varchar: a cached counter must be an integer column'],
    // An integer column, so no type check would stop it: repair would write counts into the key.
    ['a counter named after the settings key', { counters: { ID: { table: 'g_coupons', foreignKey: 'settingId' } } }, "counters.ID: g_coupon_settings.ID is the settings' key (settings.id), not a cached counter (repair would overwrite it)."],
    [
      'a counter named after the status column',
      { settings: { status: 'usedCount' }, counters: { usedCount: { table: 'g_coupon_uses', foreignKey: 'settingId' } } },
      "counters.usedCount: g_coupon_settings.usedCount is the settings' status column (settings.status), not a cached counter",
    ],
    // Repair would create `other.audit` in the --url database, which reads as another database's table.
    ['an audit table named with a database', { auditTable: 'other.audit' }, "auditTable: 'other.audit' has a dot: give a table name in the --url database"],
    // Both problems of one config are named, the key's and the filter's (this entry and the next).
    [
      'a key column that holds no ids, and a filter that does not compile: the key',
      { counters: { usedCount: { table: 'g_coupon_uses', foreignKey: 'usedAt', where: 'voidedAt IS NULL' } } },
      'g_coupon_uses.usedAt is datetime',
    ],
    [
      'a key column that holds no ids, and a filter that does not compile: the filter',
      { counters: { usedCount: { table: 'g_coupon_uses', foreignKey: 'usedAt', where: 'voidedAt IS NULL' } } },
      "counter usedCount: the filter \"voidedAt IS NULL\" does not work here: Unknown column 'voidedAt'",
    ],
  ])('%s', async (_label, config, message) => {
    const path = writeConfig('bad.json', config);
    const before = await settingsSnapshot(revoke.conn);
    for (const command of [['check'], ['repair', '--yes'], ['repair', '--dry-run'], ['doctor']]) {
      const result = await runCli([...command, '--url', revoke.url, '--config', path]);
      if (command[0] === 'doctor' && result.code === 3) {
        // doctor reports a config that does not match the database as a failed schema check.
        expect(result.stdout).toContain(message);
        continue;
      }
      expect(result.code, `${command.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stdout).toBe('');
    }
    expect(await settingsSnapshot(revoke.conn)).toEqual(before);
  });

  it('a counter name longer than an existing audit table holds: repair refuses before the scan (exit 2), check and the dry run work', async () => {
    const long = 'issuedCountOfEveryCodeEverMadeHere'; // 34 characters, a legal column name
    await revoke.query(`ALTER TABLE g_coupon_settings ADD ${long} INT NULL DEFAULT 0`);
    await revoke.query('CREATE TABLE short_audit LIKE coupon_audit_log').catch(async () => {
      await revoke.query("CREATE TABLE short_audit (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, runId CHAR(36) NOT NULL, settingId DECIMAL(20,0) NOT NULL, counterName VARCHAR(32) NOT NULL, oldValue BIGINT NULL, newValue BIGINT NOT NULL, changedAt TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), dbUser VARCHAR(255) NULL)");
    });
    await revoke.query('ALTER TABLE short_audit MODIFY counterName VARCHAR(32) NOT NULL');
    try {
      const config = writeConfig('long.json', { counters: { [long]: { table: 'g_coupons', foreignKey: 'settingId' } }, auditTable: 'short_audit' });
      const before = await settingsSnapshot(revoke.conn);
      const repaired = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config]);
      expect(repaired.code).toBe(2);
      expect(repaired.stderr).toContain(`The audit table short_audit holds counter names of up to 32 characters (its counterName column), and ${long} has 34: widen it`);
      expect(await settingsSnapshot(revoke.conn)).toEqual(before);
      expect((await runCli(['check', '--url', revoke.url, '--config', config])).code).toBe(1);
      expect((await runCli(['repair', '--dry-run', '--url', revoke.url, '--config', config])).code).toBe(1);
      // doctor says so, with the ALTER.
      const doctor = JSON.parse((await runCli(['doctor', '--url', revoke.url, '--config', config, '--format', 'json'])).stdout) as { checks: { name: string; status: string; fix?: string }[] };
      expect(doctor.checks.find((check) => check.name === 'audit table')).toMatchObject({ status: 'fail', fix: expect.stringContaining('MODIFY counterName VARCHAR(64)') });
      // A new audit table (sql/audit-table.sql) holds any column name.
      const fresh = writeConfig('long-fresh.json', { counters: { [long]: { table: 'g_coupons', foreignKey: 'settingId' } }, auditTable: 'long_audit' });
      expect((await runCli(['repair', '--yes', '--url', revoke.url, '--config', fresh])).code).toBe(0);
    } finally {
      await revoke.query(`ALTER TABLE g_coupon_settings DROP COLUMN ${long}`);
      await revoke.query('DROP TABLE IF EXISTS short_audit, long_audit');
    }
  });

  it('an id that only leads a key of several columns, and is two rows: exit 2 naming it, wherever the rows show it, nothing written', async () => {
    // 3,000 settings, one id of them twice (another region): in the first pages (read by points),
    // past them (pages by id arithmetic), and among --ids.
    await withTables(
      {
        regional_settings: '(id BIGINT UNSIGNED NOT NULL, region CHAR(2) NOT NULL, status VARCHAR(16) NULL, issuedCount INT NULL, PRIMARY KEY (id, region))',
        regional_codes: '(id INT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT UNSIGNED NOT NULL, KEY (settingId))',
        // No index on settingId: the whole-table statement (builder.ts comparePageSql) compares, which
        // had kept the shared id's group out of its rows (a trial's "No drift", exit 0).
        regional_unindexed: '(id INT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT UNSIGNED NOT NULL)',
      },
      async () => {
        await revoke.query("INSERT INTO regional_settings SELECT seq, 'KR', 'ACTIVE', 1 FROM seq_1_to_3000");
        await revoke.query('INSERT INTO regional_unindexed (settingId) SELECT seq FROM seq_1_to_3000 WHERE seq NOT IN (5, 2500)');
        const unindexed = writeConfig('regional-unindexed.json', { settings: { table: 'regional_settings' }, counters: { issuedCount: { table: 'regional_unindexed', foreignKey: 'settingId' } } });
        // The ids made shared below have no codes, and every row of them caches 0: no row of them drifts
        // whichever row a read pairs with the count, so only seeing the id twice can tell.
        await revoke.query('INSERT INTO regional_codes (settingId) SELECT seq FROM seq_1_to_3000 WHERE seq NOT IN (5, 2500)');
        await revoke.query('UPDATE regional_settings SET issuedCount = 0 WHERE id IN (5, 2500)');
        const config = writeConfig('regional.json', { settings: { table: 'regional_settings' }, counters: { issuedCount: { table: 'regional_codes', foreignKey: 'settingId' } } });
        expect((await runCli(['check', '--url', revoke.url, '--config', config])).code).toBe(0); // one row per id: audited
        for (const shared of [5, 2500]) {
          await revoke.query(`INSERT INTO regional_settings VALUES (${shared}, 'US', 'ACTIVE', 0)`);
          const [[before]] = await revoke.conn.query<RowDataPacket[]>('SELECT SUM(issuedCount) AS total FROM regional_settings');
          for (const command of [['check'], ['check', '--concurrency', '1', '--page-size', '500'], ['check', '--ids', `1,${shared}`], ['repair', '--yes'], ['repair', '--yes', '--ids', `${shared}`]]) {
            const result = await runCli([...command, '--url', revoke.url, '--config', config]);
            expect(result.code, `${command.join(' ')}: ${result.stderr}`).toBe(2);
            expect(result.stderr.trim()).toBe(
              `coupon-audit: settings.id: regional_settings.id is ${shared} in more than one row, and a setting must be one row. ` +
                'Name a column that is unique by itself (a PRIMARY KEY or UNIQUE index of that column alone) as settings.id.',
            );
          }
          for (const command of [['check'], ['repair', '--yes']]) {
            const result = await runCli([...command, '--url', revoke.url, '--config', unindexed]);
            expect(result.code, `${command.join(' ')} (unindexed): ${result.stderr}`).toBe(2);
            expect(result.stderr).toContain(`coupon-audit: settings.id: regional_settings.id is ${shared} in more than one row`);
          }
          const [[after]] = await revoke.conn.query<RowDataPacket[]>('SELECT SUM(issuedCount) AS total FROM regional_settings');
          expect(after).toEqual(before);
          await revoke.query(`DELETE FROM regional_settings WHERE id = ${shared} AND region = 'US'`);
        }
      },
    );
  });

  it('text keys of two collations: the packed pages compare them; where the stacked statement must, exit 2 saying what to do', async () => {
    await withTables(
      {
        collation_settings: '(id BIGINT UNSIGNED PRIMARY KEY, status VARCHAR(16) NULL, issuedCount INT NULL, usedCount INT NULL)',
        general_codes: '(id INT AUTO_INCREMENT PRIMARY KEY, settingId VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL, KEY (settingId))',
        unicode_uses: '(id INT AUTO_INCREMENT PRIMARY KEY, settingId VARCHAR(20) COLLATE utf8mb4_unicode_ci NOT NULL, KEY (settingId))',
      },
      async () => {
        // Issued 1 and used 0 cached everywhere: 2 and 3 drift, 1 and 4 do not.
        await revoke.query("INSERT INTO collation_settings VALUES (1, 'ACTIVE', 1, 0), (2, 'ACTIVE', 1, 0), (3, 'ACTIVE', 1, 0), (4, 'ACTIVE', 1, 0)");
        await revoke.query("INSERT INTO general_codes (settingId) VALUES ('1'), ('2'), ('2'), ('4')");
        await revoke.query("INSERT INTO unicode_uses (settingId) VALUES ('3')");
        const config = writeConfig('collations.json', {
          settings: { table: 'collation_settings' },
          counters: { issuedCount: { table: 'general_codes', foreignKey: 'settingId' }, usedCount: { table: 'unicode_uses', foreignKey: 'settingId' } },
        });
        const checked = await runCli(['check', '--url', revoke.url, '--config', config, '--format', 'json']);
        expect(checked.code, checked.stderr).toBe(1);
        const report = parseJson(checked) as { drifted: { id: string; counters: Record<string, { cached: number; actual: number }> }[] };
        expect(report.drifted.map((setting) => [setting.id, setting.counters['issuedCount']!.actual, setting.counters['usedCount']!.actual])).toEqual([
          ['2', 2, 0],
          ['3', 0, 1],
        ]);
        expect((await runCli(['check', '--url', revoke.url, '--config', config, '--ids', '1,4'])).code).toBe(0);
        // A key that is not plain digits sends its page to the stacked statement.
        await revoke.query("INSERT INTO unicode_uses (settingId) VALUES ('04')");
        const [before] = await revoke.conn.query<RowDataPacket[]>('SELECT * FROM collation_settings ORDER BY id');
        for (const command of [['check'], ['repair', '--yes']]) {
          const result = await runCli([...command, '--url', revoke.url, '--config', config]);
          expect(result.code, result.stderr).toBe(2);
          expect(result.stderr.trim()).toBe(
            "coupon-audit: The text columns general_codes.settingId, unicode_uses.settingId have different collations, and the server cannot compare their keys in one statement (Illegal mix of collations for operation 'UNION'). " +
              'Give them one collation, or audit the counters one at a time (--columns issuedCount, then --columns usedCount); nothing was written.',
          );
        }
        const [after] = await revoke.conn.query<RowDataPacket[]>('SELECT * FROM collation_settings ORDER BY id');
        expect(after).toEqual(before);
        // As it says: one counter at a time ('04' is no setting's: an orphan).
        const used = await runCli(['check', '--url', revoke.url, '--config', config, '--columns', 'usedCount', '--format', 'json']);
        expect((parseJson(used) as { drifted: { id: string }[] }).drifted.map((setting) => setting.id)).toEqual(['3']);
      },
    );
  });

  it("a deleted status the status column's character set cannot hold: exit 2 saying so before anything is read (it was a database error mid-scan)", async () => {
    await withTables(
      {
        latin_settings: "(id INT PRIMARY KEY, status VARCHAR(16) CHARACTER SET latin1 NOT NULL DEFAULT 'ACTIVE', issuedCount INT NULL)",
        latin_codes: '(id INT AUTO_INCREMENT PRIMARY KEY, settingId VARCHAR(20) NOT NULL, KEY (settingId))',
      },
      async () => {
        await revoke.query('INSERT INTO latin_settings (id, issuedCount) VALUES (1, 0)');
        const config = writeConfig('latin.json', {
          settings: { table: 'latin_settings', deletedStatus: '삭제됨' },
          counters: { issuedCount: { table: 'latin_codes', foreignKey: 'settingId' } },
        });
        for (const command of [['check'], ['check', '--deleted', 'skip'], ['repair', '--yes']]) {
          const result = await runCli([...command, '--url', revoke.url, '--config', config]);
          expect(result.code, result.stderr).toBe(2);
          expect(result.stderr).toContain(
            "latin_settings cannot be read as the audit reads it: Illegal mix of collations (latin1_swedish_ci,IMPLICIT) and (utf8mb4_general_ci,COERCIBLE) for operation '<=>' " +
              "(the deleted status '삭제됨' is compared with status in that column's collation: give one written in characters it holds). Nothing was read or written.",
          );
        }
      },
    );
  });

  it("a count past what its column holds: check and the dry run say so; repair writes the batch's other settings and leaves that one, named (exit 4)", async () => {
    await revoke.query('CREATE TABLE narrow_settings (id INT PRIMARY KEY, status VARCHAR(16) NULL, issuedCount TINYINT UNSIGNED NULL)');
    await revoke.query('CREATE TABLE narrow_codes (id INT AUTO_INCREMENT PRIMARY KEY, settingId INT NOT NULL, KEY (settingId))');
    try {
      // Setting 1 has 300 codes (past 255), 2 has 2 and caches 9 (drifted, fixable), 3 is right.
      await revoke.query("INSERT INTO narrow_settings VALUES (1, 'ACTIVE', 5), (2, 'ACTIVE', 9), (3, 'ACTIVE', 1)");
      await revoke.query('INSERT INTO narrow_codes (settingId) SELECT 1 FROM seq_1_to_300');
      await revoke.query('INSERT INTO narrow_codes (settingId) VALUES (2), (2), (3)');
      const config = writeConfig('narrow.json', { settings: { table: 'narrow_settings' }, counters: { issuedCount: { table: 'narrow_codes', foreignKey: 'settingId' } }, auditTable: 'narrow_audit' });
      const doubt = 'counter issuedCount: 1 drifted setting counts past the most narrow_settings.issuedCount holds, 255 (setting 1: 300); repair leaves it (exit 4) until the column is widened.';
      const checked = await runCli(['check', '--url', revoke.url, '--config', config]);
      expect(checked.code).toBe(1);
      expect(checked.stderr).toContain(doubt);
      const planned = await runCli(['repair', '--dry-run', '--url', revoke.url, '--config', config, '--format', 'json']);
      const plan = parseJson(planned) as unknown as { summary: { doubts: string[] }; changes: { id: string }[] };
      // The text plan says, beside its last line, what it leaves out.
      const planText = await runCli(['repair', '--dry-run', '--url', revoke.url, '--config', config]);
      expect(planText.stdout).toContain('dry run: would change 1 setting (1 counter)');
      expect(planText.stdout).toContain('1 more drifted setting (1) would be left: a count past what its column holds (the warning above); repair exits 4 until the column is widened.');
      expect(plan.summary.doubts).toEqual([doubt]);
      // What repair would write leaves it out, and so does the change script (its UPDATE would stop the script, or clip).
      expect(plan.changes.map((change) => change.id)).toEqual(['2']);
      const script = join(dir, 'narrow.sql');
      const emitted = await runCli(['repair', '--emit-sql', script, '--url', revoke.url, '--config', config]);
      expect(emitted.code, emitted.stderr).toBe(1);
      const updates = readFileSync(script, 'utf8').split('\n').filter((line) => line.startsWith('/* coupon-audit */ UPDATE'));
      expect(updates).toHaveLength(1);
      expect(updates[0]).toContain('WHERE `id` = 2 AND');
      const repaired = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config, '--format', 'json']);
      expect(repaired.code, repaired.stderr).toBe(4);
      // A log of stderr alone (stdout to a file) says so too.
      expect(repaired.stderr).toContain('1 drifted setting not repaired (failed, stillDrifted, uncertain in the report): exit 4.');
      const report = parseJson(repaired) as unknown as { summary: { repaired: number; failed: number }; failed: { id: string; reason: string }[] };
      expect(report.summary).toMatchObject({ repaired: 1, failed: 1 });
      expect(report.failed).toEqual([{ id: '1', reason: 'issuedCount counts 300, past the most narrow_settings.issuedCount holds (255): widen the column, then rerun', unfit: true }]);
      const [rows] = await revoke.conn.query<RowDataPacket[]>('SELECT id, issuedCount FROM narrow_settings ORDER BY id');
      expect(rows.map((row) => [row['id'], row['issuedCount']])).toEqual([[1, 5], [2, 2], [3, 1]]);
      // The text report names it apart from settings left locked.
      await revoke.query('UPDATE narrow_settings SET issuedCount = 9 WHERE id = 2');
      const text = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config]);
      expect(text.code).toBe(4);
      expect(text.stdout).toContain('Not repaired: setting 1: issuedCount counts 300, past the most narrow_settings.issuedCount holds (255): widen the column, then rerun.');
      expect(text.stdout).not.toContain('still locked');
      // A run that stops on an error after a commit (a trigger failing on setting 3's write, batches
      // of one: 1 left, 2 written, then 3) is exit 3, with no such line.
      await revoke.query('UPDATE narrow_settings SET issuedCount = 9 WHERE id IN (2, 3)');
      await revoke.query('CREATE TRIGGER narrow_refuse BEFORE UPDATE ON narrow_settings FOR EACH ROW BEGIN IF NEW.id = 3 THEN INSERT INTO narrow_no_such_table VALUES (1); END IF; END');
      const stopped = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config, '--format', 'json', '--batch-size', '1', '--write-concurrency', '1']);
      expect(stopped.code, stopped.stderr).toBe(3);
      expect(stopped.stderr).toContain('narrow_no_such_table');
      expect(stopped.stderr).not.toContain('not repaired (failed, stillDrifted');
    } finally {
      await revoke.query('DROP TRIGGER IF EXISTS narrow_refuse');
      await revoke.query('DROP TABLE IF EXISTS narrow_settings, narrow_codes, narrow_audit');
    }
  });

  it('a trigger that puts a value back (a frozen setting) or sets its own: the audit rows and the report say what the rows hold; such a setting fails (exit 4), named', async () => {
    // A trial's trigger kept a frozen setting's count: repair said "Repaired", wrote an audit row for
    // a change that never happened, on every rerun, and blamed "something outside a transaction".
    await withTables(
      {
        frozen_settings: '(id BIGINT UNSIGNED PRIMARY KEY, status VARCHAR(16) NULL, issuedCount INT NULL, usedCount INT NULL, frozen TINYINT NOT NULL DEFAULT 0)',
        frozen_codes: '(id INT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT UNSIGNED NOT NULL, KEY (settingId))',
        frozen_uses: '(id INT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT UNSIGNED NOT NULL, KEY (settingId))',
      },
      async () => {
        // 1: plain drift. 2: frozen, its issuedCount kept while its usedCount is written (the row
        // still counts as changed). 3: the trigger adds 10 to whatever is written. 4: the trigger sets
        // usedCount, which was right and not written, to 99. 5: the trigger sets issuedCount NULL.
        await revoke.query("INSERT INTO frozen_settings VALUES (1, 'ACTIVE', 5, 0, 0), (2, 'ACTIVE', 6, 0, 1), (3, 'ACTIVE', 0, 0, 0), (4, 'ACTIVE', 7, 0, 0), (5, 'ACTIVE', 7, 0, 0)");
        await revoke.query('INSERT INTO frozen_codes (settingId) VALUES (1), (1), (2), (2), (2), (3), (4), (5)');
        await revoke.query('INSERT INTO frozen_uses (settingId) VALUES (2), (2)');
        await revoke.query(
          'CREATE TRIGGER frozen_keep BEFORE UPDATE ON frozen_settings FOR EACH ROW BEGIN ' +
            'IF OLD.frozen = 1 THEN SET NEW.issuedCount = OLD.issuedCount; END IF; IF NEW.id = 3 THEN SET NEW.issuedCount = NEW.issuedCount + 10; END IF; ' +
            'IF NEW.id = 4 THEN SET NEW.usedCount = 99; END IF; IF NEW.id = 5 THEN SET NEW.issuedCount = NULL; END IF; END',
        );
        const config = writeConfig('frozen.json', {
          settings: { table: 'frozen_settings' },
          counters: { issuedCount: { table: 'frozen_codes', foreignKey: 'settingId' }, usedCount: { table: 'frozen_uses', foreignKey: 'settingId' } },
          auditTable: 'frozen_audit',
        });
        const run = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config, '--format', 'json']);
        expect(run.code, run.stderr).toBe(4);
        const report = JSON.parse(run.stdout) as { summary: Record<string, unknown>; changes: unknown[]; failed: unknown[]; stillDrifted: unknown[] };
        expect(report.changes).toEqual([
          { id: '1', counter: 'issuedCount', old: 5, new: 2 },
          { id: '2', counter: 'usedCount', old: 0, new: 2 },
          { id: '3', counter: 'issuedCount', old: 0, new: 11 },
          { id: '4', counter: 'issuedCount', old: 7, new: 1 },
          { id: '4', counter: 'usedCount', old: 0, new: 99 }, // the trigger's, made by repair's UPDATE: recorded
        ]);
        const also = ': something on the table does that (a trigger? SHOW TRIGGERS shows them), and a rerun would too';
        expect(report.failed).toEqual([
          { id: '2', reason: `issuedCount kept 6 where repair wrote 3${also}`, kept: true },
          { id: '3', reason: `issuedCount became 11 where repair wrote 1${also}`, kept: true },
          { id: '4', reason: `usedCount became 99 though repair wrote none${also}`, kept: true },
          { id: '5', reason: `issuedCount became NULL where repair wrote 1${also}`, kept: true }, // no audit row can hold NULL
        ]);
        expect(report.stillDrifted).toEqual([]); // named once, as failed
        expect(report.summary).toMatchObject({ repaired: 1, failed: 4, stillDrifted: 0 });
        const audit = async () => (await revoke.conn.query<RowDataPacket[]>('SELECT settingId, counterName, oldValue, newValue FROM frozen_audit ORDER BY id'))[0].map((row) => Object.values(row).map(String).join(' '));
        const first = ['1 issuedCount 5 2', '2 usedCount 0 2', '3 issuedCount 0 11', '4 issuedCount 7 1', '4 usedCount 0 99'];
        expect(await audit()).toEqual(first);
        // The rerun: the frozen and the +10 fail again, said as such (not "still locked"), with audit rows only for what changed.
        await revoke.query('DROP TRIGGER frozen_keep');
        await revoke.query('UPDATE frozen_settings SET usedCount = 0 WHERE id = 4');
        await revoke.query('UPDATE frozen_settings SET issuedCount = 1 WHERE id = 5');
        await revoke.query(
          'CREATE TRIGGER frozen_keep BEFORE UPDATE ON frozen_settings FOR EACH ROW BEGIN ' +
            'IF OLD.frozen = 1 THEN SET NEW.issuedCount = OLD.issuedCount; END IF; IF NEW.id = 3 THEN SET NEW.issuedCount = NEW.issuedCount + 10; END IF; END',
        );
        const again = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config]);
        expect(again.code, again.stderr).toBe(4);
        expect(again.stdout).toContain(`Not repaired: setting 2: issuedCount kept 6 where repair wrote 3${also};`);
        expect(again.stdout).not.toContain('still locked');
        expect(again.stdout).not.toContain('Still drifted');
        expect(again.stdout).toContain('setting 3: issuedCount kept 11 where repair wrote 1'); // 1 + 10 is 11 again
        expect(await audit()).toEqual(first); // nothing changed
        // The library's beforeCommit is handed what the batch commits, as the rows hold it.
        await revoke.query('UPDATE frozen_settings SET issuedCount = 5 WHERE id = 1');
        const committing: unknown[] = [];
        const done = await repair({ url: revoke.url, config, beforeCommit: ({ changes }) => void committing.push(...changes) });
        expect(committing).toEqual([{ id: '1', counter: 'issuedCount', old: 5, new: 2 }]);
        expect(done.changes).toEqual(committing);
      },
      ['frozen_audit'], // repair makes it
    );
  });

  it('a trigger made while repair runs is seen from the next batch on: those settings fail with what the rows hold, the audit rows say it', async () => {
    // A review's run: the trigger count was taken once, before the first batch, so every batch
    // after a mid-run CREATE TRIGGER trusted "Changed: n" (a trigger's own value counts as changed).
    await withIssuedCounter('midrun', async (config) => {
      await revoke.query("INSERT INTO midrun_settings SELECT seq, 'ACTIVE', 5 FROM seq_1_to_6"); // no codes: each writes 0
      const ddl = await revoke.connect();
      // Assigned in a callback: TypeScript cannot see that, hence the holder object.
      const made: { ddl: Promise<unknown> | null } = { ddl: null };
      try {
        const done = await repair({
          url: revoke.url,
          config,
          batchSize: 2,
          writeConcurrency: 1,
          // Inside the first batch: the CREATE waits for its metadata lock, and is made before the next batch locks its rows.
          beforeCommit: () => {
            made.ddl ??= ddl.query('CREATE TRIGGER midrun_plus BEFORE UPDATE ON midrun_settings FOR EACH ROW SET NEW.issuedCount = NEW.issuedCount + 10');
          },
        }).then(
          (report) => report,
          (error: unknown) => error,
        );
        await made.ddl;
        const report = done as { changes: { id: string; new: number }[]; failed: { id: string; reason: string }[]; stillDrifted: string[] };
        expect(report.changes.map((change) => `${change.id}→${change.new}`)).toEqual(['1→0', '2→0', '3→10', '4→10', '5→10', '6→10']);
        expect(report.failed.map((failure) => [failure.id, failure.reason.split(':')[0]])).toEqual(
          ['3', '4', '5', '6'].map((id) => [id, 'issuedCount became 10 where repair wrote 0']),
        );
        expect(report.stillDrifted).toEqual([]);
        const [audit] = await revoke.conn.query<RowDataPacket[]>('SELECT settingId, newValue FROM midrun_audit ORDER BY id');
        expect(audit.map((row) => `${row['settingId']}→${row['newValue']}`)).toEqual(['1→0', '2→0', '3→10', '4→10', '5→10', '6→10']);
      } finally {
        await made.ddl?.catch(() => undefined);
        await ddl.end();
      }
    });
  });

  it("a settings view over a table with a trigger: the trigger's own value is seen (the view lists no trigger of its own)", async () => {
    await withIssuedCounter('vbase', async (config) => {
      await revoke.query('CREATE VIEW vbase_view AS SELECT id, status, issuedCount FROM vbase_settings');
      try {
        await revoke.query("INSERT INTO vbase_settings VALUES (1, 'ACTIVE', 5), (2, 'ACTIVE', 5)");
        await revoke.query('INSERT INTO vbase_codes (settingId) VALUES (1), (2), (2)');
        // The row changes (to 12, not 2): only a read-back can tell, and the view shows no trigger.
        await revoke.query('CREATE TRIGGER vbase_plus BEFORE UPDATE ON vbase_settings FOR EACH ROW BEGIN IF NEW.id = 2 THEN SET NEW.issuedCount = NEW.issuedCount + 10; END IF; END');
        // MariaDB 10.11 matches no row with the first UPDATE through the view after its table's
        // trigger was made (seen here; the read-back then reports every setting kept): one first.
        await revoke.query('UPDATE vbase_view SET status = status WHERE id = 1');
        const run = await runCli(['repair', '--yes', '--url', revoke.url, '--config', writeConfig('vbase.json', { ...config, settings: { table: 'vbase_view' } }), '--format', 'json']);
        expect(run.code, run.stderr).toBe(4);
        const report = JSON.parse(run.stdout) as { failed: { id: string; reason: string }[]; stillDrifted: string[] };
        expect(report.failed.map((failure) => [failure.id, failure.reason.split(':')[0]])).toEqual([['2', 'issuedCount became 12 where repair wrote 2']]);
        expect(report.stillDrifted).toEqual([]);
      } finally {
        await revoke.query('DROP VIEW IF EXISTS vbase_view');
      }
    });
  });

  it('a CHECK constraint the true counts break refuses that setting only: the others are written, it is named with the constraint (exit 4)', async () => {
    // A trial's CHECK (usedCount <= issuedCount), with a setting that has more uses than codes: the
    // whole repair stopped at the first batch (exit 3, "Database error"), nothing written.
    await withTables(
      {
        checked_settings: '(id BIGINT UNSIGNED PRIMARY KEY, status VARCHAR(16) NULL, issuedCount INT NULL, usedCount INT NULL, CONSTRAINT used_le_issued CHECK (usedCount <= issuedCount))',
        checked_codes: '(id INT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT UNSIGNED NOT NULL, KEY (settingId))',
        checked_uses: '(id INT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT UNSIGNED NOT NULL, KEY (settingId))',
      },
      async () => {
        // 1: 1 code, 3 uses (its true counts break the constraint); 2: 20/20 cached, 2 codes and 1 use
        // (one UPDATE writes both, so the constraint holds); 3: right.
        await revoke.query("INSERT INTO checked_settings VALUES (1, 'ACTIVE', 5, 0), (2, 'ACTIVE', 20, 20), (3, 'ACTIVE', 1, 0)");
        await revoke.query('INSERT INTO checked_codes (settingId) VALUES (1), (2), (2), (3)');
        await revoke.query('INSERT INTO checked_uses (settingId) VALUES (1), (1), (1), (2)');
        const config = writeConfig('checked.json', {
          settings: { table: 'checked_settings' },
          counters: { issuedCount: { table: 'checked_codes', foreignKey: 'settingId' }, usedCount: { table: 'checked_uses', foreignKey: 'settingId' } },
          auditTable: 'checked_audit',
        });
        // --emit-sql writes both of 2's counters in one statement: applied by hand, the constraint holds
        // (a counter per statement was refused at 2/20 issued/used).
        const script = join(dir, 'checked.sql');
        expect((await runCli(['repair', '--emit-sql', script, '--ids', '2', '--url', revoke.url, '--config', config])).code).toBe(1);
        mariadb(revoke.name, readFileSync(script, 'utf8'));
        const [[applied]] = await revoke.conn.query<RowDataPacket[]>('SELECT issuedCount, usedCount FROM checked_settings WHERE id = 2');
        expect([applied!['issuedCount'], applied!['usedCount']]).toEqual([2, 1]);
        await revoke.query('UPDATE checked_settings SET issuedCount = 20, usedCount = 20 WHERE id = 2');
        const run = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config, '--format', 'json']);
        expect(run.code, run.stderr).toBe(4);
        const report = JSON.parse(run.stdout) as { changes: unknown[]; failed: { id: string; reason: string; refused?: true }[] };
        expect(report.changes).toEqual([
          { id: '2', counter: 'issuedCount', old: 20, new: 2 },
          { id: '2', counter: 'usedCount', old: 20, new: 1 },
        ]);
        expect(report.failed).toHaveLength(1);
        expect(report.failed[0]).toMatchObject({ id: '1', refused: true });
        expect(report.failed[0]!.reason).toMatch(
          /^the server refused its write: ".*used_le_issued.*" \(error 4025, a CHECK constraint of checked_settings refused the row as repair would write it; correct the data or the constraint\), and a rerun would too$/,
        );
        const [rows] = await revoke.conn.query<RowDataPacket[]>('SELECT id, issuedCount, usedCount FROM checked_settings ORDER BY id');
        expect(rows.map((row) => [String(row['id']), row['issuedCount'], row['usedCount']])).toEqual([['1', 5, 0], ['2', 2, 1], ['3', 1, 0]]);
        // The audit table's own constraint is named as its (a review's: it was blamed on the true counts).
        await revoke.query('ALTER TABLE checked_settings DROP CONSTRAINT used_le_issued');
        await revoke.query('ALTER TABLE checked_audit ADD CONSTRAINT audit_old_nonneg CHECK (oldValue >= 0)');
        await revoke.query('UPDATE checked_settings SET issuedCount = -1 WHERE id = 3');
        const audited = JSON.parse((await runCli(['repair', '--yes', '--url', revoke.url, '--config', config, '--ids', '3', '--format', 'json'])).stdout) as { failed: { reason: string }[] };
        expect(audited.failed[0]!.reason).toContain('a CHECK constraint of the audit table checked_audit refused the row recording the write; correct the constraint');
      },
      ['checked_audit'],
    );
  });

  it("a trigger's SIGNAL refusing some settings' writes: the batch is redone a setting at a time, the others written, the refused named (exit 4), nothing half-written", async () => {
    // A trial's trigger refused any decrease of issuedCount: the whole batch failed (exit 3), and the
    // summary said the settings were "not reached" and that a rerun would finish them.
    await withIssuedCounter('guarded', async (guarded) => {
      // 1 and 3 too high (a decrease: refused), 2 and 4 too low (written); one batch.
      await revoke.query("INSERT INTO guarded_settings VALUES (1, 'ACTIVE', 5), (2, 'ACTIVE', 0), (3, 'ACTIVE', 4), (4, 'ACTIVE', NULL)");
      await revoke.query('INSERT INTO guarded_codes (settingId) VALUES (1), (2), (2), (3), (4)');
      await revoke.query(
        "CREATE TRIGGER guarded_no_decrease BEFORE UPDATE ON guarded_settings FOR EACH ROW BEGIN IF NEW.issuedCount < OLD.issuedCount THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'issuedCount may not decrease'; END IF; END",
      );
      const config = writeConfig('guarded.json', guarded);
      const run = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config, '--format', 'json']);
      expect(run.code, run.stderr).toBe(4);
      const report = JSON.parse(run.stdout) as { summary: Record<string, unknown>; changes: unknown[]; failed: unknown[] };
      expect(report.changes).toEqual([
        { id: '2', counter: 'issuedCount', old: 0, new: 2 },
        { id: '4', counter: 'issuedCount', old: null, new: 1 },
      ]);
      const reason = 'the server refused its write: "issuedCount may not decrease" (error 1644, a trigger\'s SIGNAL?), and a rerun would too';
      expect(report.failed).toEqual([
        { id: '1', reason, refused: true },
        { id: '3', reason, refused: true },
      ]);
      expect(report.summary).toMatchObject({ repaired: 2, failed: 2, notReached: 0, stillDrifted: 0 });
      const [rows] = await revoke.conn.query<RowDataPacket[]>('SELECT id, issuedCount FROM guarded_settings ORDER BY id');
      expect(rows.map((row) => [String(row['id']), row['issuedCount']])).toEqual([['1', 5], ['2', 2], ['3', 4], ['4', 1]]);
      const [audit] = await revoke.conn.query<RowDataPacket[]>('SELECT settingId, newValue FROM guarded_audit ORDER BY id');
      expect(audit.map((row) => `${row['settingId']} ${row['newValue']}`)).toEqual(['2 2', '4 1']);
      // The text says it once for both, and not as a lock or as settings not reached.
      const text = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config]);
      expect(text.code, text.stderr).toBe(4);
      expect(text.stdout).toContain(`Not repaired: settings 1, 3: ${reason}.`);
      expect(text.stdout).not.toMatch(/still locked|not reached/);
      // A trigger that refuses them all: the run stops after REFUSALS_BEFORE_STOP in a row (exit 3),
      // instead of trying each of the rest alone; a setting written between starts the count again.
      await revoke.query("INSERT INTO guarded_settings SELECT seq, 'ACTIVE', IF(seq = 140, 0, 9) FROM seq_100_to_299"); // 140: a write it lets through
      await revoke.query('INSERT INTO guarded_codes (settingId) SELECT seq FROM seq_100_to_299');
      const stopped = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config, '--batch-size', '10', '--write-concurrency', '1', '--format', 'json']);
      expect(stopped.code, stopped.stderr).toBe(3);
      expect(stopped.stderr).toContain(
        `coupon-audit: The server refused the writes of ${REFUSALS_BEFORE_STOP} settings in a row, each alone (the server refused its write: "issuedCount may not decrease" (error 1644, a trigger's SIGNAL?)): ` +
          'a trigger or a CHECK constraint that refuses every write? Stopped there (those are named); nothing of them was written.',
      );
      const [[{ n }]] = (await revoke.conn.query("SELECT COUNT(*) AS n FROM guarded_settings WHERE id >= 100 AND issuedCount = 1")) as unknown as [[{ n: number }]];
      expect(Number(n)).toBe(1); // setting 140 only
      // 1 and 3 again, 100-139, then 50 in a row from 141; what is left was not reached.
      expect((JSON.parse(stopped.stdout) as { summary: Record<string, unknown> }).summary).toMatchObject({ repaired: 1, failed: 2 + 40 + REFUSALS_BEFORE_STOP, notReached: 200 - 41 - REFUSALS_BEFORE_STOP });
    });
  });

  it("a filter that compares a text column with an expression of the connection's collation works on tables of the database's default collation, unicode_ci too", async () => {
    // The connection takes the --url database's default collation. The driver's own
    // (utf8mb4_unicode_ci) made `code <> CAST(settingId AS CHAR)` an illegal mix of collations on a
    // general_ci database's tables (exit 2); the server's utf8mb4 default would on a unicode_ci one.
    const unicode = await createTestDatabase('config_unicode', { schema: false });
    try {
      await unicode.query(`ALTER DATABASE \`${unicode.name}\` COLLATE utf8mb4_unicode_ci`);
      for (const db of [revoke, unicode]) {
        await db.query('CREATE TABLE cast_settings (id INT PRIMARY KEY, status VARCHAR(16) NULL, issuedCount INT NULL)');
        await db.query('CREATE TABLE cast_codes (id INT AUTO_INCREMENT PRIMARY KEY, settingId INT NOT NULL, code VARCHAR(16) NOT NULL, KEY (settingId))');
        try {
          await db.query("INSERT INTO cast_settings VALUES (1, 'ACTIVE', 1), (2, 'ACTIVE', 5)");
          await db.query("INSERT INTO cast_codes (settingId, code) VALUES (1, 'a'), (1, '1'), (2, 'b'), (2, '2')");
          const where = 'code <> CAST(settingId AS CHAR)';
          const config = writeConfig('cast.json', { settings: { table: 'cast_settings' }, counters: { issuedCount: { table: 'cast_codes', foreignKey: 'settingId', where } } });
          const checked = await runCli(['check', '--url', db.url, '--config', config, '--format', 'json']);
          expect(checked.code, checked.stderr).toBe(1);
          const report = parseJson(checked) as unknown as { drifted: { id: string; counters: { issuedCount: { cached: number; actual: number } } }[] };
          // '1' and '2' are their settings' own ids: not counted.
          expect(report.drifted.map((setting) => [setting.id, setting.counters.issuedCount.cached, setting.counters.issuedCount.actual])).toEqual([['2', 5, 1]]);
        } finally {
          await db.query('DROP TABLE IF EXISTS cast_settings, cast_codes');
        }
      }
      // A table of another collation than the database's: the filter needs a COLLATE, which the refusal names.
      await unicode.query('CREATE TABLE cast_settings (id INT PRIMARY KEY, status VARCHAR(16) NULL, issuedCount INT NULL)');
      await unicode.query('CREATE TABLE cast_codes (id INT AUTO_INCREMENT PRIMARY KEY, settingId INT NOT NULL, code VARCHAR(16) NOT NULL, KEY (settingId)) COLLATE utf8mb4_general_ci');
      const config = writeConfig('cast-other.json', { settings: { table: 'cast_settings' }, counters: { issuedCount: { table: 'cast_codes', foreignKey: 'settingId', where: 'code <> CAST(settingId AS CHAR)' } } });
      const refused = await runCli(['check', '--url', unicode.url, '--config', config]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(
        "for operation '<>' (coupon-audit's connection collation here is utf8mb4_unicode_ci: give the filter's text expression the column's collation, e.g. CAST(id AS CHAR) COLLATE utf8mb4_unicode_ci)",
      );
      const collated = writeConfig('cast-collated.json', {
        settings: { table: 'cast_settings' },
        counters: { issuedCount: { table: 'cast_codes', foreignKey: 'settingId', where: 'code <> CAST(settingId AS CHAR) COLLATE utf8mb4_general_ci' } },
      });
      expect((await runCli(['check', '--url', unicode.url, '--config', collated])).code).toBe(0);
    } finally {
      await unicode.drop();
    }
  });

  it('a filter that compiles but fails on a row it meets is named with its counter (exit 2), not a bare database error', async () => {
    // Two codes of setting 1 make the subquery return two rows: only running it finds that.
    const where = '(SELECT c2.id FROM g_coupons c2 WHERE c2.settingId = g_coupons.settingId) > 0';
    const config = writeConfig('runtime-where.json', { counters: { usedCount: REVOKE_CONFIG.counters.usedCount, issuedCount: { table: 'g_coupons', foreignKey: 'settingId', where } } });
    const before = await settingsSnapshot(revoke.conn);
    for (const command of [['check'], ['repair', '--yes'], ['check', '--ids', '1,2']]) {
      const result = await runCli([...command, '--url', revoke.url, '--config', config]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(`counter issuedCount: the filter "${where}" fails on the server for a row of g_coupons (`);
      expect(result.stderr).toContain('Subquery returns more than 1 row. Fix it in the config; nothing was written.');
      expect(result.stdout).toBe('');
    }
    expect(await settingsSnapshot(revoke.conn)).toEqual(before);
    // The same on the whole-table scan, for a child table without an index on its key.
    await revoke.query('CREATE TABLE g_coupons_copy AS SELECT * FROM g_coupons');
    try {
      const copyWhere = '(SELECT c2.id FROM g_coupons_copy c2 WHERE c2.settingId = g_coupons_copy.settingId) > 0';
      const unindexed = writeConfig('runtime-where-scan.json', { counters: { issuedCount: { table: 'g_coupons_copy', foreignKey: 'settingId', where: copyWhere } } });
      const result = await runCli(['check', '--url', revoke.url, '--config', unindexed]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(`counter issuedCount: the filter "${copyWhere}" fails on the server for a row of g_coupons_copy (any setting): Subquery returns more than 1 row.`);
    } finally {
      await revoke.query('DROP TABLE g_coupons_copy');
    }
  });

  it('ids past 20 digits (a DECIMAL(30,0) key) are audited exactly; an older audit table stops the batch naming settingId, not oldValue', async () => {
    await revoke.query('CREATE TABLE wide_settings (id DECIMAL(30,0) PRIMARY KEY, status VARCHAR(16) NOT NULL, issuedCount INT NULL)');
    await revoke.query('CREATE TABLE wide_codes (id INT AUTO_INCREMENT PRIMARY KEY, settingId DECIMAL(30,0) NOT NULL, KEY (settingId))');
    await revoke.query(OLD_AUDIT_TABLE);
    const big = '1000000000000000000000000'; // 10^24
    try {
      await revoke.query(`INSERT INTO wide_settings VALUES (${big}, 'ACTIVE', 2), (7, 'ACTIVE', 0)`);
      await revoke.query(`INSERT INTO wide_codes (settingId) VALUES (${big}), (7)`);
      const config = writeConfig('wide.json', { settings: { table: 'wide_settings' }, counters: { issuedCount: { table: 'wide_codes', foreignKey: 'settingId' } } });
      const narrow = await runCli(['repair', '--url', revoke.url, '--config', config, '--yes', '--audit-table', 'old_audit']);
      expect(narrow.code, narrow.stderr).toBe(3);
      expect(narrow.stderr).toContain("Out of range value for column 'settingId'");
      expect(narrow.stderr).toContain('ALTER TABLE `old_audit` MODIFY settingId DECIMAL(65, 0) NOT NULL;');
      const fresh = await runCli(['repair', '--url', revoke.url, '--config', config, '--yes', '--audit-table', 'wide_audit']);
      expect(fresh.code, fresh.stderr).toBe(0);
      const [rows] = await revoke.conn.query<RowDataPacket[]>('SELECT CAST(settingId AS CHAR) AS id, CAST(oldValue AS CHAR) AS old, newValue FROM wide_audit ORDER BY settingId');
      expect(rows.map((row) => [row['id'], row['old'], String(row['newValue'])])).toEqual([['7', '0', '1'], [big, '2', '1']]);
    } finally {
      await revoke.query('DROP TABLE IF EXISTS wide_settings, wide_codes, old_audit, wide_audit');
    }
  });

  it('a child table that is a view: indexed when the server reads a range of its keys by its table\'s index; else the advice is to index that table (a view takes no CREATE INDEX)', async () => {
    const viewer = `ca_viewer_${process.pid}`;
    await revoke.query('CREATE VIEW v_codes AS SELECT id, settingId, status FROM g_coupons');
    await revoke.query('CREATE TABLE plain_uses (id INT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT UNSIGNED NULL)');
    await revoke.query('CREATE VIEW v_uses AS SELECT id, settingId FROM plain_uses');
    try {
      const config = writeConfig('view-codes.json', { counters: { issuedCount: { table: 'v_codes', foreignKey: 'settingId' }, usedCount: { table: 'v_uses', foreignKey: 'settingId' } } });
      const fix = 'v_uses is a view, which has no index of its own: index the column it shows as settingId in the table it reads';
      const checked = await runCli(['check', '--url', revoke.url, '--config', config]);
      expect([0, 1], checked.stderr).toContain(checked.code);
      expect(checked.stderr).toContain(`v_uses has no index starting with settingId, so every check reads the whole table (once, in one pass). This fixes it: ${fix}`);
      expect(checked.stderr).not.toContain('v_codes has no index'); // g_coupons' index serves it
      expect(checked.stderr).not.toContain('CREATE INDEX');
      const doctor = JSON.parse((await runCli(['doctor', '--url', revoke.url, '--config', config, '--format', 'json'])).stdout) as { checks: { name: string; status: string; fix?: string }[] };
      expect(doctor.checks.find((check) => check.name === 'index v_uses')).toMatchObject({ status: 'warn', fix });
      expect(doctor.checks.find((check) => check.name === 'index v_codes')).toMatchObject({ status: 'ok' });
      // An account that may read the views but not their tables may not EXPLAIN them (1345): not
      // known, so read whole and warned about, as before; not a database error (a review's find).
      await revoke.query(`CREATE USER ${viewer}@'%'`);
      await revoke.query(`GRANT SELECT ON \`${revoke.name}\`.v_codes TO ${viewer}@'%'`);
      await revoke.query(`GRANT SELECT ON \`${revoke.name}\`.v_uses TO ${viewer}@'%'`);
      await revoke.query(`GRANT SELECT ON \`${revoke.name}\`.g_coupon_settings TO ${viewer}@'%'`);
      const url = new URL(revoke.url);
      url.username = viewer;
      url.password = '';
      const viewOnly = await runCli(['check', '--url', url.toString(), '--config', config]);
      expect([0, 1], viewOnly.stderr).toContain(viewOnly.code);
      expect(viewOnly.stderr).toContain('v_codes has no index starting with settingId');
    } finally {
      await revoke.query(`DROP USER IF EXISTS ${viewer}@'%'`);
      await revoke.query('DROP VIEW IF EXISTS v_codes, v_uses');
      await revoke.query('DROP TABLE IF EXISTS plain_uses');
    }
  });

  it('a settings id column that leads no unique index (two rows could share an id) is refused: exit 2, nothing read or written; a view is taken as it is', async () => {
    await revoke.query('ALTER TABLE g_coupon_settings ADD legacyId INT NULL, ADD INDEX (legacyId)');
    try {
      await revoke.query('UPDATE g_coupon_settings SET legacyId = 7');
      const before = await settingsSnapshot(revoke.conn);
      const config = writeConfig('legacy-id.json', { settings: { id: 'legacyId' }, counters: REVOKE_CONFIG.counters });
      const message = 'g_coupon_settings.legacyId leads no PRIMARY KEY or UNIQUE index: the settings id must name one setting';
      for (const command of [['check'], ['repair', '--yes']]) {
        const result = await runCli([...command, '--url', revoke.url, '--config', config]);
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr).toContain(message);
        expect(result.stdout).toBe('');
      }
      expect(await settingsSnapshot(revoke.conn)).toEqual(before);
      // A UNIQUE index it leads is enough: ids need not be the PRIMARY KEY, nor alone in it (a
      // partitioned table's PRIMARY KEY (id, createdAt)).
      await revoke.query('UPDATE g_coupon_settings SET legacyId = id');
      await revoke.query('ALTER TABLE g_coupon_settings ADD UNIQUE INDEX legacy_unique (legacyId, status)');
      const unique = await runCli(['check', '--url', revoke.url, '--config', config]);
      expect([0, 1], unique.stderr).toContain(unique.code); // it runs: drift or not is earlier cases' business
      // A view has no index to tell by: taken as it is.
      await revoke.query('CREATE VIEW v_settings AS SELECT * FROM g_coupon_settings');
      const view = await runCli(['check', '--url', revoke.url, '--config', writeConfig('view.json', { settings: { table: 'v_settings' }, counters: REVOKE_CONFIG.counters })]);
      expect([0, 1], view.stderr).toContain(view.code);
    } finally {
      await revoke.query('DROP VIEW IF EXISTS v_settings');
      await revoke.query('ALTER TABLE g_coupon_settings DROP INDEX IF EXISTS legacy_unique');
      await revoke.query('ALTER TABLE g_coupon_settings DROP COLUMN legacyId');
    }
  });

  it('a counter column the server computes (generated): check compares it; repair refuses before its scan (exit 2), the dry run says so, --emit-sql writes no script, doctor fails it', async () => {
    // A trial's config named a STORED GENERATED column: check and the dry run planned writes, doctor
    // said all was well, and repair failed on the server's error 1906 (exit 3) after its scan.
    await revoke.query('ALTER TABLE g_coupon_settings ADD total INT AS (IFNULL(issuedCount, 0) + 100) STORED');
    try {
      const before = await settingsSnapshot(revoke.conn);
      const config = writeConfig('generated.json', { counters: { issuedCount: REVOKE_CONFIG.counters.issuedCount, total: { table: 'g_coupons', foreignKey: 'settingId' } } });
      const message =
        'Counter total is a generated column of g_coupon_settings (STORED GENERATED): the server computes it, so repair cannot write it: ' +
        'repair the others with --columns issuedCount (check compares every counter). Nothing was written.';
      expect((await runCli(['check', '--url', revoke.url, '--config', config])).code).toBe(1); // every total is 100 past its count
      const repaired = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config, '--verbose']);
      expect(repaired.code, repaired.stderr).toBe(2);
      expect(repaired.stderr).toContain(`coupon-audit: ${message}`);
      expect(repaired.stderr).not.toMatch(/^sql .*: compare /m); // before the scan
      const dry = await runCli(['repair', '--dry-run', '--url', revoke.url, '--config', config]);
      expect(dry.code, dry.stderr).toBe(1);
      expect(dry.stdout).toContain('Repair would stop before its scan: counter total is a generated column of g_coupon_settings (STORED GENERATED)');
      expect(dry.stdout).toMatch(/^dry run: repair would stop before its scan \(above\); with that fixed it would change \d+ settings/m);
      // A program that plans first learns it from the plan, not from the refusal after it.
      const wouldStop = 'counter total is a generated column of g_coupon_settings (STORED GENERATED): the server computes it, so repair cannot write it: repair the others with --columns issuedCount (check compares every counter)';
      expect((parseJson(await runCli(['repair', '--dry-run', '--format', 'json', '--url', revoke.url, '--config', config])) as unknown as { wouldStop?: string }).wouldStop).toBe(wouldStop);
      expect((await repair({ url: revoke.url, config, dryRun: true })).wouldStop).toBe(wouldStop);
      const script = join(dir, 'generated.sql');
      const emitted = await runCli(['repair', '--emit-sql', script, '--url', revoke.url, '--config', config]);
      expect(emitted.code, emitted.stderr).toBe(2);
      expect(emitted.stderr).toContain(`Nothing was written to ${script}.`);
      expect(existsSync(script)).toBe(false);
      // Without it, the others plan as usual.
      const others = await runCli(['repair', '--dry-run', '--columns', 'issuedCount', '--url', revoke.url, '--config', config]);
      expect(others.stdout).not.toContain('would stop');
      const doctor = JSON.parse((await runCli(['doctor', '--url', revoke.url, '--config', config, '--format', 'json'])).stdout) as { checks: { name: string; status: string; detail: string }[] };
      expect(doctor.checks.find((check) => check.name === 'counters for repair')).toMatchObject({ status: 'fail', detail: expect.stringContaining('counter total is a generated column of g_coupon_settings') });
      const forCheck = JSON.parse((await runCli(['doctor', '--for', 'check', '--url', revoke.url, '--config', config, '--format', 'json'])).stdout) as { checks: { name: string; status: string }[] };
      expect(forCheck.checks.find((check) => check.name === 'counters for repair')).toMatchObject({ status: 'info' });
      // The built-in pair is plain columns: no such line.
      const plain = JSON.parse((await runCli(['doctor', '--url', revoke.url, '--config', writeConfig('revoke.json', REVOKE_CONFIG), '--format', 'json'])).stdout) as { checks: { name: string }[] };
      expect(plain.checks.map((check) => check.name)).not.toContain('counters for repair');
      expect(await settingsSnapshot(revoke.conn)).toEqual(before);
    } finally {
      await revoke.query('ALTER TABLE g_coupon_settings DROP COLUMN total');
    }
  });

  it('a table without transactions (MyISAM, Aria) that repair locks, counts or writes: repair refuses before its scan (exit 2), the dry run and doctor say so, --emit-sql works', async () => {
    // A trial's MyISAM settings table: a batch a CHECK constraint failed kept its write, and its audit
    // row was rolled back; doctor had said "All is well" and "rows locked in batches".
    await withTables(
      {
        plain_settings: '(id BIGINT UNSIGNED PRIMARY KEY, status VARCHAR(16) NULL, issuedCount INT NULL) ENGINE=MyISAM',
        plain_codes: '(id INT AUTO_INCREMENT PRIMARY KEY, settingId BIGINT UNSIGNED NOT NULL, KEY (settingId)) ENGINE=Aria',
      },
      async () => {
        await revoke.query("INSERT INTO plain_settings VALUES (1, 'ACTIVE', 5), (2, 'ACTIVE', 2)");
        await revoke.query('INSERT INTO plain_codes (settingId) VALUES (1), (2), (2)');
        const config = writeConfig('plain.json', { settings: { table: 'plain_settings' }, counters: { issuedCount: { table: 'plain_codes', foreignKey: 'settingId' } }, auditTable: 'plain_audit' });
        const problem =
          'no transactions in plain_settings (MyISAM), plain_codes (Aria): repair could not lock the settings, nor commit a batch with its audit rows whole or roll it back: ' +
          'convert them (ALTER TABLE `plain_settings` ENGINE=InnoDB; ALTER TABLE `plain_codes` ENGINE=InnoDB;), or write the changes for a DBA with --emit-sql';
        expect((await runCli(['check', '--url', revoke.url, '--config', config])).code).toBe(1);
        const repaired = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config]);
        expect(repaired.code, repaired.stderr).toBe(2);
        expect(repaired.stderr.trim()).toBe(`coupon-audit: N${problem.slice(1)}. Nothing was written.`);
        expect((parseJson(await runCli(['repair', '--dry-run', '--format', 'json', '--url', revoke.url, '--config', config])) as unknown as { wouldStop?: string }).wouldStop).toBe(problem);
        const doctor = JSON.parse((await runCli(['doctor', '--url', revoke.url, '--config', config, '--format', 'json'])).stdout) as { checks: { name: string; status: string; detail: string }[] };
        expect(doctor.checks.find((check) => check.name === 'transactions')).toMatchObject({ status: 'fail', detail: expect.stringContaining('no transactions in plain_settings (MyISAM), plain_codes (Aria)') });
        const script = join(dir, 'plain.sql');
        expect((await runCli(['repair', '--emit-sql', script, '--url', revoke.url, '--config', config])).code).toBe(1);
        expect(readFileSync(script, 'utf8')).toContain('UPDATE `plain_settings` SET `issuedCount` = 1');
        // The child table alone: its own reason.
        await revoke.query('ALTER TABLE plain_settings ENGINE=InnoDB');
        const child = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config]);
        expect(child.code, child.stderr).toBe(2);
        expect(child.stderr).toContain("coupon-audit: No transactions in plain_codes (Aria): a row the application adds is seen before its transaction adds to the setting's cache");
        const [rows] = await revoke.conn.query<RowDataPacket[]>('SELECT id, issuedCount FROM plain_settings ORDER BY id');
        expect(rows.map((row) => [String(row['id']), row['issuedCount']])).toEqual([['1', 5], ['2', 2]]);
        // A view over such a table (a review's: a view has no engine, and repair wrote through it).
        await revoke.query('ALTER TABLE plain_codes ENGINE=InnoDB');
        await revoke.query('ALTER TABLE plain_settings ENGINE=MyISAM');
        await revoke.query('CREATE VIEW plain_view AS SELECT s.* FROM plain_settings s');
        const viewConfig = writeConfig('plain-view.json', { settings: { table: 'plain_view' }, counters: { issuedCount: { table: 'plain_codes', foreignKey: 'settingId' } }, auditTable: 'plain_audit' });
        const viewed = await runCli(['repair', '--yes', '--url', revoke.url, '--config', viewConfig]);
        expect(viewed.code, viewed.stderr).toBe(2);
        expect(viewed.stderr).toContain('coupon-audit: No transactions in plain_view (a view of plain_settings, MyISAM): repair could not lock the settings');
        expect(viewed.stderr).toContain('(ALTER TABLE `plain_settings` ENGINE=InnoDB;)');
        // An account not shown the view's definition (no SHOW VIEW): doctor warns that it cannot tell.
        const reader = `ca_noshow_${Math.random().toString(36).slice(2, 8)}`;
        try {
          await revoke.query(`CREATE USER ${reader}@'%'`);
          await revoke.query(`GRANT SELECT, UPDATE ON \`${revoke.name}\`.* TO ${reader}@'%'`);
          const url = new URL(revoke.url);
          url.username = reader;
          url.password = '';
          const unseen = JSON.parse((await runCli(['doctor', '--url', url.toString(), '--config', viewConfig, '--format', 'json'])).stdout) as { checks: { name: string; status: string; detail: string; fix?: string }[] };
          expect(unseen.checks.find((check) => check.name === 'transactions')).toMatchObject({
            status: 'warn',
            detail: expect.stringContaining('the tables that plain_view reads are not shown to this account'),
            fix: expect.stringContaining('GRANT SHOW VIEW ON'),
          });
        } finally {
          await revoke.query(`DROP USER IF EXISTS ${reader}@'%'`);
        }
        await revoke.query('DROP VIEW plain_view');
      },
      ['plain_audit'],
    );
  });

  it('an audit table that is a table of the model, or another table of that name: repair refuses before the scan (exit 2), doctor fails it', async () => {
    await revoke.query('CREATE TABLE k (id INT PRIMARY KEY, note VARCHAR(20))');
    try {
      const before = await settingsSnapshot(revoke.conn);
      const cases: [string, string][] = [
        ['g_coupons', 'The audit table g_coupons is a table the model reads: name another audit table'],
        ['k', 'The table k named as the audit table is not one (it has no column runId, settingId, counterName, oldValue, newValue, dbUser): name another audit table'],
      ];
      for (const [auditTable, message] of cases) {
        const config = writeConfig(`audit-${auditTable}.json`, { ...REVOKE_CONFIG, auditTable });
        const repaired = await runCli(['repair', '--yes', '--url', revoke.url, '--config', config, '--verbose']);
        expect(repaired.code, repaired.stderr).toBe(2);
        expect(repaired.stderr).toContain(message);
        expect(repaired.stderr).not.toMatch(/^sql .*: compare /m); // refused before the scan (--verbose times each page)
        expect((await runCli(['repair', '--yes', '--url', revoke.url, '--audit-table', auditTable, '--config', writeConfig('revoke.json', REVOKE_CONFIG)])).code).toBe(2);
        const doctor = JSON.parse((await runCli(['doctor', '--url', revoke.url, '--config', config, '--format', 'json'])).stdout) as { checks: { name: string; status: string; detail: string }[] };
        expect(doctor.checks.find((check) => check.name === 'audit table')).toMatchObject({ status: 'fail', detail: expect.stringContaining(auditTable) });
        // check and the dry run write nothing, so need no audit table; the dry run's plan says repair would stop.
        for (const command of [['check'], ['repair', '--dry-run']]) expect([0, 1]).toContain((await runCli([...command, '--url', revoke.url, '--config', config])).code);
        await revoke.query('UPDATE g_coupon_settings SET usedCount = usedCount + 7, updatedAt = updatedAt WHERE id = 3'); // drift, so the plan is printed
        const dry = await runCli(['repair', '--dry-run', '--url', revoke.url, '--config', config]);
        expect(dry.code, dry.stderr).toBe(1);
        expect(dry.stdout).toContain(`Repair would stop before its scan: ${message[0]!.toLowerCase()}${message.slice(1)}`);
        expect(dry.stdout).not.toContain('Repair would record each write');
        await revoke.query('UPDATE g_coupon_settings SET usedCount = usedCount - 7, updatedAt = updatedAt WHERE id = 3');
      }
      expect(await settingsSnapshot(revoke.conn)).toEqual(before);
      const [[{ n }]] = (await revoke.conn.query('SELECT COUNT(*) AS n FROM k')) as unknown as [[{ n: number }]];
      expect(Number(n)).toBe(0);
    } finally {
      await revoke.query('DROP TABLE k');
    }
  });

  it('--config naming no file, and --columns naming no counter of the model', async () => {
    const missing = await runCli(['check', '--url', revoke.url, '--config', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`coupon-audit: Cannot read the config file ${join(dir, 'nope.json')}: no such file.\n`);
    const columns = await runCli(['check', '--url', revoke.url, '--columns', 'codes_issued']);
    expect(columns.code).toBe(2);
    expect(columns.stderr).toContain("'codes_issued' is not a counter; use issuedCount, usedCount.");
  });
});
