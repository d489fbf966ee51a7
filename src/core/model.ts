/**
 * The counter model: which table caches which counts. The schema is data: the default model is the
 * coupon schema of SPEC.md, and a config file (src/core/config.ts) may replace any part of it.
 * Everything that reads or writes the database is built from a model; nothing else names a table.
 */

/** One cached counter: a column of the settings table, and the child rows it should count. */
export interface CounterDefinition {
  /** The cached column in the settings table; also the counter's key in reports and --columns. */
  readonly name: string;
  /** The child table whose rows it counts. */
  readonly table: string;
  /** The child's column that holds the setting id. */
  readonly foreignKey: string;
  /** A SQL boolean expression over the child row: only rows for which it is true count. */
  readonly where: string | null;
  /**
   * The foreign key holds text (VARCHAR…): statements by id compare it with quoted ids, which its
   * index serves (a number would be compared as a double, row by row). Read from the server by
   * db/inspector.ts verifySchema (false: an integer); absent: not known, treated as an integer
   * except where that would be wrong for text (db/builder.ts scopeCondition).
   */
  readonly keyIsText?: boolean;
  /**
   * The largest count the cached column can hold (TINYINT UNSIGNED: 255), read from the server by
   * db/inspector.ts verifySchema; absent: not known. Repair leaves a setting whose count is past
   * it, named (core/repair.ts), instead of failing its whole batch on the server's refusal.
   */
  readonly cacheMax?: bigint;
  /**
   * The cached column is one the server computes ('STORED GENERATED', 'VIRTUAL GENERATED', as
   * information_schema's EXTRA says), read by db/inspector.ts verifySchema: check compares it,
   * repair cannot write it (core/run.ts refuses before its scan).
   */
  readonly generated?: string;
}

export interface SettingsDefinition {
  readonly table: string;
  readonly id: string;
  readonly status: string;
  /** The status value that marks a deleted setting (compared case-insensitively). */
  readonly deletedStatus: string;
  /** The id column holds text: as CounterDefinition.keyIsText. */
  readonly idIsText?: boolean;
}

export interface CounterModel {
  readonly settings: SettingsDefinition;
  /** At least one, in the order reports list them. */
  readonly counters: readonly CounterDefinition[];
  readonly auditTable: string;
  /** The config file it came from; null for the built-in model. Problems with a config are exit 2. */
  readonly source: string | null;
}

export const DEFAULT_MODEL: CounterModel = {
  settings: { table: 'g_coupon_settings', id: 'id', status: 'status', deletedStatus: 'DELETED' },
  counters: [
    { name: 'issuedCount', table: 'g_coupons', foreignKey: 'settingId', where: null },
    { name: 'usedCount', table: 'g_coupon_uses', foreignKey: 'settingId', where: null },
  ],
  auditTable: 'coupon_audit_log',
  source: null,
};

/** How DELETED settings are audited (the seed analysis, problem 1). */
export type DeletedPolicy = 'count' | 'zero' | 'skip';
export const DELETED_POLICIES: readonly DeletedPolicy[] = ['count', 'zero', 'skip'];

/**
 * What one run audits: the model, the counters chosen from it (--columns) and the DELETED policy.
 * Resolved once, before anything is read, and handed down.
 */
export interface AuditScope {
  readonly model: CounterModel;
  readonly counters: readonly CounterDefinition[];
  readonly deleted: DeletedPolicy;
}

export function auditScope(model: CounterModel, options: { counters?: readonly string[] | undefined; deleted?: DeletedPolicy | undefined } = {}): AuditScope {
  const wanted = options.counters;
  const counters =
    wanted === undefined || wanted.length === 0
      ? model.counters
      : model.counters.filter((counter) => wanted.some((name) => name.toLowerCase() === counter.name.toLowerCase()));
  return { model, counters, deleted: options.deleted ?? 'count' };
}

/** The counter of `model` called `name` (case-insensitive), or undefined. */
export function findCounter(model: CounterModel, name: string): CounterDefinition | undefined {
  return model.counters.find((counter) => counter.name.toLowerCase() === name.toLowerCase());
}

/** The model with another audit table (--audit-table wins over the config). */
export function withAuditTable(model: CounterModel, auditTable: string | undefined): CounterModel {
  return auditTable === undefined ? model : { ...model, auditTable };
}

/** The child tables a scope reads, each once, in counter order. */
export function childTables(scope: AuditScope): string[] {
  return [...new Set(scope.counters.map((counter) => counter.table))];
}
