import { ident } from '../db/builder.js';
import type { Privileges, ServerInfo } from '../db/inspector.js';
import type { AuditScope, CounterModel } from './model.js';

/**
 * What stops repair on a server before it writes anything; shared by repair (which refuses up
 * front) and doctor (which reports it).
 */

export interface MissingGrant {
  /** As a GRANT names it: 'UPDATE', or 'UPDATE (`updatedAt`)' where some columns are granted. */
  privilege: string;
  table: string;
}

/** binlog_format=STATEMENT rejects the READ COMMITTED writes repair makes. */
export function binlogRejectsRepair(server: ServerInfo): boolean {
  return server.logBin && server.binlogFormat?.toUpperCase() === 'STATEMENT';
}

/** binlogRejectsRepair as what is wrong and what to do; null when it does not. */
export function binlogProblem(server: ServerInfo): { detail: string; fix: string } | null {
  return binlogRejectsRepair(server)
    ? { detail: 'the server logs with binlog_format=STATEMENT, which rejects the READ COMMITTED writes repair makes', fix: 'set binlog_format=ROW or MIXED' }
    : null;
}

/**
 * The writes repair needs and this user may not make: UPDATE on the settings, INSERT into an
 * existing audit table, and the writes of the run lock's lease where the engine needs one.
 */
export function missingRepairGrants(privileges: Privileges, model: Pick<CounterModel, 'settings' | 'auditTable'>): MissingGrant[] {
  const lease = privileges.lease;
  return [
    ...(privileges.update || (privileges.updateMissing !== null && privileges.updateMissing.length === 0)
      ? []
      : [{ privilege: privileges.updateMissing === null ? 'UPDATE' : `UPDATE (${columnList(privileges.updateMissing)})`, table: model.settings.table }]),
    ...(privileges.selectMissing.length === 0 ? [] : [{ privilege: `SELECT (${columnList(privileges.selectMissing)})`, table: model.settings.table }]),
    ...(privileges.audit.exists && privileges.audit.insert === false ? [{ privilege: 'INSERT' as const, table: model.auditTable }] : []),
    ...(lease !== undefined && lease.missing.length > 0 ? [{ privilege: 'INSERT, UPDATE, DELETE' as const, table: lease.table }] : []),
  ];
}

function columnList(columns: readonly string[]): string {
  return columns.map(ident).join(', ');
}

/**
 * Why the audit table cannot take repair's rows, or null: it is a table the model reads (repair
 * would insert audit rows among the settings or the codes), or a table of that name exists without
 * the columns repair writes (`missingColumn`: inspector.ts auditMissingColumn). Repair stops
 * before it scans (exit 2); doctor fails its 'audit table' line.
 */
export function auditTableProblem(model: Pick<CounterModel, 'settings' | 'counters' | 'auditTable'>, missingColumn: string | null): { detail: string; fix: string } | null {
  const fix = `name another audit table (--audit-table, or "auditTable" in the config): repair creates it from sql/audit-table.sql`;
  const read = [model.settings.table, ...model.counters.map((counter) => counter.table)];
  if (read.includes(model.auditTable)) return { detail: `the audit table ${model.auditTable} is a table the model reads`, fix };
  if (missingColumn !== null) return { detail: `the table ${model.auditTable} named as the audit table is not one (${missingColumn})`, fix };
  return null;
}

/**
 * Counter names longer than an existing audit table's counterName holds (`room`; null: no such
 * table yet, repair makes it with room for any column name): repair would fail at its first write,
 * after the scan. What is wrong and the statement that fixes it; null when nothing is.
 */
export function auditNameProblem(auditTable: string, room: number | null, counterNames: readonly string[]): { detail: string; fix: string } | null {
  const tooLong = room === null ? [] : counterNames.filter((name) => name.length > room);
  if (tooLong.length === 0) return null;
  return {
    detail: `the audit table ${auditTable} holds counter names of up to ${room} characters (its counterName column), and ${tooLong.map((name) => `${name} has ${name.length}`).join(', ')}`,
    fix: `ALTER TABLE \`${auditTable}\` MODIFY counterName VARCHAR(64) NOT NULL;`,
  };
}

/**
 * Counters whose cached column the server computes (a generated column: model.ts
 * CounterDefinition.generated): repair's UPDATE would be refused ("The value specified for generated
 * column … has been ignored", error 1906) after the scan. Check compares them as they are. What is
 * wrong and what to do; null when no audited counter is one.
 */
