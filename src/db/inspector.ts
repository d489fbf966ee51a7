import { ConfigError } from '../core/config.js';
import type { AuditScope, CounterDefinition, CounterModel } from '../core/model.js';
import { DatabaseError } from '../errors.js';
import { AUDIT_COLUMNS, closingQuote, createIndexSql, ident, indexName, inspectSql, leaseSql, literal, probeSql, sessionSql } from './builder.js';
import type { Database, Row } from './database.js';
import { detectEngine, ENGINE_VARIABLES, type EngineProfile, type ServerAnswers, WSREP_STATUS } from './engine.js';
import { isPrivilegeError, isRetryableLockError, isServerError, isStatementStopped, outsidePrimaryMessage, toDatabaseError } from './database-error.js';

/**
 * Reads the server: version and settings, the schema the model names, indexes, privileges. Nothing
 * here writes or locks a row (in the manner of gh-ost's inspect.go).
 */

export interface ServerInfo {
  version: string;
  flavor: 'MariaDB' | 'MySQL';
  logBin: boolean;
  binlogFormat: string | null;
  /** read_only=ON (a replica, usually): only users with SUPER / READ_ONLY ADMIN may write. */
  readOnly: boolean;
  /** What the engine can do (SKIP LOCKED, a cluster-wide GET_LOCK, causal reads…): db/engine.ts. */
  engine: EngineProfile;
  /** The --url database's default collation where its character set is utf8mb4; null otherwise. */
  databaseCollation: string | null;
  /** False where the server's sql_mode has NO_BACKSLASH_ESCAPES (each session then takes it out: builder.ts sessionSql.backslashEscapes). */
  backslashEscapes?: boolean;
}

/** Reads what the server says about itself: version, variables, and its cluster's status. */
export async function serverAnswers(db: Database): Promise<ServerAnswers> {
  const [row] = await db.query(inspectSql.server, 'reading the server version');
  const version = String(row?.['version'] ?? '');
  const versionComment = String(row?.['versionComment'] ?? '');
  const proxy = /vitess/i.test(`${version} ${versionComment}`);
  const answers: ServerAnswers = { version, versionComment, variables: await variables(db, inspectSql.variables(ENGINE_VARIABLES), proxy) };
  const v = answers.variables;
  if (/^(on|1)$/i.test(v['wsrep_on'] ?? '')) answers.status = await variables(db, inspectSql.status(WSREP_STATUS));
  if ((v['group_replication_group_name'] ?? '') !== '') {
    try {
      const [members] = await db.tryQuery(inspectSql.groupMembers);
      answers.groupMembers = { online: Number(members?.['online'] ?? 0), primaries: Number(members?.['primaries'] ?? 0) };
    } catch {
      answers.groupMembers = null; // performance_schema hidden from this user: not a cluster we can prove
    }
  }
  return answers;
}

/** The server facts the tool acts on, from its answers (pure: recorded answers in tests). */
export function serverInfoFrom(answers: ServerAnswers): ServerInfo {
  const engine = detectEngine(answers);
  const v = answers.variables;
  return {
    version: answers.version,
    flavor: engine.flavor,
    logBin: /^(on|1)$/i.test(v['log_bin'] ?? ''),
    binlogFormat: v['binlog_format'] ?? null,
    readOnly: /^(on|1)$/i.test(v['read_only'] ?? ''),
    engine,
    databaseCollation: (v['character_set_database'] ?? '').toLowerCase() === 'utf8mb4' && /^utf8mb4_\w+$/i.test(v['collation_database'] ?? '') ? v['collation_database']! : null,
    backslashEscapes: !/(^|,)NO_BACKSLASH_ESCAPES(,|$)/i.test(v['sql_mode'] ?? ''),
  };
}

export async function serverInfo(db: Database): Promise<ServerInfo> {
  return serverInfoFrom(await serverAnswers(db));
}

/**
 * Reads the server, and makes every connection of `db` read the way its engine needs from now on
 * (Galera: wsrep_sync_wait, so a read through any node sees every commit made before it started),
 * each statement waiting at most `metadataLockWaitSeconds` for a table's metadata lock where the
 * engine bounds that wait (engine.ts boundsMetadataLockWait): then 1205, exit 3
 * (database-error.ts), where the server's default would have it wait a day, silent.
 */
export async function useEngine(db: Database, options: { metadataLockWaitSeconds: number; refuseOutsidePrimary?: boolean }): Promise<ServerInfo> {
  const server = await serverInfo(db);
  // Outside the Primary component a node refuses reads (1047), or, with the causal reads set up
  // below, fails them at once as a lock wait (1205): which would read as a metadata lock. doctor
  // reads nothing more there, and says so on its engine line (diagnose.ts engineChecks).
  if (options.refuseOutsidePrimary !== false && outsidePrimary(server)) {
    const cluster = server.engine.clusterState!;
    throw new DatabaseError(outsidePrimaryMessage(`${db.config.host}:${db.config.port}`, `wsrep_cluster_status is ${cluster.component}, the node ${cluster.state}`));
  }
  const bound = server.engine.boundsMetadataLockWait ? [sessionSql.metadataLockWait(options.metadataLockWaitSeconds)] : [];
  db.setSessionSetup([
    ...(server.databaseCollation === null ? [] : [sessionSql.names(server.databaseCollation)]),
    ...(server.backslashEscapes === false ? [sessionSql.backslashEscapes] : []),
    ...server.engine.readSetup,
    ...bound,
  ]);
  return server;
}

