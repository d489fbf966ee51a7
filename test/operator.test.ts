import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, type CliResult, parseJson, runCli, runCliOnTerminal } from './helpers/cli.js';
import {
  connectionOptions,
  createTestDatabase,
  insertChildren,
  NULL_CACHE_QUERY,
  seed,
  SEED_VERIFICATION_QUERY,
  type SettingSpec,
  type TestDatabase,
} from './helpers/database.js';
import { driftedIds, settingsSnapshot } from './helpers/snapshot.js';

/**
 * The operator's view (issue 15): the plan a person reviews before a production write, the
 * change-control SQL a DBA runs by hand, and reports that read well at any size.
 */

const P32 = 4294967296n; // 2^32
const BIG = 9007199254740993n; // 2^53 + 1
const SGR = /\u001b\[[0-9;]*m/;

/** Every kind of drift, deltas past 2^32 and 2^53, and forty +1s for them to hide among. */
const SETTINGS: SettingSpec[] = [
  { id: 1, issuedCount: 5, usedCount: 0, coupons: 1 }, // too high +4
  { id: 2, issuedCount: 0, usedCount: 0, coupons: 3 }, // too low -3
  { id: 3, issuedCount: 2, usedCount: null, coupons: 2, uses: 1 }, // NULL
  { id: 4, issuedCount: -2, usedCount: 0 }, // negative
  { id: 5, status: 'DELETED', issuedCount: 4, usedCount: 1, coupons: 2, uses: 1 }, // DELETED, still counting, too high
  { id: 6, issuedCount: 2, usedCount: 1, coupons: 2, uses: 1 }, // clean
  ...Array.from({ length: 40 }, (_, i): SettingSpec => ({ id: 100 + i, issuedCount: 1, usedCount: 0 })), // +1 each
];

/** Counters wider than the built-in INT (real schemas have BIGINT ones), and child rows with a NULL setting id. */
async function widen(db: TestDatabase): Promise<void> {
  await db.query('ALTER TABLE g_coupon_settings MODIFY issuedCount BIGINT NULL DEFAULT 0, MODIFY usedCount BIGINT NULL DEFAULT 0');
  await db.query('ALTER TABLE g_coupon_uses MODIFY settingId BIGINT UNSIGNED NULL');
}

async function load(db: TestDatabase): Promise<void> {
  await widen(db);
  await seed(db.conn, SETTINGS);
  await db.query('INSERT INTO g_coupon_settings (id, issuedCount, usedCount) VALUES (20, ?, 0), (?, ?, 0)', [P32.toString(), BIG.toString(), BIG.toString()]);
  await insertChildren(db.conn, [[20n, 'c20'], [999n, 'orphan-1'], [999n, 'orphan-2']], [[998n], [null]]);
}

const DRIFTED_COUNT = 5 + 40 + 2;

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('operator');
  await load(db);
});
afterAll(async () => {
  await db?.drop();
});

/** Table rows' first cell (the id), in the order printed. */
const tableIds = (stdout: string): string[] => [...stdout.matchAll(/^│\s*(\d+) │/gm)].map((match) => match[1]!);

