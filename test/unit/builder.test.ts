import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { auditScope, DEFAULT_MODEL } from '../../src/core/model.js';
import * as builder from '../../src/db/builder.js';
import { withKeyTypes } from '../../src/db/inspector.js';
import { explainJson, explainSql } from '../../src/db/explain.js';

/** The exact text of the statements the tool sends (in the manner of gh-ost's builder_test.go). */

const scope = auditScope(DEFAULT_MODEL);
const revokeAware = {
  ...DEFAULT_MODEL,
  counters: [
    { name: 'issuedCount', table: 'g_coupons', foreignKey: 'settingId', where: "status <> 'REVOKED'" },
    { name: 'activeCount', table: 'g_coupons', foreignKey: 'settingId', where: "status = 'ACTIVE'" },
  ],
};

describe('comparePageSql: one statement per page compares caches with counts from one read', () => {
  it('a range page of the built-in model: settings and counts stacked and grouped, compared on the server', () => {
    expect(builder.comparePageSql(scope, { kind: 'range', after: 10n, upTo: 20n }, { onlyDrifted: true })).toBe(
      '/* coupon-audit */ SELECT g.* FROM (SELECT u.id, SUM(u.known) AS known, SUM(u.audited) AS audited, MAX(u.status) AS status, ' +
        'MAX(u.deleted) AS deleted, MAX(u.zero) AS zero, MAX(u.cached0) AS cached0, SUM(u.n0) AS actual0, MAX(u.cached1) AS cached1, SUM(u.n1) AS actual1, MAX(u.sid) AS sid FROM (' +
        "SELECT s.`id` AS id, 1 AS known, 1 AS audited, s.`status` AS status, UPPER(s.`status`) <=> UPPER('DELETED') AS deleted, 0 AS zero, " +
        's.`issuedCount` AS cached0, s.`usedCount` AS cached1, ' +
        '0 AS n0, 0 AS n1, s.`id` AS sid FROM `g_coupon_settings` s WHERE s.`id` > 10 AND s.`id` <= 20 UNION ALL ' +
        'SELECT `settingId`, 0, 0, NULL, 0, 0, NULL, NULL, COUNT(*), 0, NULL FROM `g_coupons` WHERE `settingId` > 10 AND `settingId` <= 20 GROUP BY `settingId` UNION ALL ' +
        'SELECT `settingId`, 0, 0, NULL, 0, 0, NULL, NULL, 0, COUNT(*), NULL FROM `g_coupon_uses` WHERE `settingId` > 10 AND `settingId` <= 20 GROUP BY `settingId`' +
        ') u GROUP BY u.id WITH ROLLUP) g ' +
        'WHERE g.id IS NULL OR g.known <> 1 OR (g.audited = 1 AND NOT (g.cached0 <=> CASE WHEN g.zero = 1 THEN 0 ELSE g.actual0 END ' +
        'AND g.cached1 <=> CASE WHEN g.zero = 1 THEN 0 ELSE g.actual1 END))',
    );
  });

  it('a shared child table is read once, each counter summing its own filter; --deleted zero expects 0', () => {
    expect(
      builder.comparePageSql({ model: revokeAware, counters: revokeAware.counters, deleted: 'zero' }, { kind: 'ids', ids: [1n, 9007199254740993n] }, { onlyDrifted: false }),
    ).toContain(
      "SELECT `settingId`, 0, 0, NULL, 0, 0, NULL, NULL, SUM(CASE WHEN (status <> 'REVOKED') THEN 1 ELSE 0 END), SUM(CASE WHEN (status = 'ACTIVE') THEN 1 ELSE 0 END), NULL " +
        'FROM `g_coupons` WHERE `settingId` IN (1, 9007199254740993) GROUP BY `settingId`) u GROUP BY u.id WITH ROLLUP) g',
    );
    expect(builder.comparePageSql({ ...scope, deleted: 'zero' }, { kind: 'ids', ids: [1n] }, { onlyDrifted: false })).toContain(
      "1 AS audited, s.`status` AS status, UPPER(s.`status`) <=> UPPER('DELETED') AS deleted, UPPER(s.`status`) <=> UPPER('DELETED') AS zero,",
    );
    expect(builder.comparePageSql({ ...scope, deleted: 'skip' }, { kind: 'ids', ids: [1n] }, { onlyDrifted: false })).toContain(
      "SELECT s.`id` AS id, 1 AS known, NOT (UPPER(s.`status`) <=> UPPER('DELETED')) AS audited,",
    );
  });

  it('ranges are half-open and contiguous; NULL keys are counted apart; one counter with a filter puts it in WHERE', () => {
    expect(builder.scopeCondition('`k`', { kind: 'range', after: null, upTo: 5n })).toBe('`k` <= 5');
    expect(builder.scopeCondition('`k`', { kind: 'range', after: 5n, upTo: null })).toBe('`k` > 5');
    expect(builder.scopeCondition('`k`', { kind: 'range', after: null, upTo: null })).toBeNull();
    // Bounded on both sides: one BETWEEN for a key known to be an integer, the two comparisons for
    // a text one (compared as a number, where after + 1 would leave out '5.5') or one not known.
    expect(builder.scopeCondition('`k`', { kind: 'range', after: 5n, upTo: 9n }, false)).toBe('`k` BETWEEN 6 AND 9');
    expect(builder.scopeCondition('`k`', { kind: 'range', after: -3n, upTo: -2n }, false)).toBe('`k` BETWEEN -2 AND -2');
    expect(builder.scopeCondition('`k`', { kind: 'range', after: 18446744073709551613n, upTo: 18446744073709551615n }, false)).toBe(
      '`k` BETWEEN 18446744073709551614 AND 18446744073709551615',
    );
    expect(builder.scopeCondition('`k`', { kind: 'range', after: 5n, upTo: 9n }, true)).toBe('`k` > 5 AND `k` <= 9');
    expect(builder.scopeCondition('`k`', { kind: 'range', after: 5n, upTo: 9n })).toBe('`k` > 5 AND `k` <= 9');
    // A scope read from the server (inspector.ts withKeyTypes: integer keys) pages by BETWEEN in every branch.
    const inspected = withKeyTypes(auditScope(DEFAULT_MODEL), new Set());
    const packed = builder.packedPageSql(inspected, { kind: 'range', after: 10n, upTo: 20n });
    expect(packed).toContain('FROM `g_coupon_settings` s WHERE s.`id` BETWEEN 11 AND 20 UNION ALL');
    expect(packed).toContain('FROM `g_coupons` WHERE `settingId` BETWEEN 11 AND 20 GROUP BY');
    expect(packed).toContain('FROM `g_coupon_uses` WHERE `settingId` BETWEEN 11 AND 20 GROUP BY');
    expect(packed).not.toContain('> 10');
    const single = { ...DEFAULT_MODEL, counters: [revokeAware.counters[0]!] };
    expect(builder.comparePageSql(auditScope(single), { kind: 'range', after: 5n, upTo: null }, { onlyDrifted: true })).toContain(
      "SELECT `settingId`, 0, 0, NULL, 0, 0, NULL, COUNT(*), NULL FROM `g_coupons` WHERE `settingId` > 5 AND (status <> 'REVOKED') GROUP BY `settingId`",
    );
    expect(builder.comparePageSql(scope, { kind: 'range', after: null, upTo: null }, { onlyDrifted: true })).toContain(
      'FROM `g_coupons` WHERE `settingId` IS NOT NULL GROUP BY `settingId`',
    );
    expect(builder.nullKeyCountSql(revokeAware.counters[0]!)).toBe(
      "/* coupon-audit */ SELECT COUNT(*) AS n FROM `g_coupons` WHERE `settingId` IS NULL AND (status <> 'REVOKED')",
    );
  });
});