/** A Galera node outside the cluster's Primary component (partitioned, or still joining): it refuses reads. */
export function outsidePrimary(server: ServerInfo): boolean {
  return server.engine.kind === 'galera' && server.engine.clusterState !== null && !server.engine.clusterState.primary;
}

/**
 * `SHOW VARIABLES`/`SHOW STATUS` rows as a map (lower-case names). A refusal is an error (exit 3):
 * a cluster read as one server would get a per-node run lock. Only a proxy that cannot answer the
 * statement at all (vtgate, known from its version string) reads as no variables.
 */
async function variables(db: Database, sql: string, proxy = false): Promise<Record<string, string>> {
  let rows;
  try {
    rows = await db.tryQuery(sql);
  } catch (error) {
    if (proxy && isServerError(error)) return {};
    throw toDatabaseError(error, db.config, 'reading the server variables');
  }
  const found: Record<string, string> = {};
  for (const row of rows) {
    const name = row['Variable_name'] ?? row['VARIABLE_NAME'];
    if (name != null) found[String(name).toLowerCase()] = String(row['Value'] ?? row['VALUE'] ?? '');
  }
  return found;
}

/** What is wrong with the schema for this scope, in three kinds that end a run differently. */
export interface SchemaProblems {
  /** Tables or columns the model names that are not there ("counter issuedCount: table g_codes is missing"). */
  missing: string[];
  /** A counter's `where` the server cannot compile: "counter issuedCount: <server message>". */
  filters: string[];
  /**
   * Key columns (the settings' id, each counter's foreign key) of a type that holds no integer ids
   * ("g_coupon_uses.usedAt is datetime, …"), and cached counter columns that hold no counts.
   */
  keys: string[];
  /** SELECT refused on a table the scope reads: the GRANT that fixes it. */
  grants: { table: string; grant: string }[];
  /** Key columns (settings id, foreign keys) that hold text, as `table\0column` (lowercase column): withKeyTypes. */
  textKeys: Set<string>;
  /** Per counter name, the largest count its column holds (columnMax). */
  cacheMax: Map<string, bigint>;
  /** Per counter name whose column the server computes, its kind ('STORED GENERATED'): model.ts CounterDefinition.generated. */
  generated: Map<string, string>;
}

export function hasProblems(problems: SchemaProblems): boolean {
  return problems.missing.length + problems.filters.length + problems.keys.length + problems.grants.length > 0;
}

/**
 * Checks every table and column of the scope, and compiles every counter's filter on the server,
 * by statements that read no row. information_schema hides tables the user may not read, so a
 * table it does not show is probed before it is called missing.
 */