describe('check: a report that reads well at any size', () => {
  it('a header line, Δ explained, a summary by kind, settings counted per counter', async () => {
    const result = await runCli(['check', '--url', db.url]);
    expect(result.code).toBe(1);
    const lines = result.stdout.split('\n');
    expect(lines[1]).toMatch(/│ +id │ status +│ +issued │/);
    expect(lines[2]).toMatch(/│ +│ +│ +cached │ +actual │/);
    expect(lines[3]).toMatch(/^├─+┼/);
    expect(result.stdout.match(/^├/gm)).toHaveLength(1); // no line between rows
    expect(tableIds(result.stdout)).toHaveLength(DRIFTED_COUNT);
    expect(result.stdout).toContain('Δ = cached − actual: + the cache is too high, − too low; NULL: no value cached.');
    expect(result.stdout).toContain(
      [
        'By kind:',
        '  too high                         44 counters',
        '  too low                          1 counter',
        '  NULL                             1 counter',
        '  negative                         1 counter',
        '  DELETED with non-zero counts     1 setting',
        '  children with no setting         3 rows: 2 in g_coupons, 1 in g_coupon_uses',
        '  children with a NULL setting id  1 row in g_coupon_uses',
        `${DRIFTED_COUNT} of 48 settings drifted (issuedCount off in 46, usedCount off in 1).`,
      ].join('\n'),
    );
    expect(result.stdout).not.toMatch(SGR);
    const json = parseJson(await runCli(['check', '--url', db.url, '--format', 'json']));
    expect(json.summary['kinds']).toEqual({ tooHigh: 44, tooLow: 1, null: 1, negative: 1, deletedNonZero: 1 });
  });

  it('--sort delta --limit: the NULL and the deltas past 2^53 and 2^32 first, then "… and K more"', async () => {
    const result = await runCli(['check', '--url', db.url, '--sort', 'delta', '--limit', '4']);
    expect(result.code).toBe(1);
    expect(tableIds(result.stdout)).toEqual(['3', BIG.toString(), '20', '1']);
    expect(result.stdout).toMatch(new RegExp(`│ ${BIG} │ ACTIVE +│ +${BIG} │ +0 │ +\\+${BIG} │`));
    expect(result.stdout).toMatch(/│ +20 │ ACTIVE +│ +4294967296 │ +1 │ +\+4294967295 │/);
    expect(result.stdout).toContain(`… and ${DRIFTED_COUNT - 4} more; --format json has them all.`);
    // The summary still counts every setting, and JSON has them all, in id order.
    expect(result.stdout).toContain(`${DRIFTED_COUNT} of 48 settings drifted`);
    const json = parseJson(await runCli(['check', '--url', db.url, '--sort', 'delta', '--limit', '4', '--format', 'json']));
    expect(json.drifted).toHaveLength(DRIFTED_COUNT);
    expect(json.drifted.map((s) => s.id).slice(0, 3)).toEqual(['1', '2', '3']);
    expect(json.drifted.find((s) => s.id === BIG.toString())!.counters.issuedCount).toEqual({ cached: BIG.toString(), actual: 0, expected: 0 });
    // By id (the default), the +1s come in id order and the big ids last.
    expect(tableIds((await runCli(['check', '--url', db.url, '--limit', '3'])).stdout)).toEqual(['1', '2', '3']);
  });

  it.each([
    [['--sort', 'size'], '--sort'],
    [['--limit', '0'], '--limit'],
    [['--limit', 'ten'], '--limit'],
    [['--limit', '1000001'], '--limit'],
  ])('%j is a usage error (exit 2), nothing read', async (args, flag) => {
    const result = await runCli(['check', '--url', 'mysql://root@127.0.0.1:1/nowhere', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(flag);
    expect(result.stdout).toBe('');
  });

  it('206 --ids that name no setting: one warning line with the count and the first few', async () => {
    const unknown = Array.from({ length: 206 }, (_, i) => String(5000 + i));
    const result = await runCli(['check', '--url', db.url, '--ids', ['1', ...unknown].join(',')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('warning: 206 settings from --ids do not exist: 5000, 5001, 5002, 5003, 5004 and 201 more.\n');
  });

  it('on a terminal: coloured cells, the header line, the legend', async () => {
    const result = await runCliOnTerminal(['check', '--url', db.url, '--sort', 'delta', '--limit', '2']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(SGR);
    const text = result.stdout.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
    expect(text).toMatch(/│ +id │ status +│ +issued │[^\n]*\n│[^\n]*cached[^\n]*\n├─+┼/);
    expect(text).toMatch(/│ +3 │ ACTIVE +│ +2 │ +2 │ +0 │ +NULL │ +1 │ +NULL │/);
    expect(text).toContain(`… and ${DRIFTED_COUNT - 2} more; --format json has them all.`);
    expect(text).toContain('Δ = cached − actual');
    const plain = await runCliOnTerminal(['check', '--url', db.url, '--limit', '2'], { env: { NO_COLOR: '1' } });
    expect(plain.stdout).not.toMatch(SGR);
  });
});

describe('repair --dry-run: a plan to review', () => {
  it('old → new per counter, the same table repair prints, ending with what it would do; nothing written or created', async () => {
    const before = await settingsSnapshot(db.conn);
    const result = await runCli(['repair', '--url', db.url, '--dry-run', '--sort', 'delta', '--limit', '3']);
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n')[1]).toMatch(/│ +id │ counter +│ +old │ +new │ +Δ │/);
    expect(result.stdout).toMatch(/│ +3 │ usedCount +│ +NULL │ +1 │ +NULL │/);
    expect(result.stdout).toMatch(new RegExp(`│ ${BIG} │ issuedCount │ ${BIG} │ +0 │ \\+${BIG} │`));
    expect(result.stdout).toMatch(/│ +20 │ issuedCount │ +4294967296 │ +1 │ +\+4294967295 │/);
    expect(result.stdout).toContain(`… and ${DRIFTED_COUNT - 3} more; --format json has them all.`);
    expect(result.stdout).toContain('Δ = old − new');
    expect(result.stdout).toContain(`Repair would create the table ${db.name}.coupon_audit_log`);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
      `dry run: would change ${DRIFTED_COUNT} settings (${DRIFTED_COUNT} counters) in about 1 transaction; nothing written.`,
    );
    const batched = await runCli(['repair', '--url', db.url, '--dry-run', '--batch-size', '10', '--quiet']);
    expect(batched.stdout).toBe(`dry run: would change ${DRIFTED_COUNT} settings (${DRIFTED_COUNT} counters) in about 5 transactions; nothing written.\n`);
    expect(await settingsSnapshot(db.conn)).toEqual(before);
    expect(await db.query<RowDataPacket[]>("SHOW TABLES LIKE 'coupon_audit_log'")).toHaveLength(0);
  });
});

describe('repair --emit-sql where nothing drifts', () => {
  it('exit 0, the file has its header and says there is nothing to change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coupon-audit-emit-'));
    try {
      const file = join(dir, 'none.sql');
      const result = await runCli(['repair', '--url', db.url, '--ids', '6', '--emit-sql', file]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`No drift: 1 setting scanned.\nWrote ${file} with no statements: nothing to change.\n`);
      expect(readFileSync(file, 'utf8')).toMatch(/^-- coupon-audit [\s\S]*\n-- No drift: nothing to change\.\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Each test that writes gets a database of its own. */
describe('writing: the plan is what repair writes, and the emitted SQL does the same', () => {
  let own: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    own = await createTestDatabase('operator_w');
    await load(own);
    dir = mkdtempSync(join(tmpdir(), 'coupon-audit-emit-'));
  });
  afterEach(async () => {
    await own?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const key = (c: { id: string; counter: string }) => `${c.id}/${c.counter}`;
  type Change = { id: string; counter: string; old: unknown; new: unknown };

  it('the dry-run JSON changes equal what repair then writes (its JSON and its audit rows)', async () => {
    const dry = parseJson(await runCli(['repair', '--url', own.url, '--dry-run', '--format', 'json']));
    expect(dry['dryRun']).toBe(true);
    expect(dry.drifted).toHaveLength(DRIFTED_COUNT); // the existing keys are all still there
    const planned = dry['changes'] as Change[];
    expect(planned).toHaveLength(DRIFTED_COUNT);
    expect(planned.find((c) => c.id === BIG.toString())).toEqual({ id: BIG.toString(), counter: 'issuedCount', old: BIG.toString(), new: 0 });
    expect(planned.find((c) => c.id === '3')).toEqual({ id: '3', counter: 'usedCount', old: null, new: 1 });

    const repaired = await runCli(['repair', '--url', own.url, '--yes', '--format', 'json']);
    expect(repaired.code).toBe(0);
    const written = (JSON.parse(repaired.stdout) as { changes: Change[] }).changes;
    const sort = (list: Change[]) => [...list].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sort(written)).toEqual(sort(planned));
    const audit = await own.query<RowDataPacket[]>('SELECT settingId, counterName, oldValue, newValue FROM coupon_audit_log');
    expect(new Set(audit.map((row) => `${row['settingId']}/${row['counterName']}/${row['oldValue']}/${row['newValue']}`))).toEqual(
      new Set(planned.map((c) => `${c.id}/${c.counter}/${c.old}/${c.new}`)),
    );
  });

  it('--emit-sql: a reviewable file; applied with the mariadb client the verification query has 0 rows; applied twice it changes nothing', async () => {
    const before = await settingsSnapshot(own.conn);
    const file = join(dir, 'change.sql');
    const result = await runCli(['repair', '--url', own.url, '--emit-sql', file]);
    expect(result.code).toBe(1); // like --dry-run: there is drift, nothing applied
    expect(await settingsSnapshot(own.conn)).toEqual(before);
    expect(await own.query<RowDataPacket[]>("SHOW TABLES LIKE 'coupon_audit_log'")).toHaveLength(0);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
      // The server of --url, not the client's default one.
      `Wrote ${DRIFTED_COUNT} guarded UPDATEs (one per setting; ${DRIFTED_COUNT} counters) to ${file}; nothing applied. Review it, then run it by hand: ` +
        `mariadb -h ${new URL(own.url).hostname} -P ${new URL(own.url).port} -u root ${own.name} < ${file}`,
    );

    const text = readFileSync(file, 'utf8');
    const [header, body] = text.split('\n\n');
    expect(header).toMatch(/^-- coupon-audit \d+\.\d+\.\d+: change-control SQL/);
    expect(header).toContain(`-- database: ${own.name} (read as root@`);
    expect(header).toMatch(/-- generated: \d{4}-\d\d-\d\dT[\d:.]+Z, from one detection that scanned 48 settings/);
    const statements = body!.trimEnd().split('\n');
    expect(statements).toHaveLength(DRIFTED_COUNT);
    expect(statements).toContain('/* coupon-audit */ UPDATE `g_coupon_settings` SET `issuedCount` = 1, `updatedAt` = `updatedAt` WHERE `id` = 1 AND `issuedCount` <=> 5;');
    expect(statements).toContain('/* coupon-audit */ UPDATE `g_coupon_settings` SET `usedCount` = 1, `updatedAt` = `updatedAt` WHERE `id` = 3 AND `usedCount` <=> NULL;');
    expect(statements).toContain(
      `/* coupon-audit */ UPDATE \`g_coupon_settings\` SET \`issuedCount\` = 0, \`updatedAt\` = \`updatedAt\` WHERE \`id\` = ${BIG} AND \`issuedCount\` <=> ${BIG};`,
    );

    expect(await own.query<RowDataPacket[]>(SEED_VERIFICATION_QUERY)).not.toHaveLength(0);
    const first = applyWithClient(own, file);
    expect(first.changed).toBe(DRIFTED_COUNT);
    expect(await own.query<RowDataPacket[]>(SEED_VERIFICATION_QUERY)).toHaveLength(0);
    expect(await own.query<RowDataPacket[]>(NULL_CACHE_QUERY)).toHaveLength(0);
    expect((await runCli(['check', '--url', own.url])).code).toBe(0);

    const after = await settingsSnapshot(own.conn);
    const second = applyWithClient(own, file);
    expect(second.statements).toBe(DRIFTED_COUNT);
    expect(second.changed).toBe(0);
    expect(await settingsSnapshot(own.conn)).toEqual(after);
  });

  it('--emit-sql after the application moved on: that guard no longer matches and changes nothing', async () => {
    const file = join(dir, 'change.sql');
    expect((await runCli(['repair', '--url', own.url, '--emit-sql', file, '--quiet'])).code).toBe(1);
    // The application issues a code for setting 1 (insert + increment) and one for setting 2.
    await insertChildren(own.conn, [[1n, 'late-1'], [2n, 'late-2']], []);
    await own.query('UPDATE g_coupon_settings SET issuedCount = issuedCount + 1 WHERE id IN (1, 2)');
    const applied = applyWithClient(own, file);
    expect(applied.changed).toBe(DRIFTED_COUNT - 2);
    const [one] = await own.query<RowDataPacket[]>('SELECT issuedCount FROM g_coupon_settings WHERE id = 1');
    expect(String(one!['issuedCount'])).toBe('6'); // the application's value, not the stale plan's 1
    expect(await driftedIds(own.conn)).toEqual(['1', '2']);
  });

  it('--emit-sql takes no run lock and needs no write privilege; --yes with it, or a file it cannot write, is exit 2', async () => {
    const user = `ca_emit_${randomBytes(3).toString('hex')}`;
    const admin = await mysql.createConnection(connectionOptions());
    const holder: Connection = await own.connect();
    try {
      await admin.query("CREATE USER ?@'%' IDENTIFIED BY 'emit-pw'", [user]);
      await admin.query(`GRANT SELECT ON ${mysql.escapeId(own.name)}.* TO ?@'%'`, [user]);
      await holder.query('SELECT GET_LOCK(?, 0)', [`coupon-audit:repair:${own.name}`]);
      const url = new URL(own.url);
      url.username = user;
      url.password = 'emit-pw';
      const file = join(dir, 'readonly.sql');
      const result = await runCli(['repair', '--url', url.toString(), '--emit-sql', file, '--format', 'json']);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(1);
      const json = JSON.parse(result.stdout) as { dryRun: boolean; changes: unknown[]; emittedSql: { file: string; statements: number } };
      expect(json).toMatchObject({ dryRun: true, emittedSql: { file, statements: DRIFTED_COUNT } });
      expect(json.changes).toHaveLength(DRIFTED_COUNT);
      expect(readFileSync(file, 'utf8')).toContain('<=>');
      // Its hint for running the file asks the client to prompt for the password this run used (-p), never shows it.
      const text = await runCli(['repair', '--url', url.toString(), '--emit-sql', file]);
      expect(text.stdout.trimEnd().split('\n').at(-1)).toBe(
        `Wrote ${DRIFTED_COUNT} guarded UPDATEs (one per setting; ${DRIFTED_COUNT} counters) to ${file}; nothing applied. Review it, then run it by hand: ` +
          `mariadb -h ${url.hostname} -P ${url.port} -u ${user} -p ${own.name} < ${file}`,
      );
      expect(text.stdout + text.stderr).not.toContain('emit-pw');
      // A real repair by the same user is refused (no UPDATE) before it scans.
      expect((await runCli(['repair', '--url', url.toString(), '--yes'])).code).toBe(3);
    } finally {
      await holder.end();
      await admin.query("DROP USER IF EXISTS ?@'%'", [user]);
      await admin.end();
    }
    const both = await runCli(['repair', '--url', own.url, '--emit-sql', join(dir, 'x.sql'), '--yes']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--emit-sql writes the statements to a file instead of applying them');
    const nowhere = await runCli(['repair', '--url', own.url, '--emit-sql', join(dir, 'no-such-dir', 'x.sql')]);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toMatch(/^coupon-audit: --emit-sql .*no-such-dir.*: cannot write there .*nothing was read or written\.\n$/);
    expect(existsSync(join(dir, 'x.sql'))).toBe(false);
    // '-' would be a file named '-' (the plan is what goes to stdout).
    const dash = await runCli(['repair', '--url', own.url, '--emit-sql', '-'], { cwd: dir });
    expect(dash.code).toBe(2);
    expect(dash.stderr).toContain("'-' is not stdout here");
    expect(existsSync(join(dir, '-'))).toBe(false);
    // A link planted at the name is replaced by the script, never written through (a trial's 0600
    // victim file got the SQL); a FIFO is refused at once (writing it waited for a reader, for ever).
    writeFileSync(join(dir, 'victim.txt'), 'keep\n', { mode: 0o600 });
    symlinkSync('victim.txt', join(dir, 'planted.sql'));
    expect((await runCli(['repair', '--url', own.url, '--emit-sql', join(dir, 'planted.sql')])).code).toBe(1);
    expect(readFileSync(join(dir, 'victim.txt'), 'utf8')).toBe('keep\n');
    expect(lstatSync(join(dir, 'planted.sql')).isFile()).toBe(true);
    expect(readFileSync(join(dir, 'planted.sql'), 'utf8')).toContain('<=>');
    execFileSync('mkfifo', [join(dir, 'fifo.sql')]);
    const fifo = await runCli(['repair', '--url', own.url, '--emit-sql', join(dir, 'fifo.sql')]);
    expect(fifo.code).toBe(2);
    expect(fifo.stderr).toContain('it is a FIFO, not a file');
    // The process's own stdout is written through its descriptor, where the output stands: not
    // replaced (a link into /proc: root's /dev/stdout had become a file), not reopened (a review's
    // `>> cron.log` lost what the log held). Through a pipe, and appended to a file.
    const toStdout = spawnSync('sh', ['-c', '"$0" "$1" repair --url "$2" --emit-sql /dev/stdout | cat', process.execPath, BIN, own.url], { encoding: 'utf8' });
    expect(toStdout.stderr).not.toContain('could not write');
    expect(toStdout.stdout).toContain('-- coupon-audit ');
    expect(toStdout.stdout).toContain('<=>');
    expect(lstatSync('/dev/stdout').isSymbolicLink()).toBe(true);
    const log = join(dir, 'cron.log');
    writeFileSync(log, 'PREVIOUS\n');
    spawnSync('sh', ['-c', '"$0" "$1" repair --url "$2" --emit-sql /dev/stdout >> "$3"', process.execPath, BIN, own.url, log], { encoding: 'utf8' });
    const logged = readFileSync(log, 'utf8');
    expect(logged.startsWith('PREVIOUS\n-- coupon-audit ')).toBe(true);
    expect(logged.trimEnd().split('\n').at(-1)).toMatch(/^Wrote \d+ guarded UPDATEs .* < \/dev\/stdout$/);
  });

  it('the prompt shows the plan and says the audit table will be created, and where; after writing, the same table', async () => {
    const declined = await runCliOnTerminal(['repair', '--url', own.url, '--sort', 'delta', '--limit', '2'], { answers: ['n'] });
    expect(declined.code).toBe(1);
    const text = (r: CliResult) => r.stdout.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
    expect(declined.stdout).toMatch(SGR);
    expect(text(declined)).toMatch(/│ +id │ counter +│ +old │ +new │ +Δ │\s*\n├─+┼/);
    expect(text(declined)).toContain(`Repair will create the table ${own.name}.coupon_audit_log (from sql/audit-table.sql; CREATE privilege needed) and record each write there.`);
    expect(text(declined)).toContain(`Repair will change ${DRIFTED_COUNT} settings (${DRIFTED_COUNT} counters) in about 1 transaction`);
    expect(text(declined)).toContain(`Repair ${DRIFTED_COUNT} settings? [y/N]`);
    expect(await own.query<RowDataPacket[]>("SHOW TABLES LIKE 'coupon_audit_log'")).toHaveLength(0);
    // --format json with stdout to a file: declined, the file holds the plan as a dry run's JSON (it was empty).
    const planFile = join(dir, 'declined.json');
    const declinedJson = await runCliOnTerminal(['repair', '--url', own.url, '--format', 'json'], { answers: ['n'], stdoutTo: planFile });
    expect(declinedJson.code).toBe(1);
    const plan = JSON.parse(readFileSync(planFile, 'utf8')) as { dryRun: boolean; declined: boolean; changes: unknown[] };
    expect(plan).toMatchObject({ dryRun: true, declined: true });
    expect(plan.changes).toHaveLength(DRIFTED_COUNT);

    const accepted = await runCliOnTerminal(['repair', '--url', own.url, '--ids', '1,2,3', '--limit', '1'], { answers: ['y'] });
    expect(accepted.code).toBe(0);
    expect(text(accepted)).toContain('… and 2 more; --format json has them all.');
    expect(text(accepted)).toContain(`Every write is recorded in ${own.name}.coupon_audit_log (created by this run)`);
    const again = await runCliOnTerminal(['repair', '--url', own.url, '--ids', '4'], { answers: ['n'] });
    expect(text(again)).toContain(`Repair will record each write in ${own.name}.coupon_audit_log (it exists).`);
  });
});

describe('repeated warnings become one', () => {
  it('two counters over one unindexed table and key: one missing-index warning', async () => {
    const bare = await createTestDatabase('operator_noidx');
    const dir = mkdtempSync(join(tmpdir(), 'coupon-audit-cfg-'));
    try {
      await seed(bare.conn, [{ id: 1, issuedCount: 3, usedCount: 1, coupons: 1, uses: 1 }]);
      await bare.query('ALTER TABLE g_coupon_uses DROP INDEX idx_g_coupon_uses_setting');
      const config = join(dir, 'two-on-uses.json');
      writeFileSync(
        config,
        JSON.stringify({
          counters: {
            issuedCount: { table: 'g_coupon_uses', foreignKey: 'settingId', where: "userId = ''" },
            usedCount: { table: 'g_coupon_uses', foreignKey: 'settingId' },
          },
        }),
      );
      const result = await runCli(['check', '--url', bare.url, '--config', config]);
      expect(result.code).toBe(1);
      const warnings = result.stderr.split('\n').filter((line) => line.startsWith('warning:'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('g_coupon_uses has no index starting with settingId');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await bare.drop();
    }
  });
});

describe('sql takes the options of check and prints the orphan count', () => {
  it('--url (not used), --columns, --deleted: the statements for them; the orphan query, run by hand, agrees with check', async () => {
    const result = await runCli(['sql', '--url', db.url, '--columns', 'usedCount', '--deleted', 'skip']);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('issuedCount');
    expect(result.stdout).toContain("NOT (UPPER(s.`status`) <=> UPPER('DELETED'))");
    const orphanQuery = result.stdout.split('\n').find((line) => line.startsWith("SELECT 'g_coupon_uses' AS childTable"))!;
    const [row] = await db.query<RowDataPacket[]>(orphanQuery);
    expect([String(row!['orphans']), String(row!['nullSettingId'])]).toEqual(['1', '1']);
    const json = parseJson(await runCli(['check', '--url', db.url, '--columns', 'usedCount', '--format', 'json']));
    expect(json.summary['orphans']).toEqual({ uses: 1 });
    expect(json.summary['nullSettingId']).toEqual({ uses: 1 });
  });
});

describe('--help', () => {
  it.each([['check'], ['repair'], ['sql'], ['doctor'], ['demo']])('%s ends with examples and the exit codes', async (command) => {
    const result = await runCli([command, '--help']);
    expect(result.code).toBe(0);
    const [options, rest] = result.stdout.split('\nExamples:\n');
    expect(options).toContain('Options:');
    expect(rest!.split('\nExit codes:\n')[0]!.match(/^ {2}\$ coupon-audit /gm)!.length).toBeGreaterThanOrEqual(2);
    const codes = rest!.split('\nExit codes:\n')[1]!.trimEnd().split('\n');
    expect(codes.every((line) => /^ {2}\d+ +\S/.test(line))).toBe(true);
    expect(codes.map((line) => line.trim().split(/ +/)[0])).toContain('2');
  });

  it('check and repair say what Δ means, and give each flag its range', async () => {
    const check = (await runCli(['check', '--help'])).stdout;
    const repair = (await runCli(['repair', '--help'])).stdout;
    for (const help of [check, repair]) {
      expect(help.replace(/\s+/g, ' ')).toContain('Δ = cached − actual');
      expect(help).toMatch(/--sort <order>[\s\S]*choices:\s+"id",\s+"delta"/);
      expect(help).toMatch(/--limit <n>\s+table rows shown, 1-1000000/);
    }
    expect(repair).toMatch(/--emit-sql <file>/);
    expect(repair).toMatch(/^ {2}5 +another repair holds the run lock/m);
  });
});

/** Runs a file with the mariadb client, as a DBA would; counts the statements and the rows they changed. */
function applyWithClient(target: TestDatabase, file: string): { statements: number; changed: number } {
  const options = connectionOptions(target.name);
  const args = ['-h', String(options.host), '-P', String(options.port), '-u', String(options.user), '-vvv', target.name];
  const run = spawnSync('mariadb', args, {
    input: readFileSync(file),
    env: { ...process.env, MYSQL_PWD: options.password === undefined ? '' : String(options.password) },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`mariadb exited ${run.status}: ${run.stderr}`);
  const changed = [...run.stdout.matchAll(/Rows matched: \d+ {2}Changed: (\d+)/g)].map((match) => Number(match[1]));
  return { statements: changed.length, changed: changed.reduce((sum, n) => sum + n, 0) };
}
