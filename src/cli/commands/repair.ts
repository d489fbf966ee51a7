import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { DriftReport } from '../../core/detect-drift.js';
import { lockHoldStats, repairReportJson } from '../../core/report.js';
import { BATCH_SIZE_RANGE, emptyRepairResult, type RepairResult } from '../../core/repair.js';
import { repairExitCode, repairRun } from '../../core/run.js';
import { type ExitCode, UsageError } from '../../errors.js';
import { addCommonOptions, checkRunOptions, type CommonOptions, resolveScope } from '../common-options.js';
import { connectionConfig, recordTarget } from '../connect.js';
import { plural } from '../drift-report.js';
import { nonNegativeInteger, nonNegativeSeconds, positiveInteger, tableName, wholeNumberIn } from '../options.js';
import { confirm } from '../prompt.js';
import { renderChangesTable, repairSummaryLines } from '../repair-report.js';
import type { RunOutcome } from '../reporting/run-outcome.js';
import type { Runner } from '../runner.js';
import { Interrupts } from '../signals.js';
import type { Terminal } from '../terminal.js';
import { printDriftReport, recordScan, scanHooks } from './check.js';

export interface RepairOptions extends CommonOptions {
  dryRun?: boolean;
  yes?: boolean;
  maxChanges?: number;
  batchSize?: number;
  lockWaitTimeout: number;
  waitLock: number;
}

export function repairCommand(program: Command, run: Runner): void {
  addCommonOptions(
    program
      .command('repair')
      .description('recount drifted settings in short transactions, safe on a live database')
      .option('--dry-run', 'show exactly what would be written, and write nothing')
      .option('-y, --yes', 'apply without asking (required when not on a terminal)')
      .option(
        '--batch-size <n>',
        `settings per repair transaction, ${BATCH_SIZE_RANGE.min}-${BATCH_SIZE_RANGE.max} (default: sized toward 100 ms transactions)`,
        wholeNumberIn(BATCH_SIZE_RANGE),
      )
      .option('--max-changes <n>', 'refuse to write anything when more than N settings drift', nonNegativeInteger(1e9))
      .option('--audit-table <name>', 'table recording every write, in the --url database (created when missing; default: coupon_audit_log or the config\'s)', tableName)
      .option('--lock-wait-timeout <seconds>', 'innodb_lock_wait_timeout of the repair session, 1-60', positiveInteger(60), 2)
      .option('--wait-lock <seconds>', 'wait this long for another repair to finish instead of exiting 5', nonNegativeSeconds, 0),
  ).action(run('repair', runRepair));
}

export async function runRepair(terminal: Terminal, options: RepairOptions, outcome: RunOutcome): Promise<ExitCode> {
  outcome.dryRun = options.dryRun === true;
  const scope = resolveScope(options);
  const prompting = options.dryRun !== true && options.yes !== true;
  // Refused before connecting: a scan of a large database would come first otherwise.
  if (prompting && (terminal.io.stdin.isTTY !== true || terminal.io.stderr.isTTY !== true)) {
    throw new UsageError('--yes is required when not running interactively; nothing was written (try --dry-run to see the plan).');
  }
  const connection = await connectionConfig(options, terminal);
  recordTarget(outcome, connection);
  const interrupts = new Interrupts(terminal.io);
  const spinner = terminal.spinner(`Scanning ${scope.model.settings.table}`).start();
  const result = emptyRepairResult(randomUUID());
  let report: DriftReport | null = null;
  try {
    const run = await repairRun(
      {
        ...checkRunOptions(options, connection, scope, { signal: interrupts.signal }),
        hooks: {
          ...scanHooks(terminal, spinner),
          onScanned: (scanned) => {
            report = scanned;
          },
          onRepairStart: (settings) => {
            spinner.text = `Repairing ${plural(settings, 'setting')}`;
            spinner.start();
          },
          onRepairProgress: ({ done, total, elapsedMs }) => {
            const rate = done / Math.max(elapsedMs / 1000, 0.001);
            const left = Math.max(0, (total - done) / Math.max(rate, 0.001));
            spinner.text = `Repairing: ${done}/${total} settings, ${rate.toFixed(0)}/s, ~${left.toFixed(0)} s left`;
          },
        },
        dryRun: options.dryRun === true,
        batchSize: options.batchSize,
        lockWaitTimeoutSeconds: options.lockWaitTimeout,
        waitLockSeconds: options.waitLock,
        maxChanges: options.maxChanges,
        confirm: prompting
          ? async (scanned) => {
              spinner.stop();
              printDriftReport(terminal, { format: 'table' }, scope, scanned, { command: 'repair' });
              terminal.io.stderr.write(`Each write is recorded in ${connection.database}.${scope.model.auditTable} (created if missing).\n`);
              return confirm(terminal.io, `Repair ${plural(scanned.drifted.length, 'setting')}?`);
            }
          : undefined,
      },
      result,
    );
    spinner.stop();
    report = run.report;
    recordScan(outcome, run.report, { command: 'repair', dryRun: options.dryRun === true });
    if (run.result === null) {
      if (run.declined) terminal.io.stderr.write('Nothing written.\n');
      else printDriftReport(terminal, options, scope, run.report, { command: 'repair', dryRun: options.dryRun === true });
      return repairExitCode(run, options.dryRun === true);
    }
    reportRepair(terminal, options, outcome, run.report, run.result, { table: `${connection.database}.${scope.model.auditTable}`, created: run.createdAuditTable });
    return repairExitCode(run, false);
  } catch (error) {
    spinner.stop();
    // Whatever committed stays committed: say what it was before the error is reported.
    if (report !== null && (result.transactions > 0 || result.interrupted || result.uncertain.length > 0)) {
      reportRepair(terminal, options, outcome, report, result, { table: `${connection.database}.${scope.model.auditTable}`, created: false });
    }
    throw error;
  } finally {
    spinner.stop();
    interrupts.dispose();
  }
}

function reportRepair(
  terminal: Terminal,
  options: RepairOptions,
  outcome: RunOutcome,
  report: DriftReport,
  result: RepairResult,
  audit?: { table: string; created: boolean },
): void {
  const scan = { scanned: report.scanned, drifted: report.drifted.length };
  const json = repairReportJson(result, scan);
  outcome.repaired = result.repaired.length;
  outcome.failed = result.failed.length + result.stillDrifted.length;
  outcome.report = json as unknown as Record<string, unknown>;
  const stats = lockHoldStats(result.lockHoldMs);
  if (stats !== null) {
    terminal.debug(
      `${result.transactions} transactions, ${result.retries} retries; lock hold p50 ${stats.p50.toFixed(1)} ms, ` +
        `p99 ${stats.p99.toFixed(1)} ms, max ${stats.max.toFixed(1)} ms`,
    );
  }
  const { stdout } = terminal.io;
  if (options.format === 'json') {
    stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return;
  }
  if (!terminal.quiet && result.repaired.length > 0) stdout.write(`${renderChangesTable(result, terminal.out)}\n`);
  for (const line of repairSummaryLines(result, terminal.out, audit)) stdout.write(`${line}\n`);
}