export async function schemaProblems(db: Database, scope: AuditScope): Promise<SchemaProblems> {
  const { model } = scope;
  // Per table, per column, who needs it: '' for the settings themselves, else a counter's name,
  // so that a missing one is named with the counter to fix (`counter codes: table x has no column y`).
  const wanted = new Map<string, Map<string, Set<string>>>();
  const need = (table: string, column: string, owner: string): void => {
    if (!wanted.has(table)) wanted.set(table, new Map());
    const columns = wanted.get(table)!;
    if (!columns.has(column)) columns.set(column, new Set());
    columns.get(column)!.add(owner);
  };
  need(model.settings.table, model.settings.id, '');
  need(model.settings.table, model.settings.status, '');
  for (const counter of scope.counters) {
    need(model.settings.table, counter.name, counter.name);
    need(counter.table, counter.foreignKey, counter.name);
  }
  const found = await columnsOf(db, [...wanted.keys()]);
  const problems: SchemaProblems = { missing: [], filters: [], keys: [], grants: [], textKeys: new Set(), cacheMax: new Map(), generated: new Map() };
  // Tables SELECT was refused on: their GRANTs, to the account the server matched, made at the end.
  const unreadable: string[] = [];
  const withGrants = async (): Promise<SchemaProblems> => {
    if (unreadable.length > 0) await learnAccount(db);
    problems.grants = unreadable.map((table) => ({ table, grant: grantSql(db, 'SELECT', table) }));
    return problems;
  };
  for (const [table, columns] of wanted) {
    const present = found.get(table);
    if (present === undefined) {
      const denied = await selectDenied(db, table);
      if (denied) unreadable.push(table);
      else problems.missing.push(`${ownedBy(new Set([...columns.values()].flatMap((owners) => [...owners])))}table ${table} is missing`);
      continue;
    }
    // The absent columns, grouped by the owners that need them.
    const byOwners = new Map<string, { owners: Set<string>; columns: string[] }>();
    for (const [column, owners] of columns) {
      if (present.has(column.toLowerCase())) continue;
      const key = [...owners].join('\0');
      if (!byOwners.has(key)) byOwners.set(key, { owners, columns: [] });
      byOwners.get(key)!.columns.push(column);
    }
    for (const { owners, columns: absent } of byOwners.values()) problems.missing.push(`${ownedBy(owners)}table ${table} has no column ${absent.join(', ')}`);
  }
  if (problems.missing.length > 0 || unreadable.length > 0) return withGrants();
  const keys = new Map([[`${model.settings.table}\0${model.settings.id}`, [model.settings.table, model.settings.id] as const]]);
  for (const counter of scope.counters) keys.set(`${counter.table}\0${counter.foreignKey}`, [counter.table, counter.foreignKey]);
  for (const [table, column] of keys.values()) {
    const type = found.get(table)!.get(column.toLowerCase())!;
    if (TEXT_TYPES.has(type.dataType)) problems.textKeys.add(`${table}\0${column.toLowerCase()}`);
    if (!holdsIntegerIds(type)) problems.keys.push(`${table}.${column} is ${describeType(type)}: a key must be an integer column (or text holding integers)`);
  }
  for (const counter of scope.counters) {
    const type = found.get(model.settings.table)!.get(counter.name.toLowerCase())!;
    const max = columnMax(type);
    if (max !== null) problems.cacheMax.set(counter.name, max);
    if (type.generated !== undefined) problems.generated.set(counter.name, type.generated);
    if (!holdsCounts(type)) problems.keys.push(`${model.settings.table}.${counter.name} is ${describeType(type)}: a cached counter must be an integer column`);
  }
  // Pages and repair's locks take an id for one setting: a column where two rows share an id (a
  // legacy id of a config) would pair one id's children with two caches. The id must lead a
  // unique index: alone, or first, as a partitioned table's PRIMARY KEY (id, createdAt) has it. A
  // view has no index to tell by, and is taken as it is.
  const unique = await db.query(inspectSql.uniqueLeadingColumns(model.settings.table), 'reading information_schema');
  const isView = unique.some((row) => String(row['tableType']).toUpperCase() === 'VIEW');
  if (!isView && !unique.some((row) => String(row['columnName'] ?? '').toLowerCase() === model.settings.id.toLowerCase())) {
    problems.keys.push(`${model.settings.table}.${model.settings.id} leads no PRIMARY KEY or UNIQUE index: the settings id must name one setting (is ${model.settings.id} the table's key?)`);
  }
  for (const counter of scope.counters) {
    const failure = await probe(db, probeSql.counter(counter));
    if (failure === null) continue;
    if (isPrivilegeError(failure)) unreadable.push(counter.table);
    else problems.filters.push(`counter ${counter.name}: ${counter.where === null ? '' : `the filter "${counter.where}" does not work here: `}${driverMessage(failure)}${await collationHint(db, failure)}`);
  }
  const settingsFailure = await probe(db, probeSql.selectSettings(scope));
  if (settingsFailure !== null && isPrivilegeError(settingsFailure)) unreadable.push(model.settings.table);
  else if (settingsFailure !== null) {
    // Its columns are there (above): what is left is how they compare, such as a deleted status
    // the status column's character set cannot hold ('삭제됨' and a latin1 column).
    const message = driverMessage(settingsFailure);
    const hint = /collation/i.test(message)
      ? ` (the deleted status '${model.settings.deletedStatus}' is compared with ${model.settings.status} in that column's collation: give one written in characters it holds)`
      : '';
    problems.keys.push(`${model.settings.table} cannot be read as the audit reads it: ${message}${hint}`);
  }
  return withGrants();
}

/**
 * For a filter refused as an illegal mix of collations (a text column against an expression of the
 * connection's, such as CAST(x AS CHAR)): the connection's collation (useEngine: the database's
 * default), and the COLLATE that settles it.
 */
async function collationHint(db: Database, failure: Error): Promise<string> {
  if (!/Illegal mix of collations/i.test(driverMessage(failure))) return '';
  const [row] = await db.tryQuery(inspectSql.connectionCollation).catch(() => [undefined]);
  const collation = row?.['collation'];
  return (
    ` (coupon-audit's connection collation here is ${typeof collation === 'string' ? collation : "the database's default"}: ` +
    "give the filter's text expression the column's collation, e.g. CAST(id AS CHAR) COLLATE utf8mb4_unicode_ci)"
  );
}

/** "counter a: ", "counters a, b: ", or nothing when the settings themselves need it. */
function ownedBy(owners: ReadonlySet<string>): string {
  if (owners.has('')) return '';
  const names = [...owners];
  return `${names.length === 1 ? 'counter' : 'counters'} ${names.join(', ')}: `;
}

/**
 * Throws unless the scope can be read: a missing table/column or a bad filter is a configuration
 * error (exit 2) when a config named it, a database error (exit 3) for the built-in model; a
 * missing SELECT is always exit 3, with the GRANT. Returns the scope with its key columns' kinds
 * (withKeyTypes).
 */
