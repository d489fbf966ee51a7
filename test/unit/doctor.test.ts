import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Chalk } from 'chalk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseFacts, diagnose } from '../../src/core/diagnose.js';
import { auditScope, DEFAULT_MODEL } from '../../src/core/model.js';
import { serverInfoFrom } from '../../src/db/inspector.js';
import { splitSqlScript } from '../../src/db/sql-script.js';
import { renderDiagnosis } from '../../src/cli/doctor-report.js';
import { findServerBinary, serverBinaryAt } from '../../src/server/server-binary.js';

const healthy: DatabaseFacts = {
  target: 'app@db:3306/shop',
  user: 'app',
  database: 'shop',
  server: serverInfoFrom({ version: '10.11.19-MariaDB', versionComment: 'Debian 12', variables: { log_bin: 'ON', binlog_format: 'ROW', read_only: 'OFF' } }),
  scope: auditScope(DEFAULT_MODEL),
  schemaProblems: [],
  missingSelect: [],
  unindexed: [],
  privileges: {
    select: [
      { table: 'g_coupon_settings', granted: true },
      { table: 'g_coupons', granted: true },
      { table: 'g_coupon_uses', granted: true },
    ],
    update: true,
    updateMissing: null,
    selectMissing: [],
    audit: { table: 'coupon_audit_log', exists: true, insert: true, missingColumn: null, create: null, insertGranted: null },
  },
  grantSql: (privileges, table) => `GRANT ${privileges} ON shop.${table} TO app;`,
};
const status = (facts: DatabaseFacts, name: string) => diagnose(facts).checks.find((check) => check.name === name)?.status;

describe('diagnose', () => {
  it('all ok is healthy', () => {
    const diagnosis = diagnose(healthy);
    expect(diagnosis.healthy).toBe(true);
    expect(diagnosis.checks.map((check) => check.status)).toEqual(Array(8).fill('ok'));
  });

  it('one index line per child table and key, though two counters (each with its filter) read it', () => {
    const shared = auditScope({
      ...DEFAULT_MODEL,
      counters: [
        { name: 'issuedCount', table: 'g_coupons', foreignKey: 'settingId', where: null },
        { name: 'usedCount', table: 'g_coupons', foreignKey: 'settingId', where: "status = 'USED'" },
      ],
    });
    const names = diagnose({ ...healthy, scope: shared }).checks.map((check) => check.name);
    expect(names.filter((name) => name === 'index g_coupons')).toHaveLength(1);
  });

  it('each problem makes it unhealthy, with the right status and fix', () => {
    const noIndex = diagnose({ ...healthy, unindexed: [DEFAULT_MODEL.counters[1]!] });
    expect(noIndex.healthy).toBe(false);
    expect(noIndex.checks.find((check) => check.name === 'index g_coupon_uses')).toMatchObject({
      status: 'warn',
      fix: 'CREATE INDEX `idx_g_coupon_uses_settingId` ON `g_coupon_uses` (`settingId`);',
    });
    expect(status({ ...healthy, server: { ...healthy.server, binlogFormat: 'STATEMENT' } }, 'binlog_format')).toBe('fail');
    expect(status({ ...healthy, server: { ...healthy.server, logBin: false, binlogFormat: 'STATEMENT' } }, 'binlog_format')).toBe('ok');
    const readOnly = diagnose({ ...healthy, privileges: { ...healthy.privileges!, update: false } });
    expect(readOnly.checks.find((check) => check.name === 'privileges for repair')).toMatchObject({
      status: 'fail',
      fix: 'GRANT UPDATE ON shop.g_coupon_settings TO app;',
    });
    const noSelect = diagnose({
      ...healthy,
      privileges: { ...healthy.privileges!, select: healthy.privileges!.select.map((entry) => ({ ...entry, granted: entry.table !== 'g_coupons' })) },
    });
    expect(noSelect.checks.find((check) => check.name === 'privileges for check')).toMatchObject({ status: 'fail', detail: 'no SELECT on g_coupons' });
    const unsureCreate = { ...healthy.privileges!, audit: { table: 'coupon_audit_log', exists: false, insert: null, missingColumn: null, create: null, insertGranted: true } };
    expect(status({ ...healthy, privileges: unsureCreate }, 'privileges for repair')).toBe('warn');
    expect(status({ ...healthy, privileges: { ...unsureCreate, audit: { ...unsureCreate.audit, create: true } } }, 'privileges for repair')).toBe('ok');
    expect(status({ ...healthy, server: { ...healthy.server, engine: { ...healthy.server.engine, supportsSkipLocked: false } } }, 'server version')).toBe('warn');
    const replica = diagnose({ ...healthy, server: { ...healthy.server, readOnly: true }, privileges: { ...healthy.privileges!, update: false } });
    expect(replica.checks.find((check) => check.name === 'privileges for repair')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/read_only/) });
    // Nor for a user whose writes it lets through (SUPER / READ_ONLY ADMIN): a replica would diverge.
    expect(status({ ...healthy, server: { ...healthy.server, readOnly: true } }, 'privileges for repair')).toBe('fail');
  });

  it('a broken schema skips the checks that need the tables', () => {
    const diagnosis = diagnose({ ...healthy, schemaProblems: ['table g_coupons is missing'], unindexed: undefined, privileges: undefined });
    expect(diagnosis.checks.map((check) => `${check.name}:${check.status}`)).toEqual(['connection:ok', 'engine:ok', 'schema:fail', 'binlog_format:ok']);
  });

  it('a table the user may not read is a missing privilege with its GRANT, not a missing table', () => {
    const diagnosis = diagnose({
      ...healthy,
      missingSelect: [{ table: 'g_coupon_uses', grant: 'GRANT SELECT ON shop.g_coupon_uses TO app;' }],
      unindexed: undefined,
      privileges: undefined,
    });
    expect(diagnosis.checks.map((check) => `${check.name}:${check.status}`)).toEqual(['connection:ok', 'engine:ok', 'privileges for check:fail', 'binlog_format:ok']);
    expect(diagnosis.checks[2]).toMatchObject({ detail: 'no SELECT on g_coupon_uses', fix: 'GRANT SELECT ON shop.g_coupon_uses TO app;' });
  });

  it('renders one line per check, fixes below, no colour codes at level 0', () => {
    const text = renderDiagnosis(diagnose({ ...healthy, unindexed: [DEFAULT_MODEL.counters[0]!] }), new Chalk({ level: 0 }));
    expect(text).toMatch(/^WARN  index g_coupons +no index starts with settingId/m);
    expect(text).toMatch(/^ {29}fix: CREATE INDEX `idx_g_coupons_settingId` ON `g_coupons` \(`settingId`\);$/m);
    expect(text).toMatch(/1 thing needs attention\.$/);
    expect(text).not.toMatch(/\u001b/);
  });
});

