import { Command, Option } from 'commander';
import { loadModel } from '../core/config.js';
import { PAGE_SIZE_RANGE } from '../core/limits.js';
import { auditScope, type AuditScope, DEFAULT_MODEL, DELETED_POLICIES, type DeletedPolicy, withAuditTable } from '../core/model.js';
import { SORT_ORDERS, type SortOrder } from '../core/plan.js';
import type { CheckRunOptions, RunHooks } from '../core/run.js';
import { counterNames } from '../core/validate.js';
import type { ConnectionConfig } from '../db/connection-config.js';
import { counterList, positiveInteger, settingIds, wholeNumberIn, webhookUrl } from './options.js';
import type { ReportingOptions } from './reporting/publish.js';

/** Options every database command takes (SPEC.md "Common options" and the run-shaping flags). */
export interface CommonOptions extends ReportingOptions {
  url?: string;
  config?: string;
  format: 'table' | 'json';
  pageSize?: number;
  ids?: bigint[];
  columns?: string[];
  deleted: DeletedPolicy;
  concurrency: number;
  sslCa?: string;
  password?: string | true;
  quiet?: boolean;
  verbose?: boolean;
  auditTable?: string;
  sort: SortOrder;
  limit?: number;
}

/** Rows a table may be limited to (--limit). */
export const LIMIT_RANGE = { min: 1, max: 1_000_000 } as const;

export function addConnectionOptions(command: Command): Command {
  return command
    .option('--url <url>', 'mysql://user:password@host:3306/db (default: $DATABASE_URL)')
    .option('--ssl-ca <file>', 'verify the server certificate against this CA file (turns TLS on)')
    .option('--password [password]', 'database password; with no value, prompt for it (or set MYSQL_PWD)');
}

/** The options that say what is audited: the model (--config) and the part of it a run looks at. */
export function addScopeOptions(command: Command): Command {
  return command
    .option('--config <file>', `counters by definition (JSON; default: ./coupon-audit.json when present, else ${DEFAULT_MODEL.counters.map((c) => c.name).join(' and ')} of ${DEFAULT_MODEL.settings.table})`)
    .option('--columns <counters>', `only these counters, comma-separated (default: all; built in: ${DEFAULT_MODEL.counters.map((c) => c.name).join(',')})`, counterList)
    .addOption(
      new Option('--deleted <policy>', 'DELETED settings: count like others, expect zero, or skip')
        .choices([...DELETED_POLICIES])
        .default('count'),
    );
}

export function addCommonOptions(command: Command): Command {
  return addScopeOptions(addConnectionOptions(command))
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .addOption(
      new Option('--sort <order>', 'table order: by id, or largest |Δ| first (NULL caches first); JSON stays in id order')
        .choices([...SORT_ORDERS])
        .default('id'),
    )
    .option(
      '--limit <n>',
      `table rows shown, ${LIMIT_RANGE.min}-${LIMIT_RANGE.max} (default: all; the summary and --format json count them all)`,
      wholeNumberIn(LIMIT_RANGE),
    )
    .option('--ids <ids>', 'only these setting ids, comma-separated (repeatable)', settingIds)
    .option(
      '--page-size <n>',
      `settings compared per detection statement, ${PAGE_SIZE_RANGE.min}-${PAGE_SIZE_RANGE.max} (default: sized automatically)`,
      wholeNumberIn(PAGE_SIZE_RANGE),
    )
    .option('--concurrency <n>', 'detection statements at once, 1-16 (each on its own connection)', positiveInteger(16), 2)
    .option('--metrics-file <path>', 'write a Prometheus textfile (node_exporter textfile collector) after the run')
    .option('--notify-url <url>', 'POST a JSON message (Slack-style "text") here when drift is found or the run fails', webhookUrl)
    .option('-q, --quiet', 'print nothing when there is no drift; a short summary when there is')
    .option('-v, --verbose', 'SQL timings, and the full error on failure');
}

/** The model and the part of it this run audits, resolved once from --config, --audit-table, --columns and --deleted. */
export async function resolveScope(options: Pick<CommonOptions, 'config' | 'columns' | 'deleted' | 'auditTable'>, cwd?: string): Promise<AuditScope> {
  const model = withAuditTable(await loadModel(options.config, cwd), options.auditTable);
  return auditScope(model, {
    counters: options.columns === undefined ? undefined : counterNames(model, options.columns),
    deleted: options.deleted,
  });
}

/** The run options of check (and the detection inside repair), resolved once. */
export function checkRunOptions(
  options: CommonOptions,
  connection: ConnectionConfig,
  scope: AuditScope,
  extra: { signal?: AbortSignal; hooks?: RunHooks },
): CheckRunOptions {
  return {
    connection,
    scope,
    ids: options.ids,
    pageSize: options.pageSize,
    concurrency: options.concurrency,
    signal: extra.signal,
    hooks: extra.hooks,
  };
}
