import type { AuditScope, CounterDefinition, CounterModel } from '../core/model.js';
import type { IdScope } from './rows.js';

/**
 * Every statement the tool sends, built by pure functions from the model (test/unit/builder.test.ts
 * pins their exact text). Identifiers are quoted here; values are inlined here as literals, so no
 * statement is sent with `?` placeholders: the driver's placeholder substitution would also rewrite
 * a `?` inside an operator's `where` expression.
 */

/** Every statement starts with this, so a DBA finds ours in the processlist and the slow log. */
export const TAG = '/* coupon-audit */';

const tag = (sql: string): string => `${TAG} ${sql}`;

/** A quoted identifier: backticks doubled. */
export function ident(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** A string literal, escaped as the server reads it with its default sql_mode. */
export function literal(value: string): string {
  return `'${value.replace(/[\0\n\r\b\t\x1a'"\\]/g, (char) => ESCAPES[char] ?? char)}'`;
}

const ESCAPES: Record<string, string> = {
  '\0': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\b': '\\b',
  '\t': '\\t',
  '\x1a': '\\Z',
  "'": "''",
  '"': '"',
  '\\': '\\\\',
};

/** A literal for an exact integer, a string or NULL. */
export function value(v: bigint | number | string | null): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return literal(v);
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new TypeError(`not an exact integer: ${v}`);
  return v.toString();
}

function idList(ids: readonly bigint[]): string {
  if (ids.length === 0) throw new TypeError('an empty id list');
  return ids.map((id) => id.toString()).join(', ');
}

/**
 * The condition that puts `column` in the scope. Ranges are half-open (after, upTo] and contiguous:
 * the first is unbounded below and the last above, and for child tables the first also takes NULL
 * setting ids, so every child row falls in exactly one page and orphans are counted once.
 */
export function scopeCondition(column: string, scope: IdScope, withNulls: boolean): string | null {
  if (scope.kind === 'ids') return `${column} IN (${idList(scope.ids)})`;
  const { after, upTo } = scope;
  if (after === null && upTo === null) return null;
  if (after === null) return withNulls ? `(${column} <= ${upTo} OR ${column} IS NULL)` : `${column} <= ${upTo}`;
  if (upTo === null) return `${column} > ${after}`;
  return `${column} > ${after} AND ${column} <= ${upTo}`;
}

const where = (conditions: (string | null)[]): string => {
  const parts = conditions.filter((part): part is string => part !== null);
  return parts.length === 0 ? '' : ` WHERE ${parts.join(' AND ')}`;
};

/** The deleted test on the settings row `s` (NULL-safe: a NULL status is not deleted). */
function deletedTest(model: CounterModel): string {
  return `UPPER(s.${ident(model.settings.status)}) <=> UPPER(${literal(model.settings.deletedStatus)})`;
}

/**
 * The child counts of one page as UNION ALL branches, one per child table: column n<i> holds
 * counter i's count. A table that backs one counter is filtered by its `where` (an index can serve
 * it); a table shared by several counters is read once, each counter summing its own condition.
 */
function childBranches(scope: AuditScope, ids: IdScope): string[] {
  const tables = [...new Set(scope.counters.map((counter) => counter.table))];
  return tables.map((table) => {
    const mine = scope.counters.filter((counter) => counter.table === table);
    const foreignKeys = [...new Set(mine.map((counter) => counter.foreignKey))];
    if (foreignKeys.length > 1) {
      // Different keys into one table are different groupings: give each its own branch.
      return mine.map((counter) => childBranch(scope, [counter], ids)).join(' UNION ALL ');
    }
    return childBranch(scope, mine, ids);
  });
}

function childBranch(scope: AuditScope, mine: CounterDefinition[], ids: IdScope): string {
  const fk = ident(mine[0]!.foreignKey);
  const single = mine.length === 1 ? mine[0]! : null;
  const columns = scope.counters.map((counter, i) => {
    if (!mine.includes(counter)) return `0 AS n${i}`;
    if (single !== null || counter.where === null) return `COUNT(*) AS n${i}`;
    return `SUM(CASE WHEN (${counter.where}) THEN 1 ELSE 0 END) AS n${i}`;
  });
  const filter = single?.where != null ? `(${single.where})` : null;
  return (
    `SELECT ${fk} AS id, ${columns.join(', ')} FROM ${ident(mine[0]!.table)}` +
    `${where([scopeCondition(fk, ids, true), filter])} GROUP BY ${fk}`
  );
}

