import type { Command } from 'commander';
import type { DriftReport } from '../../core/detect-drift.js';
import type { AuditScope } from '../../core/model.js';
import { checkReportJson } from '../../core/report.js';
import { checkRun, type RunHooks } from '../../core/run.js';
import { createIndexSql } from '../../db/builder.js';
import { EXIT, type ExitCode } from '../../errors.js';
import { addCommonOptions, checkRunOptions, type CommonOptions, resolveScope } from '../common-options.js';
import { connectionConfig, recordTarget } from '../connect.js';
import { driftSummaryLine, plural, renderDriftTable } from '../drift-report.js';
import type { RunOutcome } from '../reporting/run-outcome.js';
import { progressHooks } from '../progress.js';
import type { Runner } from '../runner.js';
import { Interrupts } from '../signals.js';
import type { Spinner, Terminal } from '../terminal.js';

export function checkCommand(program: Command, run: Runner): void {
  addCommonOptions(
    program.command('check').description('find settings whose cached counters differ from the real counts; writes nothing'),
  ).action(run('check', runCheck));
}

export async function runCheck(terminal: Terminal, options: CommonOptions, outcome: RunOutcome): Promise<ExitCode> {
  const scope = resolveScope(options);
  const connection = await connectionConfig(options, terminal);
  recordTarget(outcome, connection);
  const interrupts = new Interrupts(terminal.io);
  const spinner = terminal.spinner(`Scanning ${scope.model.settings.table}`).start();
  try {
    const report = await checkRun(checkRunOptions(options, connection, scope, { signal: interrupts.signal, hooks: scanHooks(terminal, spinner) }));
    spinner.stop();
    recordScan(outcome, report, { command: 'check' });
    printDriftReport(terminal, options, scope, report, { command: 'check' });
    return report.drifted.length > 0 ? EXIT.DRIFT : EXIT.OK;
  } finally {
    spinner.stop();
    interrupts.dispose();
  }
}

/** Progress on the spinner, the no-index warning, and SQL timings under --verbose; shared by check and repair. */
export function scanHooks(terminal: Terminal, spinner: Spinner): RunHooks {
  return {
    ...progressHooks(terminal, spinner),
    onUnindexed: (counters) => {
      spinner.clear();
      for (const counter of counters) {
        terminal.warn(
          `${counter.table} has no index starting with ${counter.foreignKey}, so every check reads the whole table ` +
            `(once, in one pass). This fixes it: ${createIndexSql(counter)}`,
        );
      }
    },
    onStatement: terminal.verbose ? ({ what, rows, ms }) => terminal.debug(`sql ${ms.toFixed(1)} ms, ${rows} rows: ${what}`) : undefined,
  };
}

export function recordScan(outcome: RunOutcome, report: DriftReport, extra: { command: string; dryRun?: boolean }): void {
  outcome.scanned = report.scanned;
  outcome.drifted = report.drifted.length;
  outcome.report = checkReportJson(report, extra) as unknown as Record<string, unknown>;
}

export function printDriftReport(
  terminal: Terminal,
  options: Pick<CommonOptions, 'format'>,
  scope: AuditScope,
  report: DriftReport,
  extra: { command: string; dryRun?: boolean },
): void {
  const { stdout } = terminal.io;
  if (report.missingIds.length > 0) {
    const shown = report.missingIds.slice(0, 5).join(', ');
    terminal.warn(
      report.missingIds.length === 1
        ? `setting ${shown} (from --ids) does not exist.`
        : `${report.missingIds.length} settings from --ids do not exist: ${shown}${report.missingIds.length > 5 ? ', …' : ''}.`,
    );
  }
  // JSON is always one document, --quiet or not: `> drift.json; jq` must work.
  if (options.format === 'json') {
    stdout.write(`${JSON.stringify(checkReportJson(report, extra), null, 2)}\n`);
    return;
  }
  if (terminal.quiet && report.drifted.length === 0) return;
  const counters = scope.counters.map((counter) => counter.name);
  const summary = driftSummaryLine(report, counters);
  if (terminal.quiet) {
    stdout.write(`${summary}\n`);
    return;
  }
  if (report.drifted.length > 0) stdout.write(`${renderDriftTable(report.drifted, counters, terminal.out)}\n`);
  stdout.write(`${report.drifted.length > 0 ? terminal.out.bold(summary) : terminal.out.green(summary)}\n`);
}

export { plural };
