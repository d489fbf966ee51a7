import { type ConnectionConfig, describeTarget, resolveConnectionConfig } from '../db/connection-config.js';
import { Database, type TableNames } from '../db/database.js';
import { UsageError } from '../errors.js';
import type { CommonOptions } from './common-options.js';
import { promptPassword } from './prompt.js';
import type { RunOutcome } from './reporting/run-outcome.js';
import type { Terminal } from './terminal.js';

/** Resolves --url/DATABASE_URL/MYSQL_PWD/--password and opens the database. */
export async function connect(
  options: CommonOptions,
  terminal: Terminal,
  extra: { tables?: Partial<TableNames>; poolSize?: number } = {},
  outcome?: RunOutcome,
): Promise<Database> {
  const config = await connectionConfig(options, terminal);
  if (outcome !== undefined) {
    outcome.target = describeTarget(config);
    outcome.database = config.database;
  }
  const spinner = terminal.spinner(`Connecting to ${config.user}@${config.host}:${config.port}/${config.database}`).start();
  try {
    const db = await Database.connect(config, {
      tables: extra.tables ?? {},
      poolSize: extra.poolSize ?? options.concurrency * 2 + 1,
    });
    spinner.stop();
    return db;
  } catch (error) {
    spinner.stop();
    throw error;
  }
}

export async function connectionConfig(options: CommonOptions, terminal: Terminal): Promise<ConnectionConfig> {
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