/**
 * THE detection statement: one page of settings compared with its child counts, in ONE statement,
 * so every cached value and the count it is compared with come from one consistent read (SPEC.md
 * "Detection must be exact on a live database"). Each child table is read once; child rows whose
 * setting id matches no setting come out as orphans from the same read (no second pass).
 *
 * Columns: id, known (a setting exists), audited, status, cached<i>/actual<i>/expected<i> per
 * counter, and window totals over the whole page: scanned, orphans<i>, nullRefs<i>. With
 * `onlyDrifted` the server compares (NULL-safe) and returns only drifted settings, plus the page's
 * first row so the totals always arrive.
 */
export function comparePageSql(scope: AuditScope, ids: IdScope, options: { onlyDrifted: boolean }): string {
  const { model } = scope;
  const s = model.settings;
  const sid = ident(s.id);
  const n = scope.counters.map((_, i) => i);
  const deleted = deletedTest(model);
  const keys = [
    `SELECT ${sid} AS id, ${n.map((i) => `0 AS n${i}`).join(', ')} FROM ${ident(s.table)}${where([scopeCondition(sid, ids, false)])}`,
    ...childBranches(scope, ids),
  ].join(' UNION ALL ');
  const grouped = `SELECT u.id, ${n.map((i) => `SUM(u.n${i}) AS n${i}`).join(', ')} FROM (${keys}) u GROUP BY u.id`;
  const audited = scope.deleted === 'skip' ? `(s.${sid} IS NOT NULL AND NOT (${deleted}))` : `(s.${sid} IS NOT NULL)`;
  const joined =
    `SELECT k.id AS id, s.${sid} IS NOT NULL AS known, ${audited} AS audited, s.${ident(s.status)} AS status, ` +
    scope.counters
      .map((counter, i) => {
        const expected = scope.deleted === 'zero' ? `CASE WHEN ${deleted} THEN 0 ELSE k.n${i} END` : `k.n${i}`;
        return `s.${ident(counter.name)} AS cached${i}, k.n${i} AS actual${i}, ${expected} AS expected${i}`;
      })
      .join(', ') +
    ` FROM (${grouped}) k LEFT JOIN ${ident(s.table)} s ON s.${sid} = k.id`;
  const totals = [
    'SUM(j.audited) OVER () AS scanned',
    ...n.flatMap((i) => [
      `SUM(CASE WHEN j.known = 0 AND j.id IS NOT NULL THEN j.actual${i} ELSE 0 END) OVER () AS orphans${i}`,
      `SUM(CASE WHEN j.id IS NULL THEN j.actual${i} ELSE 0 END) OVER () AS nullRefs${i}`,
    ]),
    'ROW_NUMBER() OVER () AS rowNo',
  ];
  const windowed = `SELECT j.*, ${totals.join(', ')} FROM (${joined}) j`;
  const drifted = `(w.audited = 1 AND NOT (${n.map((i) => `w.cached${i} <=> w.expected${i}`).join(' AND ')}))`;
  const filter = options.onlyDrifted ? ` WHERE w.rowNo = 1 OR ${drifted}` : '';
  return tag(`SELECT w.* FROM (${windowed}) w${filter} ORDER BY w.id`);
}

/** The last id of the page that starts after `after` and holds `size` settings; no row: the rest is one page. */
export function pageBoundarySql(model: CounterModel, after: bigint | null, size: number): string {
  const sid = ident(model.settings.id);
  return tag(
    `SELECT ${sid} AS id FROM ${ident(model.settings.table)}${where([after === null ? null : `${sid} > ${after}`])} ` +
      `ORDER BY ${sid} LIMIT 1 OFFSET ${size - 1}`,
  );
}

function settingColumns(scope: AuditScope, prefix = ''): string {
  const s = scope.model.settings;
  return [
    `${prefix}${ident(s.id)} AS id`,
    `${prefix}${ident(s.status)} AS status`,
    ...scope.counters.map((counter, i) => `${prefix}${ident(counter.name)} AS cached${i}`),
  ].join(', ');
}

/** Repair step 2: lock the batch's existing settings, ascending (SKIP LOCKED leaves out rows others hold). */
export function lockSettingsSql(scope: AuditScope, ids: readonly bigint[], skipLocked: boolean): string {
  const s = scope.model.settings;
  return tag(
    `SELECT ${settingColumns(scope)} FROM ${ident(s.table)} WHERE ${ident(s.id)} IN (${idList(ids)}) ` +
      `ORDER BY ${ident(s.id)} FOR UPDATE${skipLocked ? ' SKIP LOCKED' : ''}`,
  );
}

