import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { type CounterDefinition, type CounterModel, DEFAULT_MODEL } from './model.js';

/** A config file that cannot be used: exit 2, before anything is read or written. */
export class ConfigError extends UsageError {}

/** The file looked for in the working directory when --config is not given. */
export const DEFAULT_CONFIG_FILE = 'coupon-audit.json';

const identifier = z
  .string()
  .min(1, 'expected a name of 1 to 64 characters')
  .max(64, 'expected a name of 1 to 64 characters')
  .refine((value) => !value.includes('\0'), 'a name cannot hold a NUL character');

const counterSchema = z.strictObject({
  table: identifier,
  foreignKey: identifier,
  where: z.string().trim().min(1, 'expected a SQL boolean expression (leave "where" out to count every row)').optional(),
});

/** The config file's shape (SPEC.md "Counters by definition"); unknown keys are errors. */
export const configSchema = z.strictObject({
  settings: z
    .strictObject({
      table: identifier.optional(),
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
  auditTable: identifier.optional(),
});

export type CounterConfig = z.input<typeof configSchema>;

/** The model a config describes; parts it leaves out keep their defaults. Throws ConfigError. */
export function modelFromConfig(input: unknown, source: string): CounterModel {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    const message = issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.map((key) => `"${key}"`).join(', ')}` : issue.message;
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
  return {
    settings: { ...DEFAULT_MODEL.settings, ...stripUndefined(config.settings ?? {}) },
    counters: counters ?? DEFAULT_MODEL.counters,
    auditTable: config.auditTable ?? DEFAULT_MODEL.auditTable,
    source,
  };
}

/**
 * The model for a run: `--config FILE` (must exist), else coupon-audit.json in `cwd` when there is
 * one, else the built-in model. An object is taken as the config itself (the library API).
 */
export function loadModel(config: string | CounterConfig | undefined, cwd: string = process.cwd()): CounterModel {
  if (config !== undefined && typeof config !== 'string') return modelFromConfig(config, 'config');
  const explicit = config !== undefined;
  const path = resolve(cwd, config ?? DEFAULT_CONFIG_FILE);
  if (!explicit && !existsSync(path)) return DEFAULT_MODEL;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read the config file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path} is not valid JSON: ${(error as Error).message}.`);
  }
  return modelFromConfig(json, path);
}

function stripUndefined<T extends object>(value: T): { [K in keyof T]-?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}
