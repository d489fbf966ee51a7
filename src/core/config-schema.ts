import { z } from 'zod';
import { closingQuote } from '../db/builder.js';
import { type CounterDefinition, type CounterModel, DEFAULT_MODEL } from './model.js';
import { ConfigError } from './config.js';
import { auditTableNameProblem } from './validate.js';

/**
 * The config file's schema (zod), loaded only when there is a config to read: zod costs a
 * noticeable share of a cron run's start-up.
 */

const identifier = z
  .string()
  .min(1, 'expected a name of 1 to 64 characters')
  .max(64, 'expected a name of 1 to 64 characters')
  .refine((value) => !value.includes('\0'), 'a name cannot hold a NUL character');

/**
 * A table the model reads: one name in the --url database, as every statement quotes it
 * (`` `other.uses` `` would be one table of that name here, not `uses` of database other).
 */
const tableName = identifier.superRefine((value, context) => {
  if (value.includes('.')) {
    context.addIssue({ code: 'custom', message: `'${value}' has a dot: give a table name in the --url database, without a database prefix (for a table of another database, make a view of it in this one)` });
  }
});

const counterSchema = z.strictObject({
  table: tableName,
  foreignKey: identifier,
  where: z
    .string()
    .trim()
    .min(1, 'expected a SQL boolean expression (leave "where" out to count every row)')
    .superRefine((where, context) => {
      const problem = expressionProblem(where);
      if (problem !== null) context.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});

/**
 * Why `where` is not one expression, or null. Every statement puts it in parentheses, `AND (…)`, and
 * so does the probe that has the server compile it (db/inspector.ts): `1=1) OR (1=1` compiles there
 * and then counts rows of every setting. So its parentheses must pair up outside quotes ('…', "…",
 * `…`, with their doubled or backslashed quotes) and comments; a line comment (`-- `, `#`) is
 * refused. Backslashes escape, as the server reads them in every session of the tool (which takes
 * NO_BACKSLASH_ESCAPES out of its sql_mode: db/inspector.ts useEngine).
 */
export function expressionProblem(where: string): string | null {
  let depth = 0;
  for (let i = 0; i < where.length; i++) {
    const c = where[i]!;
    if (c === "'" || c === '"' || c === '`') {
      const end = closingQuote(where, i);
      if (end === -1) return `a ${c} quote is not closed`;
      i = end;
    } else if (c === '/' && where[i + 1] === '*') {
      // A comment is skipped, as the server skips it; one the server runs (/*! … */, /*M! … */) is refused.
      if (where[i + 2] === '!' || (where[i + 2] === 'M' && where[i + 3] === '!')) return 'a /*! comment is not supported in a filter';
      const end = where.indexOf('*/', i + 2);
      if (end === -1) return 'a /* comment is not closed';
      i = end + 1;
    } else if (c === '#' || (c === '-' && where[i + 1] === '-' && (i + 2 >= where.length || where.charCodeAt(i + 2) <= 0x20))) {
      // The server starts a -- comment before any control character as well as a space ('--\x01').
      // It would run to the end of the line, over the parenthesis every statement closes after it.
      return 'a -- or # comment would hide the parenthesis put after the filter; use /* … */';
    } else if (c === '(') depth += 1;
    else if (c === ')' && --depth < 0) return `a ")" closes a parenthesis the expression did not open (it must be one expression: it is put in parentheses)`;
  }
  return depth > 0 ? 'a "(" is not closed' : null;
}

/** The config file's shape (SPEC.md "Counters by definition"); unknown keys are errors. */
export const configSchema = z.strictObject({
  settings: z
    .strictObject({
      table: tableName.optional(),
      id: identifier.optional(),
      status: identifier.optional(),
      deletedStatus: z.string().min(1).max(255).optional(),
    })
    .optional(),
  counters: z
    .record(identifier, counterSchema)
    .refine((counters) => Object.keys(counters).length > 0, 'name at least one counter')
    .refine(
      (counters) => new Set(Object.keys(counters).map((name) => name.toLowerCase())).size === Object.keys(counters).length,
      'counter names must differ (column names are case-insensitive)',
    )
    .optional(),
  auditTable: identifier
    .superRefine((name, context) => {
      const problem = auditTableNameProblem(name);
      if (problem !== null) context.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});

export type CounterConfig = z.input<typeof configSchema>;

/** The model a config describes; parts it leaves out keep their defaults. Throws ConfigError. */
export function modelFromConfig(input: unknown, source: string): CounterModel {
  // JSON.parse makes "__proto__" an own key, which the schema's record then does not see: the
  // counter vanished, and the error said to name one.
  const counterKeys = typeof input === 'object' && input !== null && typeof (input as { counters?: unknown }).counters === 'object' ? Object.keys((input as { counters: object }).counters ?? {}) : [];
  if (counterKeys.includes('__proto__')) throw new ConfigError(`${source}: counters.__proto__: a counter cannot be named __proto__.`);
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    // An unknown key first: "foreign_key" is the cause of the missing "foreignKey" beside it.
    const issues = parsed.error.issues;
    const issue = issues.find((one) => one.code === 'unrecognized_keys') ?? issues[0]!;
    // A key too long to be a name is shown cut (it was printed whole).
    const at = issue.path.length > 0 ? issue.path.map((part) => (String(part).length > 40 ? `${String(part).slice(0, 40)}…` : String(part))).join('.') : '(top level)';
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown key ${issue.keys.map((key) => `"${key}"`).join(', ')}`
        : issue.code === 'invalid_type' && /received undefined$/.test(issue.message)
          ? `missing (expected ${issue.expected})`
          : issue.code === 'invalid_key'
            ? `not a counter name: ${issue.issues[0]?.message ?? 'expected a name of 1 to 64 characters'}` // zod's own was "Invalid key in record"
            : issue.message;
    throw new ConfigError(`${source}: ${at}: ${message}.`);
  }
  const config = parsed.data;
  const counters: CounterDefinition[] | undefined =
    config.counters === undefined
      ? undefined
      : Object.entries(config.counters).map(([name, counter]) => ({
          name,
          table: counter.table,
          foreignKey: counter.foreignKey,
          where: counter.where ?? null,
        }));
  const model: CounterModel = {
    settings: { ...DEFAULT_MODEL.settings, ...stripUndefined(config.settings ?? {}) },
    counters: counters ?? DEFAULT_MODEL.counters,
    auditTable: config.auditTable ?? DEFAULT_MODEL.auditTable,
    source,
  };
  // Repair writes every counter's column: named after the key or the status, it would overwrite that.
  for (const counter of model.counters) {
    const role = counter.name.toLowerCase() === model.settings.id.toLowerCase() ? 'key (settings.id)' : counter.name.toLowerCase() === model.settings.status.toLowerCase() ? 'status column (settings.status)' : null;
    if (role !== null) throw new ConfigError(`${source}: counters.${counter.name}: ${model.settings.table}.${counter.name} is the settings' ${role}, not a cached counter (repair would overwrite it).`);
  }
  return model;
}

function stripUndefined<T extends object>(value: T): { [K in keyof T]-?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}
