import { type ConnectionConfig, describeTarget, resolveConnectionConfig } from '../db/connection-config.js';
import { UsageError } from '../errors.js';
import type { CommonOptions } from './common-options.js';
import { promptPassword } from './prompt.js';
import type { RunOutcome } from './reporting/run-outcome.js';
import type { Terminal } from './terminal.js';

/** Resolves --url/DATABASE_URL/MYSQL_PWD/--password (prompting once, if asked) into connection settings. */
export async function connectionConfig(options: Pick<CommonOptions, 'url' | 'password' | 'sslCa'>, terminal: Terminal): Promise<ConnectionConfig> {
  let password: string | undefined;
  if (options.password === true) {
    if (terminal.io.stdin.isTTY !== true || terminal.io.stderr.isTTY !== true) {
      throw new UsageError('--password without a value prompts for it, which needs a terminal; set MYSQL_PWD instead.');
    }
    password = await promptPassword(terminal.io, 'Database password: ');
  } else if (typeof options.password === 'string') {
    password = options.password;
  }
  return resolveConnectionConfig({ url: options.url, env: terminal.io.env, sslCa: options.sslCa, password });
}

/**
 * For a run that failed before it connected (a missing --yes, a bad --config): the target its URL
 * names, when that URL parses, so that the metrics file labels the failure with the database a
 * connecting run would have (and keeps that series' last success time). No prompt.
 */
export function recordNamedTarget(outcome: RunOutcome, options: Pick<CommonOptions, 'url'>, env: NodeJS.ProcessEnv): void {
  if (outcome.database !== null) return;
  try {
    recordTarget(outcome, resolveConnectionConfig({ url: options.url, env }));
  } catch {
    // No URL, or the URL itself is what failed: the labels stay empty.
  }
}

/** Names the target in the metrics file and the webhook, once it is known. */
export function recordTarget(outcome: RunOutcome, config: ConnectionConfig): void {
  outcome.target = describeTarget(config);
  outcome.database = config.database;
}