export async function verifySchema(db: Database, scope: AuditScope): Promise<AuditScope> {
  const problems = await schemaProblems(db, scope);
  if (problems.grants.length > 0) {
    throw new DatabaseError(
      `Missing privilege: SELECT on ${problems.grants.map((g) => g.table).join(', ')} for '${db.config.user}'; ` +
        `check and repair read it: ${problems.grants.map((g) => g.grant).join(' ')}` +
        // The server does not say whether a table this user may not read exists at all.
        (scope.model.source === null
          ? ' (If this database names its tables otherwise, describe them with --config FILE.)'
          : ` (Or no such table exists: the server hides from '${db.config.user}' the tables it may not read; check the names in ${scope.model.source}.)`),
    );
  }
  const all = [...problems.missing, ...problems.keys, ...problems.filters];
  if (all.length === 0) return withKeyTypes(scope, problems.textKeys, problems.cacheMax, problems.generated);
  if (scope.model.source !== null) {
    throw new ConfigError(`${scope.model.source} does not match database '${db.config.database}': ${all.join('; ')}. Nothing was read or written.`);
  }
  throw new DatabaseError(
    `Database '${db.config.database}' does not have the coupon schema: ${all.join('; ')}. ` +
      'Point --url at the coupon database, or describe your own tables with --config FILE (README "Counters by definition").',
  );
}

/**
 * The scope with each key column marked text or not (model.ts idIsText, keyIsText), so that the
 * statements by id compare a text key with quoted ids, which its index serves (db/builder.ts idList).
 */
export function withKeyTypes(
  scope: AuditScope,
  textKeys: ReadonlySet<string>,
  cacheMax: ReadonlyMap<string, bigint> = new Map(),
  generated: ReadonlyMap<string, string> = new Map(),
): AuditScope {
  const isText = (table: string, column: string): boolean => textKeys.has(`${table}\0${column.toLowerCase()}`);
  const { settings } = scope.model;
  const counters = scope.model.counters.map((counter) => {
    const max = cacheMax.get(counter.name);
    const kind = generated.get(counter.name);
    return { ...counter, keyIsText: isText(counter.table, counter.foreignKey), ...(max === undefined ? {} : { cacheMax: max }), ...(kind === undefined ? {} : { generated: kind }) };
  });
  const model = { ...scope.model, settings: { ...settings, idIsText: isText(settings.table, settings.id) }, counters };
  return { ...scope, model, counters: scope.counters.map((counter) => counters.find((typed) => typed.name === counter.name)!) };
}

export interface ColumnType {
  dataType: string;
  numericScale: number | null;
  /** DECIMAL's digits; absent where not read. */
  numericPrecision?: number | null;
  /** The full type ('tinyint(3) unsigned'); absent where not read. */
  columnType?: string;
  /** A column the server computes: EXTRA's 'STORED GENERATED' or 'VIRTUAL GENERATED'; absent for a plain one. */
  generated?: string;
}

const INTEGER_MAX: Readonly<Record<string, readonly [bigint, bigint]>> = {
  tinyint: [127n, 255n],
  smallint: [32_767n, 65_535n],
  mediumint: [8_388_607n, 16_777_215n],
  int: [2_147_483_647n, 4_294_967_295n],
  integer: [2_147_483_647n, 4_294_967_295n],
  bigint: [9_223_372_036_854_775_807n, 18_446_744_073_709_551_615n],
};

/** The largest count a counter column holds (signed or UNSIGNED, a DECIMAL's digits); null when its type does not say. */
export function columnMax(type: ColumnType): bigint | null {
  const integer = INTEGER_MAX[type.dataType];
  if (integer !== undefined) return /\bunsigned\b/i.test(type.columnType ?? '') ? integer[1] : integer[0];
  if ((type.dataType === 'decimal' || type.dataType === 'numeric') && type.numericScale === 0 && typeof type.numericPrecision === 'number') return 10n ** BigInt(type.numericPrecision) - 1n;
  return null;
}

/** Each table's columns (lowercase names) and their types. */
async function columnsOf(db: Database, tables: readonly string[]): Promise<Map<string, Map<string, ColumnType>>> {
  const rows = await db.query(inspectSql.columns(tables), 'reading information_schema');
  const found = new Map<string, Map<string, ColumnType>>();
  for (const row of rows) {
    const table = String(row['tableName']);
    if (!found.has(table)) found.set(table, new Map());
    const scale = row['numericScale'];
    const precision = row['numericPrecision'];
    found.get(table)!.set(String(row['columnName']).toLowerCase(), {
      dataType: String(row['dataType']).toLowerCase(),
      numericScale: scale === null || scale === undefined ? null : Number(scale),
      numericPrecision: precision === null || precision === undefined ? null : Number(precision),
      columnType: String(row['columnType'] ?? ''),
      // Not MySQL 8's DEFAULT_GENERATED (an expression default), which is a plain column.
      ...generatedKind(String(row['extra'] ?? '')),
    });
  }
  return found;
}

function generatedKind(extra: string): { generated?: string } {
  const kind = /\b(?:VIRTUAL|STORED|PERSISTENT) GENERATED\b/i.exec(extra);
  return kind === null ? {} : { generated: kind[0].toUpperCase() };
}

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint']);
// Not BINARY or VARBINARY: the driver returns them as bytes, which are no id (and BINARY pads them).
const TEXT_TYPES = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext']);

/**
 * Whether a key column can hold the ids the tool reads as integers (db/rows.ts toBigInt): an
 * integer type, a DECIMAL without decimals, or text (a text key holding integers is read as its
 * text and matched by it: db/scanner.ts). A DECIMAL(10,1) key comes back as '5.0', a DATETIME as a
 * date: no page could be read.
 */