/** Repair step 3: one counter's children of the locked settings, by a plain (non-locking) read. */
export function countChildrenSql(counter: CounterDefinition, ids: readonly bigint[]): string {
  const fk = ident(counter.foreignKey);
  return tag(
    `SELECT ${fk} AS settingId, COUNT(*) AS n FROM ${ident(counter.table)}` +
      `${where([`${fk} IN (${idList(ids)})`, counter.where === null ? null : `(${counter.where})`])} GROUP BY ${fk}`,
  );
}

/**
 * Repair step 4: literal values (never `col = col + n`: the row is locked, so they are exact).
 * `preserved` columns (ON UPDATE CURRENT_TIMESTAMP) are assigned to themselves so that only the
 * counters change.
 */
export function writeCountersSql(model: CounterModel, settingId: bigint, values: readonly [name: string, value: bigint][], preserved: readonly string[]): string {
  const assignments = [
    ...values.map(([name, v]) => `${ident(name)} = ${v}`),
    ...preserved.map((column) => `${ident(column)} = ${ident(column)}`),
  ];
  return tag(`UPDATE ${ident(model.settings.table)} SET ${assignments.join(', ')} WHERE ${ident(model.settings.id)} = ${settingId}`);
}

export interface AuditRow {
  runId: string;
  settingId: bigint;
  counter: string;
  oldValue: bigint | null;
  newValue: bigint;
  dbUser: string;
}

export function insertAuditSql(table: string, rows: readonly AuditRow[]): string {
  const tuples = rows.map((row) =>
    `(${[value(row.runId), value(row.settingId), value(row.counter), value(row.oldValue), value(row.newValue), value(row.dbUser)].join(', ')})`,
  );
  return tag(`INSERT INTO ${ident(table)} (runId, settingId, counterName, oldValue, newValue, dbUser) VALUES ${tuples.join(', ')}`);
}

/** sql/audit-table.sql with the configured name, taken literally (no replacement patterns). */
export function auditTableDdl(template: string, defaultName: string, name: string): string {
  const placeholder = ident(defaultName);
  if (!template.includes(placeholder)) throw new Error(`sql/audit-table.sql does not name ${placeholder}`);
  return tag(template.split(placeholder).join(ident(name)).replace(/;\s*$/, '').replace(/^(\s*--[^\n]*\n)+/, ''));
}

// Session and transaction control.
export const sessionSql = {
  readCommitted: tag('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED'),
  lockWaitTimeout: (seconds: number) => tag(`SET SESSION innodb_lock_wait_timeout = ${Math.trunc(seconds)}`),
  begin: tag('START TRANSACTION'),
  commit: tag('COMMIT'),
  rollback: tag('ROLLBACK'),
  /** One snapshot for several statements: the final reread. */
  repeatableReadNext: tag('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ'),
  beginSnapshot: tag('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY'),
};

// What inspector.ts reads of the server.
export const inspectSql = {
  server: tag('SELECT VERSION() AS version, @@log_bin AS logBin, @@binlog_format AS binlogFormat, @@read_only AS readOnly'),
  columns: (tables: readonly string[]) =>
    tag(
      'SELECT TABLE_NAME AS tableName, COLUMN_NAME AS columnName, EXTRA AS extra FROM information_schema.COLUMNS ' +
        `WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (${tables.map(literal).join(', ')})`,
    ),
  /** First columns of every index of these tables. */
  leadingIndexColumns: (tables: readonly string[]) =>
    tag(
      'SELECT DISTINCT TABLE_NAME AS tableName, COLUMN_NAME AS columnName FROM information_schema.STATISTICS ' +
        `WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (${tables.map(literal).join(', ')}) AND SEQ_IN_INDEX = 1`,
    ),
  tableExists: (table: string) =>
    tag(`SELECT TABLE_NAME AS tableName FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${literal(table)}`),
  /** CREATE granted to the matched account globally or on this database (GRANTEE is 'user'@'host'). */
  createGrants: (database: string) => {
    const grantee = "CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";
    return tag(
      `SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'CREATE' AND GRANTEE = ${grantee} ` +
        `UNION ALL SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES WHERE PRIVILEGE_TYPE = 'CREATE' AND GRANTEE = ${grantee} ` +
        `AND ${literal(database)} LIKE TABLE_SCHEMA`,
    );
  },
};

/**
 * Statements that touch no row but are checked by the server as the real ones would be: names,
 * privileges and (for a counter's filter) that the expression compiles. The server resolves every
 * name and privilege before it sees that no row can match.
 */
