import type { Database, Privileges, ServerInfo } from '../db/database.js';
import type { ChildTable } from '../db/rows.js';
import { binlogRejectsRepair, missingRepairGrants } from './repair-readiness.js';

const CHILD_TABLES: readonly ChildTable[] = ['coupons', 'uses'];

export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One line of `doctor`'s checklist. */
export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  /** A statement or step that fixes it. */
  fix?: string;
}

export interface Diagnosis {
  checks: DoctorCheck[];
  /** True when every check is ok. */
  healthy: boolean;
}

/** What doctor needs to know, read from the database; separated so the checklist is a pure function. */
export interface DatabaseFacts {
  target: string;
  user: string;
  database: string;
  server: ServerInfo;
  schemaProblems: string[];
  /** Present when the schema is there (otherwise there is nothing to probe). */
  indexed?: Set<ChildTable>;
  privileges?: Privileges;
  tables: Database['tables'];
  createIndexSql: Record<ChildTable, string>;
  /** The GRANT statement that gives this user `privileges` on a table of the database ('*': all of them). */
  grantSql: (privileges: string, table: string) => string;
}

export async function gatherFacts(db: Database, target: string): Promise<DatabaseFacts> {
  const server = await db.serverInfo();
  const schemaProblems = await db.schemaProblems();
  const facts: DatabaseFacts = {
    target,
    user: db.config.user,
    database: db.config.database,
    server,
    schemaProblems,
    tables: db.tables,
    createIndexSql: { coupons: db.createSettingIndexSql('coupons'), uses: db.createSettingIndexSql('uses') },
    grantSql: (privileges, table) => db.grantSql(privileges, table),
  };
  if (schemaProblems.length === 0) {
    facts.indexed = await db.childTablesWithSettingIndex();
    facts.privileges = await db.privileges();
  }
  return facts;
}

/** The checklist: connection and server, schema, settingId indexes, privileges, binlog_format. */
export function diagnose(facts: DatabaseFacts): Diagnosis {
  const checks: DoctorCheck[] = [];
  const { tables } = facts;
  checks.push({ name: 'connection', status: 'ok', detail: `${facts.target}: ${facts.server.flavor} ${facts.server.version}` });

  if (facts.schemaProblems.length > 0) {
    checks.push({
      name: 'schema',
      status: 'fail',
      detail: `${facts.schemaProblems.join('; ')}`,
      fix: 'point --url at the coupon database (or see sql/schema.sql for the tables the tool reads)',
    });
  } else {
    checks.push({
      name: 'schema',
      status: 'ok',
      detail: `${tables.settings}(id, status, issuedCount, usedCount), ${tables.coupons}.settingId, ${tables.uses}.settingId`,
    });
  }

  if (facts.indexed !== undefined) {
    for (const table of CHILD_TABLES) {
      checks.push(
        facts.indexed.has(table)
          ? { name: `index ${tables[table]}`, status: 'ok', detail: 'an index starts with settingId' }
          : {
              name: `index ${tables[table]}`,
              status: 'warn',
              detail: 'no index starts with settingId: every check reads the whole table',
              fix: facts.createIndexSql[table],
            },
      );
    }
  }

  const privileges = facts.privileges;
  if (privileges !== undefined) {
    const unreadable = (['settings', 'coupons', 'uses'] as const).filter((table) => !privileges.select[table]);
    checks.push(
      unreadable.length === 0
        ? { name: 'privileges for check', status: 'ok', detail: `SELECT on ${tables.settings}, ${tables.coupons}, ${tables.uses}` }
        : {
            name: 'privileges for check',
            status: 'fail',
            detail: `no SELECT on ${unreadable.map((table) => tables[table]).join(', ')}`,
            fix: unreadable.map((table) => facts.grantSql('SELECT', tables[table])).join(' '),
          },
    );
    const grants = missingRepairGrants(privileges, { settings: tables.settings, audit: privileges.audit.table });
    const missing = grants.map(({ privilege, table }) => `${privilege} on ${table}`);
    const fixes = grants.map(({ privilege, table }) => facts.grantSql(privilege, table));
    const unsure = !privileges.audit.exists && privileges.audit.create !== true;
    if (unsure) {
      fixes.push(
        `${facts.grantSql('CREATE, INSERT', '*')} (or create ${privileges.audit.table} from sql/audit-table.sql and grant INSERT on it)`,
      );
    }
    const auditNote = privileges.audit.exists
      ? `INSERT on ${privileges.audit.table}`
      : `CREATE for the audit table ${privileges.audit.table} (made on the first repair)`;
    if (facts.server.readOnly && grants.length > 0) {
      checks.push({
        name: 'privileges for repair',
        status: 'fail',
        detail: 'the server is read_only (a replica?): repair cannot write here (check works)',
        fix: 'point repair at the primary',
      });
    } else if (missing.length > 0) {
      if (unsure) missing.push(`CREATE for ${privileges.audit.table} (not in the grants)`);
      checks.push({ name: 'privileges for repair', status: 'fail', detail: `missing ${missing.join(', ')} (check works without them)`, fix: fixes.join(' ') });
    } else if (unsure) {
      checks.push({
        name: 'privileges for repair',
        status: 'warn',
        detail: `UPDATE on ${tables.settings}; the grants do not show CREATE in ${facts.database}, which the first repair needs for ${privileges.audit.table}`,
        fix: fixes.join(' '),
      });
    } else {
      checks.push({ name: 'privileges for repair', status: 'ok', detail: `UPDATE on ${tables.settings}, ${auditNote}` });
    }
  }

  const { server } = facts;
  if (!server.logBin) {
    checks.push({ name: 'binlog_format', status: 'ok', detail: 'binary log off' });
  } else if (binlogRejectsRepair(server)) {
    checks.push({
      name: 'binlog_format',
      status: 'fail',
      detail: 'STATEMENT: repair refuses, as the server rejects its READ COMMITTED writes (check works)',
      fix: 'SET GLOBAL binlog_format = ROW; (and in my.cnf), or MIXED',
    });
  } else {
    checks.push({ name: 'binlog_format', status: 'ok', detail: `${server.binlogFormat ?? 'unknown'}` });
  }

  if (!server.supportsSkipLocked) {
    checks.push({
      name: 'server version',
      status: 'warn',
      detail: `${server.flavor} ${server.version} has no SKIP LOCKED: repair locks settings one at a time around rows the application holds`,
      fix: 'MariaDB 10.6+ or MySQL 8.0.1+',
    });
  }

  return { checks, healthy: checks.every((check) => check.status === 'ok') };
}