export function holdsIntegerIds(type: ColumnType): boolean {
  return holdsCounts(type) || TEXT_TYPES.has(type.dataType);
}

/** Whether a cached counter's column holds counts: an integer type or a DECIMAL without decimals. */
export function holdsCounts(type: ColumnType): boolean {
  return INTEGER_TYPES.has(type.dataType) || ((type.dataType === 'decimal' || type.dataType === 'numeric') && type.numericScale === 0);
}

/**
 * The longest counter name an existing audit table holds (its counterName column); null when the
 * table is not there (repair creates it from sql/audit-table.sql, VARCHAR(64), as long as any
 * column name) or the column cannot be read.
 */
export async function auditCounterNameLength(db: Database, table: string): Promise<number | null> {
  const [row] = await db.query(inspectSql.auditCounterNameLength(table), 'reading information_schema');
  const length = Number(row?.['n'] ?? NaN);
  return Number.isFinite(length) ? length : null;
}

function describeType(type: ColumnType): string {
  return type.dataType === 'decimal' || type.dataType === 'numeric' ? `${type.dataType} with ${type.numericScale} decimals` : type.dataType;
}

async function selectDenied(db: Database, table: string): Promise<boolean> {
  const failure = await probe(db, probeSql.selectTable(table));
  return failure !== null && isPrivilegeError(failure);
}

/**
 * Runs a statement that touches no row; null when the server accepts it, the driver error when not.
 * A lock wait (a table's metadata lock not had within --metadata-lock-wait) says nothing of the
 * grants or the schema: it ends the run as the database error it is.
 */
async function probe(db: Database, sql: string, context = 'checking the schema'): Promise<Error | null> {
  try {
    await db.tryQuery(sql);
    return null;
  } catch (error) {
    if (isServerError(error) && !isRetryableLockError(error) && !isStatementStopped(error)) return error;
    throw toDatabaseError(error, db.config, context);
  }
}

function driverMessage(error: Error): string {
  return (error as { sqlMessage?: string }).sqlMessage ?? error.message;
}

/**
 * Counters whose child table has no index that starts with the counter's key: detection reads them
 * whole. A view has no index of its own: it counts as indexed where the server reads a range of its
 * keys through its table's index (EXPLAIN: every table it reads by range or by key).
 */
export async function unindexedCounters(db: Database, scope: AuditScope): Promise<CounterDefinition[]> {
  const tables = [...new Set(scope.counters.map((counter) => counter.table))];
  const rows = await db.query(inspectSql.leadingIndexColumns(tables), 'reading information_schema');
  const leading = new Set(rows.map((row) => `${String(row['tableName'])}\0${String(row['columnName']).toLowerCase()}`));
  const unindexed = scope.counters.filter((counter) => !leading.has(`${counter.table}\0${counter.foreignKey.toLowerCase()}`));
  if (unindexed.length === 0) return unindexed;
  const views = await viewsAmong(db, unindexed.map((counter) => counter.table));
  const kept: CounterDefinition[] = [];
  for (const counter of unindexed) {
    if (!views.has(counter.table.toLowerCase()) || !(await readsRangeByIndex(db, counter))) kept.push(counter);
  }
  return kept;
}

async function readsRangeByIndex(db: Database, counter: CounterDefinition): Promise<boolean> {
  let plan: Row[];
  try {
    plan = await db.query(inspectSql.explainKeyRange(counter), `explaining how ${counter.table} is read`);
  } catch (error) {
    // An account that may read the view but not its tables may not EXPLAIN it (1345,
    // ER_VIEW_NO_EXPLAIN): not known, so read whole, as before there was a way to tell.
    const cause = error instanceof DatabaseError ? error.cause : error; // db.query words the driver's error
    if (isServerError(cause) && !isStatementStopped(cause)) return false;
    throw error;
  }
  // The view's own rows (<derived2>, a materialized view) are read as they come; its tables must be
  // read by key ('range|filter': MariaDB's range read with a rowid filter).
  return plan.every((row) => {
    const table = String(row['table'] ?? '');
    const access = String(row['type'] ?? '').toLowerCase().split('|')[0]!;
    return table === '' || table.startsWith('<') || ['range', 'ref', 'eq_ref', 'const', 'system'].includes(access);
  });
}

/** For each of these counters, the CREATE INDEX that gives its key an index, named apart from the table's indexes. */
export async function createIndexFixes(db: Database, counters: readonly CounterDefinition[]): Promise<Map<CounterDefinition, string>> {
  const fixes = new Map<CounterDefinition, string>();
  if (counters.length === 0) return fixes;
  const tables = [...new Set(counters.map((counter) => counter.table))];
  const rows = await db.query(inspectSql.indexNames(tables), 'reading information_schema');
  // A view has no index of its own: the index goes on the table it reads, which only its definition names.
  const views = await viewsAmong(db, tables);
  // Per table (its name as the server may fold it), the names taken: its indexes', and those
  // chosen for another key of it here (two fixes pasted one after the other must not clash).
  const taken = new Map<string, Set<string>>();
  for (const row of rows) {
    const table = String(row['tableName']).toLowerCase();
    if (!taken.has(table)) taken.set(table, new Set());
    taken.get(table)!.add(String(row['indexName']).toLowerCase());
  }
  for (const counter of counters) {
    if (views.has(counter.table.toLowerCase())) {
      fixes.set(counter, `${counter.table} is a view, which has no index of its own: index the column it shows as ${counter.foreignKey} in the table it reads`);
      continue;
    }
    const names = taken.get(counter.table.toLowerCase()) ?? new Set<string>();
    taken.set(counter.table.toLowerCase(), names);
    fixes.set(counter, createIndexSql(counter, names));
    names.add(indexName(counter, names).toLowerCase());
  }
  return fixes;
}