export const probeSql = {
  selectTable: (table: string) => tag(`SELECT 1 FROM ${ident(table)} LIMIT 0`),
  selectSettings: (scope: AuditScope) => tag(`SELECT ${settingColumns(scope)} FROM ${ident(scope.model.settings.table)} LIMIT 0`),
  /** A counter's child table, key and filter, as detection and repair read them. */
  counter: (counter: CounterDefinition) =>
    tag(
      `SELECT ${ident(counter.foreignKey)} FROM ${ident(counter.table)}` +
        `${counter.where === null ? '' : ` WHERE (${counter.where})`} LIMIT 0`,
    ),
  updateCounters: (scope: AuditScope) =>
    tag(
      `UPDATE ${ident(scope.model.settings.table)} SET ${scope.counters.map((c) => `${ident(c.name)} = ${ident(c.name)}`).join(', ')} WHERE 1 = 0`,
    ),
  insertAudit: (table: string) =>
    tag(`INSERT INTO ${ident(table)} (runId, settingId, counterName, newValue) SELECT '', 0, '', 0 FROM DUAL WHERE 1 = 0`),
};

export const runLockSql = {
  get: (name: string, waitSeconds: number) => tag(`SELECT GET_LOCK(${literal(name)}, ${waitSeconds}) AS got`),
  release: (name: string) => tag(`SELECT RELEASE_LOCK(${literal(name)})`),
  holder: (name: string) => tag(`SELECT IS_USED_LOCK(${literal(name)}) AS holder`),
  /** Visible only with the PROCESS privilege (or to the same user). */
  describe: (connectionId: bigint) =>
    tag(`SELECT USER AS user, HOST AS host, TIME AS seconds FROM information_schema.PROCESSLIST WHERE ID = ${connectionId}`),
  waitTimeout: tag('SELECT @@SESSION.wait_timeout AS seconds'),
  /** Keeps the lock's idle connection inside wait_timeout. */
  keepAlive: tag('SELECT 1'),
};

/** CREATE INDEX for a counter's child table (doctor and the no-index warning print it). */
export function createIndexSql(counter: CounterDefinition): string {
  return `CREATE INDEX ${ident(`idx_${counter.table}_${counter.foreignKey}`.slice(0, 64))} ON ${ident(counter.table)} (${ident(counter.foreignKey)});`;
}

/**
 * What the throttler and the replica watch read (db/replication.ts, core/throttle.ts). Status
 * variable names are checked by the option parser (letters, digits, `_`) and quoted here anyway.
 */
export const loadSql = {
  /** SHOW GLOBAL STATUS answers the same on MySQL and MariaDB, with no privilege. */
  status: (variables: readonly string[]) => tag(`SHOW GLOBAL STATUS WHERE Variable_name IN (${variables.map(literal).join(', ')})`),
  /** InnoDB's row estimate of a table: cheap (no scan), for the progress line's total. */
  tableRows: (table: string) =>
    tag(`SELECT TABLE_ROWS AS estimate FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${literal(table)}`),
};

/** Replication statements, one spelling per engine; replication.ts picks them by capability. */
export const replicationSql = {
  /** MariaDB: every transaction in the primary's binary log so far (one GTID per domain). */
  mariadbPrimaryPosition: tag('SELECT @@GLOBAL.gtid_binlog_pos AS position, @@GLOBAL.log_bin AS logBin'),
  /** MySQL: the executed GTID set, which is empty (and useless) unless gtid_mode=ON. */
  mysqlPrimaryPosition: tag('SELECT @@GLOBAL.gtid_executed AS position, @@GLOBAL.log_bin AS logBin, @@GLOBAL.gtid_mode AS gtidMode'),
  /** Returns 0 once the replica's gtid_slave_pos has reached `position`, -1 on timeout. */
  mariadbWait: (position: string, timeoutSeconds: number) =>
    tag(`SELECT MASTER_GTID_WAIT(${literal(position)}, ${seconds(timeoutSeconds)}) AS waited`),
  /** Returns 0 once the replica has executed the set, 1 on timeout. */
  mysqlWait: (position: string, timeoutSeconds: number) =>
    tag(`SELECT WAIT_FOR_EXECUTED_GTID_SET(${literal(position)}, ${Math.max(1, Math.ceil(timeoutSeconds))}) AS waited`),
  slaveStatus: tag('SHOW SLAVE STATUS'),
  /** MySQL 8.0.22+ spelling (Replica_*, Seconds_Behind_Source). */
  replicaStatus: tag('SHOW REPLICA STATUS'),
};

/** A timeout in seconds as a literal: at most 3 decimals, never negative (a negative one waits forever). */
function seconds(value: number): string {
  return String(Math.max(0.001, Math.round(value * 1000) / 1000));
}
