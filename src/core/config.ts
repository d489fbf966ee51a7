import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readFileSync } from 'node:fs';
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
    text = explicit ? readFileSync(path, 'utf8') : readOwnFile(path);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (code ?? String(error));
    throw new ConfigError(`Cannot read the config file ${path}: ${why}.`);
  }
  // A byte-order mark (an editor's): JSON.parse reads it as a stray character ("Unexpected token").
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message.replace(/ at position (\d+)$/, (_, at: string) => ` at ${lineAndColumn(text, Number(at))}`);
    throw new ConfigError(`${path} is not valid JSON: ${message}.`);
  }
  // JSON.parse keeps the last of two equal keys: a counter copied and not renamed would vanish.
  const duplicate = duplicateKey(text);
  if (duplicate !== null) {
    throw new ConfigError(`${path} names ${duplicate.path === '' ? '' : `${duplicate.path}.`}${duplicate.key} twice (the second at ${lineAndColumn(text, duplicate.at)}): rename or remove one.`);
  }
  return validate(json, path);
}

/**
 * The config found in the working directory (not named with --config) decides which table repair
 * writes and what it counts: one that another user owns, or that group or others may write, is not
 * used (a cron job run from a shared directory would take someone else's; as ssh treats its
 * config), nor a link to it that another user made. What is checked is the file opened, and what
 * is read is that file (no swap between the two). Named with --config, it is the operator's
 * choice. Where there are no user ids (Windows), nothing is checked.
 */
function readOwnFile(path: string): string {
  const uid = process.getuid?.();
  if (uid === undefined) return readFileSync(path, 'utf8');
  const others = (owner: number): boolean => owner !== uid && owner !== 0;
  const link = lstatSync(path);
  // Not blocking: a FIFO planted at the name would hold the open until someone wrote to it.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = fstatSync(fd);
    const problem =
      link.isSymbolicLink() && others(link.uid)
        ? `it is a link that another user made (uid ${link.uid})`
        : !stats.isFile()
          ? 'it is not a regular file'
          : others(stats.uid)
          ? `it belongs to another user (uid ${stats.uid})`
          : (stats.mode & 0o022) !== 0
            ? `${(stats.mode & 0o002) !== 0 ? 'other users' : 'its group'} may write it (mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')})`
            : null;
    if (problem !== null) {
      throw new ConfigError(
        `${path} (found in the working directory) is not used: ${problem}, and it decides what repair writes. ` +
          'Make it yours and writable by you alone (chown, chmod go-w), or name it with --config.',
      );
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** "line 3, column 12" of a character offset (both from 1). */
export function lineAndColumn(text: string, at: number): string {
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return `line ${line}, column ${at - before.lastIndexOf('\n')}`;
}

/**
 * The first key that appears twice in one object of a valid JSON text, with the dotted path of
 * that object and the second one's offset; null when every object's keys are distinct.
 */
export function duplicateKey(text: string): { path: string; key: string; at: number } | null {
  // One frame per open object or array: its keys (objects only) and the key it sits under.
  const frames: { keys: Set<string> | null; name: string }[] = [];
  let expectKey = false;
  let lastKey = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      const frame = frames[frames.length - 1];
      if (expectKey && frame?.keys != null) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (frame.keys.has(key)) return { path: frames.slice(1).map((f) => f.name).join('.'), key, at: start };
        frame.keys.add(key);
        lastKey = key;
        expectKey = false;
      }
    } else if (c === '{' || c === '[') {
      const parent = frames[frames.length - 1];
      frames.push({ keys: c === '{' ? new Set() : null, name: parent?.keys == null && parent !== undefined ? `${parent.name}[]` : lastKey });
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      frames.pop();
    } else if (c === ',') {
      expectKey = frames[frames.length - 1]?.keys != null;
    }
  }
  return null;
}