/** Those of these tables that are views, their names in lower case (as the server may fold them). */
export async function viewsAmong(db: Database, tables: readonly string[]): Promise<Set<string>> {
  const rows = await db.query(inspectSql.tableTypes([...new Set(tables)]), 'reading information_schema');
  return new Set(rows.filter((row) => String(row['tableType']).toUpperCase() === 'VIEW').map((row) => String(row['tableName']).toLowerCase()));
}

/**
 * A text settings id that is no whole number (a UUID): check and repair read ids as integers and
 * stop at the first such row (exit 3, naming the value); doctor names it before (null: none). Only
 * for a text id column; where every id is a number it reads them all (as a check reads them).
 */
export async function nonIntegerSettingsId(db: Database, model: CounterModel): Promise<string | null> {
  if (model.settings.idIsText !== true) return null;
  const [row] = await db.query(inspectSql.nonIntegerId(model), 'reading the settings ids');
  return row === undefined ? null : String(row['id']);
}

/**
 * Of these tables, those whose storage engine has no transactions (MyISAM, Aria), with it:
 * repair-readiness.ts transactionsProblem. A view (it has no engine) stands for the tables its
 * definition reads at its top level (after FROM and JOIN: viewTables; a subquery's only read), of
 * any database, its views' too, a few deep; one of them without transactions is given as the
 * view's, with its name (`base`). A view whose definition the account may not read (SHOW VIEW) is
 * not looked through: its name is added to `unseen`.
 */
export async function nonTransactionalTables(
  db: Database,
  tables: readonly string[],
  unseen: string[] = [],
): Promise<{ table: string; engine: string; base?: string; baseSql?: string }[]> {
  const here = db.config.database;
  const key = (schema: string, table: string): string => `${schema.toLowerCase()}.${table.toLowerCase()}`;
  // As messages name a table: with its database where that is another one.
  const shown = (schema: string, table: string): string => (schema.toLowerCase() === here.toLowerCase() ? table : `${schema}.${table}`);
  const found: { table: string; engine: string; base?: string; baseSql?: string }[] = [];
  for (const table of new Set(tables)) {
    // Breadth first from the table, through the views it reads, a few levels deep.
    let level = [{ schema: here, table }];
    const seen = new Set<string>();
    for (let depth = 0; depth < 5 && level.length > 0; depth += 1) {
      level.forEach((entry) => seen.add(key(entry.schema, entry.table)));
      const rows = await db.query(inspectSql.nonTransactionalIn(level), 'reading information_schema');
      const plain = rows.find((row) => String(row['tableType']).toUpperCase() !== 'VIEW');
      if (plain !== undefined) {
        const name = String(plain['tableName']);
        const schema = String(plain['tableSchema']);
        const base = shown(schema, name);
        found.push(
          depth === 0
            ? { table, engine: String(plain['engine']) }
            : { table, engine: String(plain['engine']), base, baseSql: base === name ? ident(name) : `${ident(schema)}.${ident(name)}` },
        );
        break;
      }
      const next: { schema: string; table: string }[] = [];
      for (const view of rows) {
        const [schema, name] = [String(view['tableSchema']), String(view['tableName'])];
        const [definition] = await db.query(inspectSql.viewDefinition(schema, name), 'reading information_schema');
        const text = String(definition?.['definition'] ?? '');
        // Not shown to this account (SHOW VIEW): noted in `unseen`, for doctor to say.
        if (text === '') unseen.push(shown(schema, name));
        for (const read of viewTables(text)) {
          if (!seen.has(key(read.schema, read.table))) next.push(read);
        }
      }
      level = next;
    }
  }
  return found;
}

/**
 * The tables a view's definition reads at its top level, as the server keeps it (names written
 * `db`.`table`; joins as `from (a join b on(…))`): those after FROM or JOIN, or opening a
 * parenthesized join, outside other parentheses (a subquery's tables, or a condition's, are only
 * read, never written through the view) and outside quoted strings.
 */