describe('repair statements', () => {
  it("the writer session's waits: row locks, metadata locks where the engine bounds them, idle transactions where the server ends them", () => {
    expect(builder.sessionSql.writeTimeouts(2, { metadataLock: true, idleSeconds: 10 })).toBe(
      '/* coupon-audit */ SET SESSION innodb_lock_wait_timeout = 2, lock_wait_timeout = 2, idle_transaction_timeout = 10',
    );
    expect(builder.sessionSql.writeTimeouts(5, { metadataLock: false, idleSeconds: null })).toBe('/* coupon-audit */ SET SESSION innodb_lock_wait_timeout = 5');
  });
  it("every connection's bound on a wait for a table's metadata lock (--metadata-lock-wait)", () => {
    expect(builder.sessionSql.metadataLockWait(60)).toBe('/* coupon-audit */ SET SESSION lock_wait_timeout = 60');
  });
  it('locks ascending, existing ids only: SKIP LOCKED, NOWAIT or waiting, as asked', () => {
    expect(builder.lockSettingsSql(scope, [3n, 9007199254740993n], 'skip-locked')).toBe(
      "/* coupon-audit */ SELECT s.`id` AS id, s.`status` AS status, UPPER(s.`status`) <=> UPPER('DELETED') AS deleted, " +
        's.`issuedCount` AS cached0, s.`usedCount` AS cached1 FROM `g_coupon_settings` s ' +
        'WHERE s.`id` IN (3, 9007199254740993) ORDER BY s.`id` FOR UPDATE SKIP LOCKED',
    );
    expect(builder.lockSettingsSql(scope, [3n, 4n], 'nowait')).toBe(
      "/* coupon-audit */ SELECT s.`id` AS id, s.`status` AS status, UPPER(s.`status`) <=> UPPER('DELETED') AS deleted, " +
        's.`issuedCount` AS cached0, s.`usedCount` AS cached1 FROM `g_coupon_settings` s ' +
        'WHERE s.`id` IN (3, 4) ORDER BY s.`id` FOR UPDATE NOWAIT',
    );
    expect(builder.lockSettingsSql(auditScope(DEFAULT_MODEL, { counters: ['usedCount'] }), [3n], 'wait')).toBe(
"/* coupon-audit */ SELECT s.`id` AS id, s.`status` AS status, UPPER(s.`status`) <=> UPPER('DELETED') AS deleted, s.`usedCount` AS cached0 " +
        'FROM `g_coupon_settings` s WHERE s.`id` IN (3) ORDER BY s.`id` FOR UPDATE',
    );
  });
  it('counts with a plain read and the counter filter', () => {
    expect(builder.countChildrenSql(revokeAware.counters[0]!, [3n, 4n])).toBe(
      "/* coupon-audit */ SELECT `settingId` AS settingId, COUNT(*) AS n FROM `g_coupons` WHERE `settingId` IN (3, 4) AND (status <> 'REVOKED') GROUP BY `settingId`",
    );
    // A text key's groups that came back as no id: matched with the settings as the page statement matches them.
    expect(builder.countChildrenStackedSql(revokeAware, revokeAware.counters[0]!, [3n, 4n])).toBe(
      '/* coupon-audit */ SELECT MAX(u.sid) AS settingId, SUM(u.n) AS n FROM (' +
        'SELECT s.`id` AS k, s.`id` AS sid, 0 AS n FROM `g_coupon_settings` s WHERE s.`id` IN (3, 4) UNION ALL ' +
        "SELECT `settingId`, NULL, COUNT(*) FROM `g_coupons` WHERE `settingId` IN (3, 4) AND (status <> 'REVOKED') GROUP BY `settingId`" +
        ') u GROUP BY u.k HAVING MAX(u.sid) IS NOT NULL',
    );
  });
  it('writes a batch in one statement of literal values, each counter kept where it does not change, ON UPDATE columns as they are', () => {
    expect(
      builder.writeCountersSql(
        DEFAULT_MODEL,
        [
          { settingId: 9007199254740993n, counter: 'issuedCount', from: 4n, to: 3n },
          { settingId: 9007199254740993n, counter: 'usedCount', from: null, to: 0n },
          { settingId: 7n, counter: 'usedCount', from: 1n, to: 2n },
        ],
        ['updatedAt'],
      ),
    ).toBe(
      '/* coupon-audit */ UPDATE `g_coupon_settings` SET `issuedCount` = CASE `id` WHEN 9007199254740993 THEN 3 ELSE `issuedCount` END, ' +
        '`usedCount` = CASE `id` WHEN 7 THEN 2 WHEN 9007199254740993 THEN 0 ELSE `usedCount` END, `updatedAt` = `updatedAt` WHERE `id` IN (9007199254740993, 7)',
    );
    expect(() => builder.writeCountersSql(DEFAULT_MODEL, [], [])).toThrow(TypeError);
  });
  it("past 16 settings a counter's CASE is a tree of id ranges, split at the middle id, down to flat CASEs of at most 16", () => {
    const writes = Array.from({ length: 17 }, (_, i) => ({ settingId: BigInt(100 - i), counter: 'issuedCount', from: 0n, to: BigInt(i) }));
    const flat = (from: number, to: number) =>
      `CASE \`id\`${Array.from({ length: to - from + 1 }, (_, k) => ` WHEN ${from + k} THEN ${100 - (from + k)}`).join('')} ELSE \`issuedCount\` END`;
    expect(builder.writeCountersSql(DEFAULT_MODEL, writes, [])).toBe(
      `/* coupon-audit */ UPDATE \`g_coupon_settings\` SET \`issuedCount\` = CASE WHEN \`id\` < 92 THEN ${flat(84, 91)} ELSE ${flat(92, 100)} END ` +
        `WHERE \`id\` IN (${writes.map((write) => write.settingId).join(', ')})`,
    );
    // The same setting and counter twice: the first value, as a flat CASE would take it.
    expect(
      builder.writeCountersSql(
        DEFAULT_MODEL,
        [
          { settingId: 3n, counter: 'issuedCount', from: 0n, to: 1n },
          { settingId: 3n, counter: 'issuedCount', from: 0n, to: 2n },
        ],
        [],
      ),
    ).toBe('/* coupon-audit */ UPDATE `g_coupon_settings` SET `issuedCount` = CASE `id` WHEN 3 THEN 1 ELSE `issuedCount` END WHERE `id` IN (3)');
  });
  it('audit rows: names and values taken literally', () => {
    expect(
      builder.insertAuditSql('audit$$log', { runId: 'r-1', dbUser: "o'brien" }, [
        { settingId: 42n, counter: 'issuedCount', from: null, to: 3n },
        { settingId: 9007199254740993n, counter: "it's", from: -1n, to: 0n },
      ]),
    ).toBe(
      "/* coupon-audit */ INSERT INTO `audit$$log` (runId, settingId, counterName, oldValue, newValue, dbUser) VALUES ('r-1', 42, 'issuedCount', NULL, 3, 'o''brien'), " +
        "('r-1', 9007199254740993, 'it''s', -1, 0, 'o''brien')",
    );
    const ddl = builder.auditTableDdl(readFileSync(new URL('../../sql/audit-table.sql', import.meta.url), 'utf8'), 'coupon_audit_log', 'audit$$log');
    expect(ddl).toMatch(/^\/\* coupon-audit \*\/ CREATE TABLE IF NOT EXISTS `audit\$\$log` \(/);
    expect(ddl).not.toContain('coupon_audit_log`');
  });
  it('the highest setting id, for pages that end by id arithmetic', () => {
    expect(builder.lastIdSql(DEFAULT_MODEL)).toBe('/* coupon-audit */ SELECT MAX(`id`) AS id FROM `g_coupon_settings`');
  });
  it('page boundaries by keyset, never OFFSET from the start', () => {
    expect(builder.pageBoundarySql(DEFAULT_MODEL, null, 2000)).toBe('/* coupon-audit */ SELECT `id` AS id FROM `g_coupon_settings` ORDER BY `id` LIMIT 1 OFFSET 1999');
    expect(builder.pageIdsSql(DEFAULT_MODEL, null, 8)).toBe('/* coupon-audit */ SELECT `id` AS id FROM `g_coupon_settings` ORDER BY `id` LIMIT 8');
    expect(builder.pageIdsSql(DEFAULT_MODEL, 5n, 8)).toBe('/* coupon-audit */ SELECT `id` AS id FROM `g_coupon_settings` WHERE `id` > 5 ORDER BY `id` LIMIT 8');
    expect(builder.pageBoundarySql(DEFAULT_MODEL, 5n, 100)).toBe(
      '/* coupon-audit */ SELECT `id` AS id FROM `g_coupon_settings` WHERE `id` > 5 ORDER BY `id` LIMIT 1 OFFSET 99',
    );
  });
});

describe('schema probes', () => {
  it("a table's type and the first columns of its unique indexes", () => {
    expect(builder.inspectSql.uniqueLeadingColumns("o'k")).toBe(
      '/* coupon-audit */ SELECT t.TABLE_TYPE AS tableType, s.COLUMN_NAME AS columnName FROM information_schema.TABLES t ' +
        'LEFT JOIN information_schema.STATISTICS s ON s.TABLE_SCHEMA = t.TABLE_SCHEMA AND s.TABLE_NAME = t.TABLE_NAME AND s.NON_UNIQUE = 0 AND s.SEQ_IN_INDEX = 1 ' +
        "WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_NAME = 'o''k'",
    );
  });

  it('CREATE INDEX takes a name the table has not got (index names compared without case), within 64 characters', () => {
    const counter = { name: 'issuedCount', table: 'g_coupons', foreignKey: 'settingId', where: null };
    expect(builder.createIndexSql(counter)).toBe('CREATE INDEX `idx_g_coupons_settingId` ON `g_coupons` (`settingId`);');
    expect(builder.createIndexSql(counter, new Set(['idx_g_coupons_settingid', 'idx_g_coupons_settingid_2']))).toBe('CREATE INDEX `idx_g_coupons_settingId_3` ON `g_coupons` (`settingId`);');
    const long = { ...counter, table: 't'.repeat(64) };
    const taken = new Set([`idx_${'t'.repeat(60)}`]);
    expect(builder.createIndexSql(long, taken)).toBe(`CREATE INDEX \`idx_${'t'.repeat(58)}_2\` ON \`${'t'.repeat(64)}\` (\`settingId\`);`);
  });

  it("the UPDATE probe assigns what repair's UPDATE assigns: the counters and the preserved ON UPDATE columns", () => {
    const scope = auditScope(DEFAULT_MODEL);
    expect(builder.probeSql.updateCounters(scope, ['updatedAt'])).toBe(
      '/* coupon-audit */ UPDATE `g_coupon_settings` SET `issuedCount` = `issuedCount`, `usedCount` = `usedCount`, `updatedAt` = `updatedAt` WHERE 1 = 0',
    );
  });

  it("one counter's filter over a page's rows, alone (naming a filter that failed a page)", () => {
    const filtered = { name: 'issuedCount', table: 'g_coupons', foreignKey: 'settingId', where: "status <> 'REVOKED'", keyIsText: false };
    expect(builder.filterCheckSql(filtered, { kind: 'range', after: 5n, upTo: 9n })).toBe(
      "/* coupon-audit */ SELECT COUNT(*) AS n FROM `g_coupons` WHERE `settingId` BETWEEN 6 AND 9 AND (status <> 'REVOKED')",
    );
    expect(builder.filterCheckSql({ ...filtered, keyIsText: undefined }, { kind: 'ids', ids: [3n, 1n] })).toBe(
      "/* coupon-audit */ SELECT COUNT(*) AS n FROM `g_coupons` WHERE `settingId` IN (3, 1) AND (status <> 'REVOKED')",
    );
  });
});

describe('engine detection statements', () => {
  it('read what every engine answers, then only the variables and status the server has', () => {
    expect(builder.inspectSql.server).toBe('/* coupon-audit */ SELECT VERSION() AS version, @@version_comment AS versionComment');
    expect(builder.inspectSql.variables(['wsrep_on', 'aurora_version'])).toBe("/* coupon-audit */ SHOW VARIABLES WHERE Variable_name IN ('wsrep_on', 'aurora_version')");
    expect(builder.inspectSql.status(['wsrep_cluster_size'])).toBe("/* coupon-audit */ SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size')");
    expect(builder.inspectSql.groupMembers).toBe(
      "/* coupon-audit */ SELECT COUNT(*) AS online, COALESCE(SUM(MEMBER_ROLE = 'PRIMARY'), 0) AS primaries " +
        "FROM performance_schema.replication_group_members WHERE MEMBER_STATE = 'ONLINE'",
    );
  });
  it('session settings of the engine profiles', () => {
    expect(builder.engineSql).toEqual({
      wsrepCausalReads: '/* coupon-audit */ SET SESSION wsrep_sync_wait = @@SESSION.wsrep_sync_wait | 1',
      groupReplicationCausalReads: "/* coupon-audit */ SET SESSION group_replication_consistency = 'BEFORE'",
      tidbPessimistic: "/* coupon-audit */ SET SESSION tidb_txn_mode = 'pessimistic'",
    });
  });
});

describe('the run lock lease (Galera, Group Replication)', () => {
  const row = { name: 'coupon-audit:repair:shop', owner: '4512fbf3-ae76-4b4a-a34d-cde14e857ab3', holder: "app on web1 (pid 42) through node node1, 10.0.0.1:3306" };
  it('a table of its own with the name as primary key (every write certifies on that key)', () => {
    expect(builder.leaseSql.createTable('coupon_audit_run_lock')).toBe(
      '/* coupon-audit */ CREATE TABLE IF NOT EXISTS `coupon_audit_run_lock` (name VARCHAR(64) NOT NULL, owner CHAR(36) NOT NULL, ' +
        'holder VARCHAR(255) NOT NULL, acquiredAt DATETIME(3) NOT NULL, heartbeatAt DATETIME(3) NOT NULL, expiresAt DATETIME(3) NOT NULL, ' +
        "PRIMARY KEY (name)) ENGINE = InnoDB COMMENT = 'coupon-audit run lock: the repair that holds each database'",
    );
  });
  it('taken by an insert of a free name, or by taking over an expired lease; times by the server clock', () => {
    expect(builder.leaseSql.insert('coupon_audit_run_lock', row, 15)).toBe(
      '/* coupon-audit */ INSERT IGNORE INTO `coupon_audit_run_lock` (name, owner, holder, acquiredAt, heartbeatAt, expiresAt) ' +
        "VALUES ('coupon-audit:repair:shop', '4512fbf3-ae76-4b4a-a34d-cde14e857ab3', 'app on web1 (pid 42) through node node1, 10.0.0.1:3306', " +
        'UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL 15 SECOND)',
    );
    expect(builder.leaseSql.takeOver('coupon_audit_run_lock', row, 15)).toBe(
      "/* coupon-audit */ UPDATE `coupon_audit_run_lock` SET owner = '4512fbf3-ae76-4b4a-a34d-cde14e857ab3', " +
        "holder = 'app on web1 (pid 42) through node node1, 10.0.0.1:3306', acquiredAt = UTC_TIMESTAMP(3), heartbeatAt = UTC_TIMESTAMP(3), " +
        "expiresAt = UTC_TIMESTAMP(3) + INTERVAL 15 SECOND WHERE name = 'coupon-audit:repair:shop' AND expiresAt < UTC_TIMESTAMP(3)",
    );
  });
  it('renewed (also inside every repair transaction) and released only by its owner', () => {
    expect(builder.leaseSql.renew('coupon_audit_run_lock', row.name, row.owner, 15)).toBe(
      '/* coupon-audit */ UPDATE `coupon_audit_run_lock` SET heartbeatAt = UTC_TIMESTAMP(3), expiresAt = UTC_TIMESTAMP(3) + INTERVAL 15 SECOND ' +
        "WHERE name = 'coupon-audit:repair:shop' AND owner = '4512fbf3-ae76-4b4a-a34d-cde14e857ab3'",
    );
    expect(builder.leaseSql.release('coupon_audit_run_lock', row.name, row.owner)).toBe(
      "/* coupon-audit */ DELETE FROM `coupon_audit_run_lock` WHERE name = 'coupon-audit:repair:shop' AND owner = '4512fbf3-ae76-4b4a-a34d-cde14e857ab3'",
    );
    expect(builder.leaseSql.holder('coupon_audit_run_lock', row.name)).toBe(
      '/* coupon-audit */ SELECT owner, holder, TIMESTAMPDIFF(MICROSECOND, acquiredAt, UTC_TIMESTAMP(3)) DIV 1000 AS heldMs, ' +
        'TIMESTAMPDIFF(MICROSECOND, heartbeatAt, UTC_TIMESTAMP(3)) DIV 1000 AS renewedMsAgo, ' +
        "TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), expiresAt) DIV 1000 AS expiresInMs FROM `coupon_audit_run_lock` WHERE name = 'coupon-audit:repair:shop'",
    );
  });
  it('its privileges probed by writes that match no row; a long holder is cut to the column', () => {
    expect(builder.leaseSql.probes('coupon_audit_run_lock')).toEqual({
      insert:
        '/* coupon-audit */ INSERT INTO `coupon_audit_run_lock` (name, owner, holder, acquiredAt, heartbeatAt, expiresAt) ' +
        "SELECT '', '', '', NOW(), NOW(), NOW() FROM DUAL WHERE 1 = 0",
      update: '/* coupon-audit */ UPDATE `coupon_audit_run_lock` SET heartbeatAt = heartbeatAt WHERE 1 = 0',
      delete: '/* coupon-audit */ DELETE FROM `coupon_audit_run_lock` WHERE 1 = 0',
    });
    expect(builder.leaseSql.insert('t', { ...row, holder: 'x'.repeat(300) }, 15)).toContain(`'${'x'.repeat(255)}', UTC_TIMESTAMP(3)`);
  });
});

describe('the tables a view reads (inspector.ts viewTables, over definitions as MariaDB keeps them)', () => {
  it('at its top level, after FROM and JOIN, of any database: not a subquery\'s, not a quoted string\'s', async () => {
    const { viewTables } = await import('../../src/db/inspector.js');
    expect(viewTables('select `d`.`s`.`id` AS `id`,`d`.`s`.`issuedCount` AS `issuedCount` from `d`.`settings_base` `s`')).toEqual([{ schema: 'd', table: 'settings_base' }]);
    // A review's: a subquery's table and a string naming one were taken for tables written through the view.
    expect(
      viewTables("select `d`.`b`.`id` AS `id`,'see `d`.`hidden`' AS `note` from `d`.`base_settings` `b` where `d`.`b`.`id` not in (select `d`.`hidden`.`id` from `d`.`hidden`)"),
    ).toEqual([{ schema: 'd', table: 'base_settings' }]);
    expect(viewTables('select `x`.`id` AS `id` from (`o`.`settings_far` `x` join `d`.`regions` `r` on(`x`.`region` = (select `d`.`z`.`id` from `d`.`z`)))')).toEqual([
      { schema: 'o', table: 'settings_far' },
      { schema: 'd', table: 'regions' },
    ]);
    expect(viewTables('select `o`.`t`.`id` AS `id` from `o`.`t` join `d`.`u` on(1)')).toEqual([
      { schema: 'o', table: 't' },
      { schema: 'd', table: 'u' },
    ]);
  });
});

describe('repair --emit-sql: change-control SQL', () => {
  it('one guarded UPDATE per setting, NULL-safe, exact past 2^53, ON UPDATE columns kept', () => {
    expect(builder.guardedUpdateSql(DEFAULT_MODEL, [{ settingId: 42n, counter: 'issuedCount', from: 6n, to: 3n }], [])).toBe(
      '/* coupon-audit */ UPDATE `g_coupon_settings` SET `issuedCount` = 3 WHERE `id` = 42 AND `issuedCount` <=> 6;',
    );
    expect(builder.guardedUpdateSql(DEFAULT_MODEL, [{ settingId: 9007199254740993n, counter: 'usedCount', from: null, to: 0n }], ['updatedAt'])).toBe(
      '/* coupon-audit */ UPDATE `g_coupon_settings` SET `usedCount` = 0, `updatedAt` = `updatedAt` WHERE `id` = 9007199254740993 AND `usedCount` <=> NULL;',
    );
    // Two counters of a setting: one statement, each guarded on its own (a CHECK sees both new values).
    const both = [
      { settingId: 31n, counter: 'issuedCount', from: 20n, to: 14n },
      { settingId: 31n, counter: 'usedCount', from: 20n, to: 10n },
    ];
    expect(builder.guardedUpdateSql(DEFAULT_MODEL, both, ['updatedAt'])).toBe(
      '/* coupon-audit */ UPDATE `g_coupon_settings` SET `issuedCount` = IF(`issuedCount` <=> 20, 14, `issuedCount`), `usedCount` = IF(`usedCount` <=> 20, 10, `usedCount`), ' +
        '`updatedAt` = `updatedAt` WHERE `id` = 31 AND (`issuedCount` <=> 20 OR `usedCount` <=> 20);',
    );
    expect(() => builder.guardedUpdateSql(DEFAULT_MODEL, [both[0]!, { ...both[1]!, settingId: 32n }], [])).toThrow('the changes of one setting');
  });

  it("names come from the model, quoted", () => {
    const renamed = { ...DEFAULT_MODEL, settings: { ...DEFAULT_MODEL.settings, table: 'promo`settings', id: 'promo_id' } };
    expect(builder.guardedUpdateSql(renamed, [{ settingId: 7n, counter: 'redeemed total', from: -2n, to: 0n }], [])).toBe(
      '/* coupon-audit */ UPDATE `promo``settings` SET `redeemed total` = 0 WHERE `promo_id` = 7 AND `redeemed total` <=> -2;',
    );
  });

  it('a file: a header naming the database, the time and the tool version, then the statements', () => {
    const header = {
      database: 'coupons',
      target: 'ops@db1:3306/coupons',
      generatedAt: new Date('2026-11-28T10:00:00Z'),
      toolVersion: '0.1.0',
      scanned: 1502,
      file: 'change-1234.sql',
    };
    const changes = [
      { settingId: 42n, counter: 'issuedCount', from: 6n, to: 3n },
      { settingId: 42n, counter: 'usedCount', from: null, to: 1n },
      { settingId: 9007199254740993n, counter: 'issuedCount', from: 9007199254740993n, to: 0n },
    ];
    expect(builder.changeScriptSql(DEFAULT_MODEL, changes, header, [])).toBe(
      [
        '-- coupon-audit 0.1.0: change-control SQL (repair --emit-sql); nothing has been applied.',
        '-- database: coupons (read as ops@db1:3306/coupons)',
        '-- generated: 2026-11-28T10:00:00.000Z, from one detection that scanned 1502 settings',
        '-- changes: 3 counters of 2 settings in g_coupon_settings, one UPDATE per setting',
        '--',
        '-- Each UPDATE writes a count detection found only while its counter still holds the value',
        '-- detection saw (<=>, NULL-safe). A guard that no longer matches changes nothing: running this',
        '-- twice, or after the application moved on, is harmless (a counter that moved stays as it is;',
        '-- the next check shows it). Unlike `coupon-audit repair` there is no run lock, no recount under',
        '-- a row lock and no audit table: run it on a quiet database or in a change window, e.g.',
        '--   mariadb coupons < change-1234.sql',
        '',
        '/* coupon-audit */ UPDATE `g_coupon_settings` SET `issuedCount` = IF(`issuedCount` <=> 6, 3, `issuedCount`), `usedCount` = IF(`usedCount` <=> NULL, 1, `usedCount`) WHERE `id` = 42 AND (`issuedCount` <=> 6 OR `usedCount` <=> NULL);',
        '/* coupon-audit */ UPDATE `g_coupon_settings` SET `issuedCount` = 0 WHERE `id` = 9007199254740993 AND `issuedCount` <=> 9007199254740993;',
        '',
      ].join('\n'),
    );
  });

  it('no changes: the header and a line saying so; a newline in a name cannot end a comment', () => {
    const text = builder.changeScriptSql(
      DEFAULT_MODEL,
      [],
      { database: 'evil\nDROP TABLE x;', target: 't', generatedAt: new Date(0), toolVersion: '0.1.0', scanned: 1 },
      [],
    );
    expect(text.endsWith('\n-- No drift: nothing to change.\n')).toBe(true);
    // What detection warned of goes in the header, one comment line each, whatever it holds.
    const warned = builder.changeScriptSql(
      DEFAULT_MODEL,
      [],
      { database: 'd', target: 't', generatedAt: new Date(0), toolVersion: '0.1.0', scanned: 1, warnings: ['counter x counts no row of y\nDROP TABLE z;'] },
      [],
    );
    expect(warned).toContain('--   mariadb d < this-file.sql\n--\n-- WARNING: counter x counts no row of y DROP TABLE z;\n\n-- No drift');
    expect(text).toContain('scanned 1 setting\n');
    for (const line of text.trimEnd().split('\n')) expect(line === '' || line.startsWith('--')).toBe(true);
  });
});

describe('quoting', () => {
  it('doubles backticks in names and escapes string literals', () => {
    expect(builder.ident('we`ird')).toBe('`we``ird`');
    expect(builder.literal("it's \\ \n")).toBe("'it''s \\\\ \\n'");
    expect(builder.value(null)).toBe('NULL');
    expect(builder.value(18446744073709551615n)).toBe('18446744073709551615');
    expect(() => builder.value(2 ** 53 + 2)).toThrow(TypeError);
  });
});

describe('every statement is tagged', () => {
  it('builders, probes, session and lock statements all start with /* coupon-audit */', () => {
    const counter = DEFAULT_MODEL.counters[0]!;
    const statements = [
      builder.comparePageSql(scope, { kind: 'ids', ids: [1n] }, { onlyDrifted: false }),
      builder.pageBoundarySql(DEFAULT_MODEL, null, 1),
      builder.lastIdSql(DEFAULT_MODEL),
      builder.nullKeyCountSql(counter),
      builder.lockSettingsSql(scope, [1n], 'skip-locked'),
      builder.countChildrenSql(counter, [1n]),
      builder.countChildrenStackedSql(DEFAULT_MODEL, counter, [1n]),
      builder.writeCountersSql(DEFAULT_MODEL, [{ settingId: 1n, counter: 'issuedCount', from: 0n, to: 1n }], []),
      builder.insertAuditSql('t', { runId: 'r', dbUser: 'u' }, [{ settingId: 1n, counter: 'c', from: 1n, to: 2n }]),
      builder.guardedUpdateSql(DEFAULT_MODEL, [{ settingId: 1n, counter: 'issuedCount', from: 2n, to: 1n }], []),
      ...Object.entries(builder.sessionSql).map(([name, s]) =>
        name === 'writeTimeouts'
          ? builder.sessionSql.writeTimeouts(2, { metadataLock: true, idleSeconds: 10 })
          : name === 'names'
            ? builder.sessionSql.names('utf8mb4_unicode_ci')
            : typeof s === 'function'
              ? (s as (n: number) => string)(2)
              : s,
      ),
      builder.inspectSql.server,
      builder.inspectSql.variables(['version']),
      builder.inspectSql.status(['wsrep_ready']),
      builder.inspectSql.groupMembers,
      builder.inspectSql.columns(['t']),
      builder.inspectSql.leadingIndexColumns(['t']),
      builder.inspectSql.uniqueLeadingColumns('t'),
      builder.inspectSql.tableExists('t'),
      builder.inspectSql.tableGrants('CREATE', 'db', 't'),
      builder.inspectSql.currentUser,
      builder.inspectSql.maxUserConnections,
      builder.inspectSql.ownGrants,
      builder.probeSql.selectTable('t'),
      builder.probeSql.selectSettings(scope),
      builder.probeSql.counter(counter),
      builder.probeSql.updateCounters(scope),
      builder.probeSql.insertAudit('t'),
      builder.runLockSql.get('n', 0),
      builder.runLockSql.release('n'),
      builder.runLockSql.holder('n'),
      builder.runLockSql.describe(1n),
      builder.runLockSql.waitTimeout,
      builder.runLockSql.keepAlive,
      ...Object.values(builder.engineSql),
      builder.leaseSql.createTable('t'),
      builder.leaseSql.insert('t', { name: 'n', owner: 'o', holder: 'h' }, 15),
      builder.leaseSql.takeOver('t', { name: 'n', owner: 'o', holder: 'h' }, 15),
      builder.leaseSql.renew('t', 'n', 'o', 15),
      builder.leaseSql.holder('t', 'n'),
      builder.leaseSql.release('t', 'n', 'o'),
      ...Object.values(builder.leaseSql.probes('t')),
    ];
    for (const sql of statements) expect(sql.startsWith(`${builder.TAG} `)).toBe(true);
  });
  it('coupon-audit sql prints the first page statement (and its fallback), ids up to 1000, for the current scope', () => {
    const text = explainSql(auditScope(DEFAULT_MODEL, { counters: ['usedCount'], deleted: 'skip' }));
    // As check sends it once the server has said the keys are integers (withKeyTypes): BETWEEN.
    const typed = withKeyTypes(auditScope(DEFAULT_MODEL, { counters: ['usedCount'], deleted: 'skip' }), new Set());
    expect(text).toContain(builder.comparePageSql(typed, { kind: 'range', after: null, upTo: 1000n }, { onlyDrifted: true }));
    expect(text).toContain('s.`id` <= 1000 UNION ALL');
    expect(text).not.toContain('issuedCount');
    expect(text).toContain("WHERE NOT (UPPER(s.`status`) <=> UPPER('DELETED')) AND NOT (s.`usedCount` <=> COALESCE(k0.n, 0))");
    expect(text).toContain('NOT EXISTS (SELECT 1 FROM `g_coupon_settings` s WHERE s.`id` = `g_coupon_uses`.`settingId`);');
    // And the packed statement check sends for that page, the one a DBA finds in the processlist.
    expect(text).toContain(`${builder.packedPageSql(typed, { kind: 'range', after: null, upTo: 1000n })};`);
  });
  it("coupon-audit sql: a line break in a filter, a name or the deleted status stays inside its comment line (a trial's filter ran a CREATE TABLE from the printed file)", () => {
    const hostile = { ...DEFAULT_MODEL, source: 'conf\nDROP TABLE a;', settings: { ...DEFAULT_MODEL.settings, deletedStatus: 'DELETED\nDROP TABLE b;' }, counters: [{ ...DEFAULT_MODEL.counters[0]!, where: "status <> 'REVOKED' /*\nCREATE TABLE pwned (x INT);\n*/" }] };
    for (const deleted of ['zero', 'skip'] as const) {
      const text = explainSql(auditScope(hostile, { deleted }));
      const comments = text.split('\n').filter((line) => line.startsWith('--'));
      expect(comments.join('\n')).toContain("where status <> 'REVOKED' /* CREATE TABLE pwned (x INT); */");
      // Every line of the header is a comment (in the statements the status is a quoted literal, and
      // the filter in its place, where its /* … */ is one comment however many lines it spans).
      const header = text.slice(0, text.indexOf('\n\n'));
      expect(header.split('\n').filter((line) => !line.startsWith('--'))).toEqual([]);
    }
    // A backslash in a filter: the header says how the tool's sessions read it.
    const escaped = { ...DEFAULT_MODEL, counters: [{ ...DEFAULT_MODEL.counters[0]!, where: "code NOT LIKE 'x\\\\_%'" }] };
    expect(explainSql(auditScope(escaped))).toContain("-- SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', ''); first, as coupon-audit does.");
    expect(explainSql(auditScope(DEFAULT_MODEL))).not.toContain('NO_BACKSLASH_ESCAPES');
  });
  it('coupon-audit sql --ids / --page-size: the statements of those settings (no orphan counts), or of the page (0, N]', () => {
    const scope = auditScope(DEFAULT_MODEL);
    const typed = withKeyTypes(scope, new Set());
    const forIds = explainSql(scope, { ids: [5n, 9007199254740993n] });
    expect(forIds).toContain('WHERE s.`id` IN (5, 9007199254740993) AND NOT (');
    expect(forIds).toContain('FROM `g_coupons` WHERE `settingId` IN (5, 9007199254740993) GROUP BY `settingId`) k0');
    expect(forIds).not.toContain('NOT EXISTS');
    expect(forIds).toContain(builder.packedPageSql(typed, { kind: 'ids', ids: [5n, 9007199254740993n] }));
    expect(forIds).toContain(builder.comparePageSql(typed, { kind: 'ids', ids: [5n, 9007199254740993n] }, { onlyDrifted: true }));
    const paged = explainSql(scope, { pageSize: 50 });
    expect(paged).toContain('s.`id` <= 50 UNION ALL');
    expect(paged).not.toContain('<= 1000');
    expect(explainJson(scope, { pageSize: 50 }).statements.map((s) => s.sql)).toEqual(
      paged.split('\n').filter((line) => line !== '' && !line.startsWith('--')).join('\n').split(';\n').map((sql) => sql.replace(/;$/, '')),
    );
  });
});
