import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { type CounterModel, DEFAULT_MODEL } from './model.js';
import type { CounterConfig } from './config-schema.js';

export type { CounterConfig };

/** A config file that cannot be used: exit 2, before anything is read or written. */
export class ConfigError extends UsageError {}

/** The file looked for in the working directory when --config is not given. */
export const DEFAULT_CONFIG_FILE = 'coupon-audit.json';

/**
 * The model for a run: `--config FILE` (must exist), else coupon-audit.json in `cwd` when there is
 * one, else the built-in model. An object is taken as the config itself (the library API).
 */
export async function loadModel(config: string | CounterConfig | undefined, cwd: string = process.cwd()): Promise<CounterModel> {
  // zod is loaded only when there is a config to validate.
  const validate = async (input: unknown, source: string): Promise<CounterModel> => (await import('./config-schema.js')).modelFromConfig(input, source);
  if (config !== undefined && typeof config !== 'string') return validate(config, 'config');
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
  return validate(json, path);
}