describe('splitSqlScript', () => {
  it('drops comment lines and splits at a ; that ends a line', () => {
    expect(splitSqlScript("-- a comment; with a semicolon\nCREATE TABLE t (a INT);\nINSERT INTO t VALUES (1), -- trailing\n (2);\n\n")).toEqual([
      'CREATE TABLE t (a INT)',
      'INSERT INTO t VALUES (1), -- trailing\n (2)',
    ]);
  });
});

describe('findServerBinary', () => {
  // Made and removed by hooks: a run that filters these tests out (-t) leaves no directory behind.
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ca-bin-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const fake = (name: string) => {
    writeFileSync(join(dir, name), '#!/bin/sh\n');
    chmodSync(join(dir, name), 0o755);
  };
  it('finds mariadbd with its install-db on the PATH, and prefers it to mysqld', () => {
    fake('mysqld');
    expect(findServerBinary({ PATH: dir }, [])).toEqual({ flavor: 'MySQL', server: join(dir, 'mysqld'), installDb: null });
    fake('mariadbd');
    fake('mariadb-install-db');
    expect(findServerBinary({ PATH: dir }, [])).toEqual({ flavor: 'MariaDB', server: join(dir, 'mariadbd'), installDb: join(dir, 'mariadb-install-db') });
  });
  it('a named binary: MariaDB with its install tool beside it, MySQL alone; null when missing', () => {
    expect(serverBinaryAt(join(dir, 'mariadbd'))).toEqual({ flavor: 'MariaDB', server: join(dir, 'mariadbd'), installDb: join(dir, 'mariadb-install-db') });
    expect(serverBinaryAt(join(dir, 'nope'))).toBeNull();
  });
  it('null when none is installed', () => {
    expect(findServerBinary({ PATH: '/nonexistent' }, [])).toBeNull();
  });
});
