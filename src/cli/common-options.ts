import { Command, Option } from 'commander';
import { loadModel } from '../core/config.js';
import { CONCURRENCY_RANGE, DEFAULT_CONCURRENCY, DEFAULT_METADATA_LOCK_WAIT, METADATA_LOCK_WAIT_RANGE, PAGE_SIZE_RANGE } from '../core/limits.js';
import { auditScope, type AuditScope, DEFAULT_MODEL, DELETED_POLICIES, type DeletedPolicy, withAuditTable } from '../core/model.js';
import { SORT_ORDERS, type SortOrder } from '../core/plan.js';
import type { CheckRunOptions, RunHooks } from '../core/run.js';
import { DEFAULT_THROTTLE, describeLimits, type LoadLimit, replicaLagOptionsProblem } from '../core/throttle.js';
import { UsageError } from '../errors.js';
import { counterNames } from '../core/validate.js';
import { type ConnectionConfig, resolveReplicaConfig } from '../db/connection-config.js';
import { counterList, loadLimits, metricsFile, nonNegativeSeconds, replicaUrl, secondsIn, settingIds, wholeNumberIn, webhookUrl } from './options.js';
import type { ReportingOptions } from './reporting/publish.js';
import type { Terminal } from './terminal.js';

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
  replicaUrl?: string;
  /** Undefined unless given: they apply to --replica-url only (replicaLagOptionsProblem). */
  maxLag?: number;
  maxLagWait?: number;
  maxLoad: LoadLimit[];
  criticalLoad: LoadLimit[];
  pauseFile?: string;
  checkInterval: number;
  metadataLockWait: number;
  /** --wait-lock (check and repair). */
  waitLock: number;
}

/** Rows a table may be limited to (--limit). */
export const LIMIT_RANGE = { min: 1, max: 1_000_000 } as const;

export function addConnectionOptions(command: Command): Command {
  return command
    .option('--url <url>', 'mysql://user:password@host:3306/db (default: $DATABASE_URL)')
    .option('--ssl-ca <file>', 'verify the server certificate against this CA file (turns TLS on)')
    .option('--password [password]', 'database password; with no value, prompt for it (or set MYSQL_PWD)');
}

/** --wait-lock: how long to wait for the lock of another run like this one (`who`) instead of exiting 5. */
export function waitLockOption(who: string): Option {
  return new Option('--wait-lock <seconds>', `wait this long for ${who} to finish instead of exiting 5, 0 or more`).argParser(nonNegativeSeconds).default(0);
}

/** How long a statement waits for a table's metadata lock: every command that reads the tables (check, repair, doctor). */
export function metadataLockWaitOption(): Option {
  return new Option(
    '--metadata-lock-wait <seconds>',
    `exit 3 when a statement waits this long for a table's metadata lock (an ALTER TABLE or LOCK TABLES holds it or is queued for it), ${METADATA_LOCK_WAIT_RANGE.min}-${METADATA_LOCK_WAIT_RANGE.max}`,
  )
    .argParser(wholeNumberIn(METADATA_LOCK_WAIT_RANGE))
    .default(DEFAULT_METADATA_LOCK_WAIT);
}