export function viewTables(definition: string): { schema: string; table: string }[] {
  const tables: { schema: string; table: string }[] = [];
  const name = /^\s*`((?:[^`]|``)+)`\.`((?:[^`]|``)+)`/;
  // Per open parenthesis: whether it groups joined tables (it follows FROM, JOIN or such a group).
  const groups: boolean[] = [];
  const nested = (): boolean => groups.some((group) => !group);
  let takesTable = false; // the last word was FROM or JOIN, or a group just opened
  const take = (at: number): void => {
    const match = name.exec(definition.slice(at));
    if (match !== null && !nested()) tables.push({ schema: match[1]!.replace(/``/g, '`'), table: match[2]!.replace(/``/g, '`') });
  };
  for (let i = 0; i < definition.length; i += 1) {
    const c = definition[i]!;
    if (/\s/.test(c)) continue;
    if (c === "'" || c === '"' || c === '`') {
      // A quoted string or name: skipped whole (one not closed runs to the end).
      const end = closingQuote(definition, i);
      i = end === -1 ? definition.length : end;
      takesTable = false;
    } else if (c === '(') {
      groups.push(takesTable);
      if (takesTable) take(i + 1);
    } else if (c === ')') {
      groups.pop();
      takesTable = false;
    } else if (/[a-z_]/i.test(c) && (i === 0 || !/[\w$]/.test(definition[i - 1]!))) {
      const word = /^[a-z_]+/i.exec(definition.slice(i))![0];
      takesTable = /^(from|join)$/i.test(word);
      if (takesTable) take(i + word.length);
      i += word.length - 1;
    } else takesTable = false;
  }
  return tables;
}

/**
 * Columns of the settings table that ON UPDATE CURRENT_TIMESTAMP would change behind our back
 * (an `updatedAt`): repair assigns them to themselves so that only the counters change.
 */
export async function autoUpdatedColumns(db: Database, model: CounterModel): Promise<string[]> {
  const rows = await db.query(inspectSql.columns([model.settings.table]), 'reading information_schema');
  return rows.filter((row) => /on update/i.test(String(row['extra'] ?? ''))).map((row) => String(row['columnName']));
}

/**
 * How many connections this account may hold at once: the smaller of the server's
 * max_user_connections and the account's own MAX_USER_CONNECTIONS (MariaDB's SHOW GRANTS says
 * it); null when neither limits it or neither can be read. Nothing of the grants is kept but the number.
 */
export async function connectionLimit(db: Database): Promise<number | null> {
  const limits: number[] = [];
  const [global] = await db.tryQuery(inspectSql.maxUserConnections).catch(() => []);
  const serverWide = Number(global?.['n'] ?? 0);
  if (serverWide > 0) limits.push(serverWide);
  for (const row of await db.tryQuery(inspectSql.ownGrants).catch(() => [])) {
    const own = /\bMAX_USER_CONNECTIONS\s+(\d+)/i.exec(String(Object.values(row)[0] ?? ''));
    if (own !== null && Number(own[1]) > 0) limits.push(Number(own[1]));
  }
  return limits.length === 0 ? null : Math.min(...limits);
}

export async function tableExists(db: Database, table: string): Promise<boolean> {
  return (await db.query(inspectSql.tableExists(table), 'reading information_schema')).length > 0;
}

export interface Privileges {
  /** SELECT on every table the scope reads. */
  select: { table: string; granted: boolean }[];
  /** UPDATE of the audited counters (repair). */
  update: boolean;
  /**
   * Where UPDATE is refused but granted on some of the columns repair assigns (a column-level
   * grant): the others, to name in the GRANT. Null where none is granted (or all are).
   */
  updateMissing: string[] | null;
  /** Columns repair assigns to themselves (`updatedAt = updatedAt`) that a column-level SELECT grant leaves out: the assignment reads them. */
  selectMissing: string[];
  audit: {
    table: string;
    exists: boolean;
    /** INSERT into it, when it exists and has the audit columns. */
    insert: boolean | null;
    /** When it exists without a column repair writes (another table of that name): which (auditMissingColumn). */
    missingColumn: string | null;
    /** CREATE in the database, when it does not: true when granted, null when the grants do not say. */
    create: boolean | null;
    /** INSERT on it once made, when it does not exist yet: true when the grants show it, null when they do not say. */
    insertGranted: boolean | null;
  };
  /** The run lock's lease table, where the engine needs one (Galera, Group Replication). */
  lease?: {
    table: string;
    exists: boolean;
    /** INSERT, UPDATE, DELETE refused on it, when it exists. */
    missing: ('INSERT' | 'UPDATE' | 'DELETE')[];
    /** CREATE in the database, when it does not exist: true when granted, null when the grants do not say. */
    create: boolean | null;
  };
}

/**
 * What this user may do, found by statements that touch no row: `SELECT … LIMIT 0`,
 * `UPDATE … WHERE 1 = 0` (no row matches, so nothing is locked or written) and
 * `INSERT … SELECT … WHERE 1 = 0`. The server checks privileges before it looks at rows, so these
 * answer exactly as the real statements would, roles and wildcard grants included. Only CREATE
 * and INSERT for an audit table not made yet cannot be tried without side effects: they are read
 * from information_schema, and `null` means the grants did not say (a role's grants do not show
 * there): repair then makes the table before it scans (core/run.ts assertRepairPossible).
 */
export async function privileges(db: Database, scope: AuditScope, leaseTable: string | null = null): Promise<Privileges> {
  const allowed = (sql: string): Promise<boolean> => mayRun(db, sql);
  const tables = [scope.model.settings.table, ...new Set(scope.counters.map((counter) => counter.table))];
  const select = [];
  for (const table of new Set(tables)) select.push({ table, granted: await allowed(probeSql.selectTable(table)) });
  const preserved = await autoUpdatedColumns(db, scope.model);
  const update = await allowed(probeSql.updateCounters(scope, preserved));
  let updateMissing: string[] | null = null;
  const selectMissing: string[] = [];
  if (!update) {
    // A grant of UPDATE (issuedCount, usedCount) misses an ON UPDATE column repair assigns to itself (updatedAt).
    const columns = [...new Set([...scope.counters.map((counter) => counter.name), ...preserved])];
    const missing: string[] = [];
    let readOnly = false;
    for (const column of columns) {
      const failure = await probe(db, probeSql.updateColumn(scope.model.settings.table, column), 'probing privileges');
      if (failure === null) continue;
      // 1290: read_only refuses every write (mayRun): no column to name.
      if ((failure as { errno?: number }).errno === 1290) {
        readOnly = true;
        break;
      }
      if (!isPrivilegeError(failure)) throw toDatabaseError(failure, db.config, 'probing privileges');
      // `SET c = c` reads c too: a column-level SELECT that leaves it out refuses it (1143, SELECT).
      if (/^SELECT\b/i.test(driverMessage(failure))) selectMissing.push(column);
      else missing.push(column);
    }
    if (readOnly) selectMissing.length = 0;
    else if (missing.length < columns.length) updateMissing = missing;
  }
  const auditTable = scope.model.auditTable;
  const exists = await tableExists(db, auditTable);
  // A table of that name that is not an audit table: its INSERT probe would fail on the column, not the grant.
  const missingColumn = exists ? await auditMissingColumn(db, auditTable) : null;
  const insert = exists && missingColumn === null ? await allowed(probeSql.insertAudit(auditTable)) : null;
  const granted = async (privilege: 'CREATE' | 'INSERT', table: string): Promise<true | null> =>
    (await db.query(inspectSql.tableGrants(privilege, db.config.database, table), 'reading information_schema')).length > 0 ? true : null;
  const create = exists ? null : await granted('CREATE', auditTable);
  const insertGranted = exists ? null : await granted('INSERT', auditTable);
  const result: Privileges = { select, update, updateMissing, selectMissing, audit: { table: auditTable, exists, insert, missingColumn, create, insertGranted } };
  if (leaseTable !== null) {
    const leaseExists = await tableExists(db, leaseTable);
    const missing: ('INSERT' | 'UPDATE' | 'DELETE')[] = [];
    if (leaseExists) {
      const probes = leaseSql.probes(leaseTable);
      for (const [privilege, sql] of [['INSERT', probes.insert], ['UPDATE', probes.update], ['DELETE', probes.delete]] as const) {
        if (!(await allowed(sql))) missing.push(privilege);
      }
    }
    result.lease = { table: leaseTable, exists: leaseExists, missing, create: leaseExists ? null : await granted('CREATE', leaseTable) };
  }
  return result;
}

/**
 * An existing audit table without a column repair writes (another table of that name): what it
 * lacks, else null. Read from information_schema, not by a statement on the table: that would
 * wait for the table's metadata lock behind a queued ALTER (as late as the plan of a repair).
 */
export async function auditMissingColumn(db: Database, table: string): Promise<string | null> {
  const present = (await columnsOf(db, [table])).get(table);
  if (present === undefined) return null;
  const missing = AUDIT_COLUMNS.filter((column) => !present.has(column.toLowerCase()));
  return missing.length === 0 ? null : `it has no column ${missing.join(', ')}`;
}

/** INSERT into the audit table, probed (it exists): false when the grants refuse it. */
export function mayInsertAudit(db: Database, table: string): Promise<boolean> {
  return mayRun(db, probeSql.insertAudit(table));
}

/** Whether this user may run a statement that touches no row (privileges' probes). */
async function mayRun(db: Database, sql: string): Promise<boolean> {
  const failure = await probe(db, sql, 'probing privileges');
  // 1290: read_only refuses the write; for this user that is as good as no privilege.
  if (failure === null) return true;
  if (isPrivilegeError(failure) || (failure as { errno?: number }).errno === 1290) return false;
  throw toDatabaseError(failure, db.config, 'probing privileges');
}

const accounts = new WeakMap<Database, string>();

/**
 * Reads once which account the server matched ('app'@'10.0.%'), for grantSql: a GRANT must name
 * that account, whose host part is rarely '%'. Called where a GRANT is about to be printed; if
 * the read fails, grantSql falls back to the user at '%'.
 */
export async function learnAccount(db: Database): Promise<void> {
  if (accounts.has(db)) return;
  try {
    const [row] = await db.query(inspectSql.currentUser, 'reading the account');
    const text = String(row?.['account'] ?? '');
    const at = text.lastIndexOf('@');
    if (at >= 0) accounts.set(db, `${literal(text.slice(0, at))}@${literal(text.slice(at + 1))}`);
  } catch {
    // The fallback in grantSql.
  }
}

/** A GRANT of `privileges` on one table of this database (or `*`), or on `*.*` (`table` null), to this account (learnAccount), to print. */
export function grantSql(db: Database, privileges: string, table: string | null): string {
  const on = table === null ? '*.*' : `${ident(db.config.database)}.${table === '*' ? '*' : ident(table)}`;
  return `GRANT ${privileges} ON ${on} TO ${accounts.get(db) ?? `${literal(db.config.user)}@'%'`};`;
}