export function generatedCounterProblem(scope: Pick<AuditScope, 'model' | 'counters'>): { detail: string; fix: string } | null {
  const generated = scope.counters.filter((counter) => counter.generated !== undefined);
  if (generated.length === 0) return null;
  const writable = scope.counters.filter((counter) => counter.generated === undefined).map((counter) => counter.name);
  return {
    detail:
      `${generated.length === 1 ? 'counter' : 'counters'} ${generated.map((counter) => counter.name).join(' and ')} ${generated.length === 1 ? 'is a generated column' : 'are generated columns'} ` +
      `of ${scope.model.settings.table} (${[...new Set(generated.map((counter) => counter.generated))].join(', ')}): the server computes ${generated.length === 1 ? 'it' : 'them'}, so repair cannot write ${generated.length === 1 ? 'it' : 'them'}`,
    fix:
      writable.length > 0
        ? `repair the others with --columns ${writable.join(',')} (check compares every counter)`
        : `check compares ${generated.length === 1 ? 'it' : 'them'}; a generated column is fixed by its expression, not by repair`,
  };
}

/**
 * Tables repair writes or counts whose storage engine has no transactions (`found`: inspector.ts
 * nonTransactionalTables: MyISAM, Aria). Repair's protocol needs them (SPEC.md "Repair on a live
 * database"): the settings' rows locked, each batch and its audit rows committed or rolled back
 * whole (a trial's MyISAM settings table kept a write whose audit row the failed batch rolled
 * back), and a child row counted only once the application's transaction that adds it, and adds
 * to the cache, commits (one in a MyISAM table is seen at once: counted, then added to the cache
 * again). Repair stops before it scans; --emit-sql's guarded statements need no transaction. Null
 * when none is such a table.
 */
export function transactionsProblem(
  model: Pick<CounterModel, 'settings' | 'counters' | 'auditTable'>,
  found: readonly { table: string; engine: string; base?: string; baseSql?: string }[],
): { detail: string; fix: string } | null {
  // By name as the server matched it: where names are not case-sensitive (lower_case_table_names)
  // information_schema may spell one otherwise than the model does.
  const foundEntry = new Map(found.map((entry) => [entry.table.toLowerCase(), entry]));
  const entryOf = new Map([model.settings.table, ...model.counters.map((counter) => counter.table), model.auditTable].flatMap((table) => {
    const entry = foundEntry.get(table.toLowerCase());
    return entry === undefined ? [] : [[table, entry] as const];
  }));
  const engineOf = new Map([...entryOf].map(([table, entry]) => [table, entry.base === undefined ? entry.engine : `a view of ${entry.base}, ${entry.engine}`]));
  // What to convert: the table itself, or the one a view reads (quoted, with its database where it is another's).
  const converted = (table: string): string => entryOf.get(table)?.baseSql ?? ident(table);
  const settings = engineOf.has(model.settings.table);
  const children = [...new Set(model.counters.map((counter) => counter.table))].filter((table) => engineOf.has(table));
  const audit = engineOf.has(model.auditTable);
  const tables = [...new Set([...(settings ? [model.settings.table] : []), ...children, ...(audit ? [model.auditTable] : [])])];
  if (tables.length === 0) return null;
  const why = settings
    ? 'repair could not lock the settings, nor commit a batch with its audit rows whole or roll it back'
    : children.length > 0
      ? "a row the application adds is seen before its transaction adds to the setting's cache, so repair could count it and the application then add it again"
      : 'an audit row would stay written for a batch that is rolled back';
  return {
    detail: `no transactions in ${tables.map((table) => `${table === model.auditTable ? 'the audit table ' : ''}${table} (${engineOf.get(table)})`).join(', ')}: ${why}`,
    fix: `convert ${tables.length === 1 ? 'it' : 'them'} (${[...new Set(tables.map(converted))].map((table) => `ALTER TABLE ${table} ENGINE=InnoDB;`).join(' ')}), or write the changes for a DBA with --emit-sql`,
  };
}

/** The tables repair locks, counts or writes: transactionsProblem judges their engines. */
export function repairedTables(model: Pick<CounterModel, 'settings' | 'counters' | 'auditTable'>): string[] {
  return [model.settings.table, ...model.counters.map((counter) => counter.table), model.auditTable];
}