/** The options that say what is audited: the model (--config) and the part of it a run looks at. */
export function addScopeOptions(command: Command): Command {
  return command
    .option('--config <file>', `counters by definition (JSON, as README "Counters by definition" writes it; default: ./coupon-audit.json when present, else ${DEFAULT_MODEL.counters.map((c) => c.name).join(' and ')} of ${DEFAULT_MODEL.settings.table})`)
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
    .option('--concurrency <n>', `detection statements at once, ${CONCURRENCY_RANGE.min}-${CONCURRENCY_RANGE.max} (each on its own connection, and one more for the next page, ready to start)`, wholeNumberIn(CONCURRENCY_RANGE), DEFAULT_CONCURRENCY)
    .option('--replica-url <url>', 'scan this replica of --url instead (after it has caught up with --url); drift it finds is confirmed on --url, repair writes only there', replicaUrl)
    // No commander default: a value given without --replica-url is refused (replicaLagOptionsProblem).
    .option('--max-lag <seconds>', `with --replica-url: pause the scan while the replica is more than this behind, 0-3600 (default: ${DEFAULT_THROTTLE.maxLagSeconds})`, secondsIn({ min: 0, max: 3600 }))
    .option('--max-lag-wait <seconds>', `with --replica-url: exit 3 when the replica stays behind --max-lag this long, 1-86400 (default: ${DEFAULT_THROTTLE.maxLagWaitSeconds})`, secondsIn({ min: 1, max: 86_400 }))
    .addOption(
      new Option('--max-load <VAR=N>', 'pause between pages and repair batches while a server status variable is above N (comma-separated; none: no limit)')
        .argParser(loadLimits('--max-load'))
        .default([...DEFAULT_THROTTLE.maxLoad], describeLimits(DEFAULT_THROTTLE.maxLoad)),
    )
    .addOption(
      new Option('--critical-load <VAR=N>', 'stop the run (exit 3, after the statement or transaction in flight) when a status variable is above N')
        .argParser(loadLimits('--critical-load'))
        .default([], 'none'),
    )
    .option('--pause-file <path>', 'pause between pages and repair batches while this file exists')
    .option('--check-interval <seconds>', 'how often load and lag are read, and a pause looks again, 0.05-60', secondsIn({ min: 0.05, max: 60 }), DEFAULT_THROTTLE.checkIntervalMs / 1000)
    .addOption(metadataLockWaitOption())
    .option('--metrics-file <path>', 'write a Prometheus textfile (node_exporter textfile collector) after the run', metricsFile)
    .option(
      '--notify-url <url>',
      'POST a JSON message (Slack-style "text") here when drift is found or the run ends in exit 3, 4, 70 or 74 (not for a usage error, another run\'s lock or a signal) (default: $COUPON_AUDIT_NOTIFY_URL)',
      webhookUrl,
    )
    .option('-q, --quiet', 'print nothing when there is no drift; a short summary when there is')
    .option('-v, --verbose', 'SQL timings, and the full error on failure');
}

/** The model and the part of it this run audits, resolved once from --config, --audit-table, --columns and --deleted. */
export async function resolveScope(
  options: Pick<CommonOptions, 'config' | 'columns' | 'deleted' | 'auditTable'>,
  terminal?: Pick<Terminal, 'info'>,
  cwd?: string,
): Promise<AuditScope> {
  const model = withAuditTable(await loadModel(options.config, cwd), options.auditTable);
  // Found, not named: say so, or a run in the wrong directory audits other counters unawares.
  if (options.config === undefined && model.source !== null) terminal?.info(`Counters from ${model.source} (in the working directory; --config names another file).`);
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
    replica: options.replicaUrl === undefined ? undefined : resolveReplicaConfig(options.replicaUrl, connection, { sslCa: options.sslCa }),
    throttle: {
      maxLoad: options.maxLoad,
      criticalLoad: options.criticalLoad,
      pauseFile: options.pauseFile ?? null,
      maxLagSeconds: options.maxLag ?? DEFAULT_THROTTLE.maxLagSeconds,
      maxLagWaitSeconds: options.maxLagWait ?? DEFAULT_THROTTLE.maxLagWaitSeconds,
      checkIntervalMs: options.checkInterval * 1000,
    },
    metadataLockWaitSeconds: options.metadataLockWait,
    waitLockSeconds: options.waitLock,
  };
}

/** --max-lag and --max-lag-wait apply to --replica-url's server only: refused without it (exit 2), before anything is read. */
export function refuseLagWithoutReplica(options: Pick<CommonOptions, 'replicaUrl' | 'maxLag' | 'maxLagWait'>): void {
  const problem = replicaLagOptionsProblem({ replica: options.replicaUrl !== undefined, maxLag: options.maxLag !== undefined, maxLagWait: options.maxLagWait !== undefined });
  if (problem !== null) throw new UsageError(problem);
}

/** check's and sql's --batch-size is their --page-size (SPEC's common option; commands/check.ts); both given, they must agree. */
export function resolvePageSize(options: { pageSize?: number; batchSize?: number }): number | undefined {
  const { pageSize, batchSize } = options;
  if (pageSize !== undefined && batchSize !== undefined && pageSize !== batchSize) {
    throw new UsageError(`--batch-size ${batchSize} and --page-size ${pageSize} are one setting here (settings per detection statement): give one of them.`);
  }
  return pageSize ?? batchSize;
}
