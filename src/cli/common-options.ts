import { Command, Option } from 'commander';
import type { Counter } from '../db/database.js';
import { COUNTERS } from '../db/database.js';
import { DEFAULT_POLICY, type AuditPolicy, type DeletedPolicy } from '../core/drift.js';
import { counterList, DELETED_POLICIES, positiveInteger, settingIds, webhookUrl } from './options.js';
import type { ReportingOptions } from './reporting/publish.js';

/** Options every database command takes (SPEC.md "Common options" and the run-shaping flags). */
export interface CommonOptions extends ReportingOptions {
  url?: string;
  format: 'table' | 'json';
  batchSize?: number;
  ids?: bigint[];
  columns?: Counter[];
  deleted: DeletedPolicy;
  concurrency: number;
  sslCa?: string;
  password?: string | true;
  quiet?: boolean;
  verbose?: boolean;
}

export function addCommonOptions(command: Command): Command {
  return command
    .option('--url <url>', 'mysql://user:password@host:3306/db (default: $DATABASE_URL)')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('--batch-size <n>', 'settings per page/transaction (default: sized automatically)', positiveInteger(100_000))
    .option('--ids <ids>', 'only these setting ids, comma-separated', settingIds)
    .option('--columns <counters>', `only these counters: ${COUNTERS.join(',')}`, counterList)
    .addOption(
      new Option('--deleted <policy>', 'DELETED settings: count like others, expect zero, or skip')
        .choices([...DELETED_POLICIES])
        .default('count'),
    )
    .option('--concurrency <n>', 'pages counted at once (each on its own connections)', positiveInteger(16), 2)
    .option('--ssl-ca <file>', 'verify the server certificate against this CA file (turns TLS on)')
    .option('--password [password]', 'database password; with no value, prompt for it (or set MYSQL_PWD)')
    .option('--metrics-file <path>', 'write a Prometheus textfile (node_exporter textfile collector) after the run')
    .option('--notify-url <url>', 'POST a JSON message (Slack-style "text") here when drift is found or the run fails', webhookUrl)
    .option('-q, --quiet', 'print nothing when there is no drift; a short summary when there is')
    .option('-v, --verbose', 'SQL timings, and the full error on failure');
}

export function auditPolicy(options: CommonOptions): AuditPolicy {
  return { counters: options.columns ?? DEFAULT_POLICY.counters, deleted: options.deleted };
}
