/** check's action, loaded when check runs (commands/check.ts declares its options). */
import type { DriftReport } from '../../core/detect-drift.js';
import { scanDoubts } from '../../core/drift.js';
import type { AuditScope } from '../../core/model.js';
import { kindSummary, sortSettings } from '../../core/plan.js';
import { checkReportJson } from '../../core/report.js';
import type { RunHooks } from '../../core/run.js';
import { createIndexSql } from '../../db/builder.js';
import { EXIT, type ExitCode } from '../../errors.js';
import { checkRunOptions, type CommonOptions, refuseLagWithoutReplica, resolvePageSize, resolveScope } from '../common-options.js';
import { connectionConfig, recordTarget } from '../connect.js';
import { DRIFT_DELTA_LEGEND, driftSummaryLine, driftTableText, limitRows, moreLine, plural, renderKinds } from '../drift-report.js';
import { jsonText, mappedAsWritten } from '../json-output.js';
import { writePieces } from '../pieces.js';
import type { RunOutcome } from '../reporting/run-outcome.js';
import { progressHooks } from '../progress.js';
import { Interrupts } from '../signals.js';
import type { Spinner, Terminal } from '../terminal.js';

export async function runCheck(terminal: Terminal, given: CommonOptions & { batchSize?: number }, outcome: RunOutcome): Promise<ExitCode> {
  refuseLagWithoutReplica(given);
  const options: CommonOptions = { ...given, pageSize: resolvePageSize(given) };
  const scope = await resolveScope(options, terminal);
  const connection = await connectionConfig(options, terminal);
  recordTarget(outcome, connection);
  const interrupts = new Interrupts(terminal.io);
  const spinner = terminal.spinner(`Scanning ${scope.model.settings.table}`).start();
  try {
    // The core (and mysql2 with it) is loaded only when a run needs it: --help and --version start fast.
    const { checkRun } = await import('../../core/run.js');
    const report = await checkRun(checkRunOptions(options, connection, scope, { signal: interrupts.signal, hooks: scanHooks(terminal, spinner) }));
    spinner.stop();
    recordScan(outcome, report, { command: 'check' }, scope);
    await printDriftReport(terminal, options, scope, report, { command: 'check' }, interrupts.signal);
    // A signal while the report waited for a slow reader stopped the printing (writePieces threw
    // it); one just after the report was printed ends the run as interrupted too (130/143).
    interrupts.signal.throwIfAborted();
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
    onUnindexed: (counters, fixes) => {
      spinner.clear();
      // Two counters over one table and key are one missing index: one warning.
      const seen = new Set<string>();
      for (const counter of counters) {
        const key = `${counter.table}\0${counter.foreignKey.toLowerCase()}`;
        if (seen.has(key)) continue;
        seen.add(key);
        terminal.warn(
          `${counter.table} has no index starting with ${counter.foreignKey}, so every check reads the whole table ` +
            `(once, in one pass). This fixes it: ${fixes.get(counter) ?? createIndexSql(counter)}`,
        );
      }
    },
    onStatement: terminal.verbose ? ({ what, rows, ms }) => terminal.debug(`sql ${ms.toFixed(1)} ms, ${rows} rows: ${what}`) : undefined,
  };
}

export function recordScan(outcome: RunOutcome, report: DriftReport, extra: { command: string; dryRun?: boolean }, scope?: AuditScope): void {
  outcome.scanned = report.scanned;
  outcome.drifted = report.drifted.length;
  outcome.report = () => checkReportJson(report, extra, scope?.model) as unknown as Record<string, unknown>;
}

/** The drift on stdout: the JSON report or the table, written as made (pieces.ts writePieces); `signal` stops it by throwing. */
export async function printDriftReport(
  terminal: Terminal,
  options: Pick<CommonOptions, 'format' | 'sort' | 'limit'>,
  scope: AuditScope,
  report: DriftReport,
  extra: { command: string; dryRun?: boolean },
  signal?: AbortSignal,
): Promise<void> {
  const { stdout } = terminal.io;
  warnAfterScan(terminal, report, scope);
  // JSON is always one document, --quiet or not: `> drift.json; jq` must work.
  if (options.format === 'json') {
    await writePieces(stdout, jsonText(checkReportJson(report, extra, scope.model, mappedAsWritten)), signal);
    return;
  }
  if (terminal.quiet && report.drifted.length === 0) return;
  const counters = scope.counters.map((counter) => counter.name);
  if (terminal.quiet) {
    stdout.write(`${driftSummaryLine(report, counters)}\n`);
    return;
  }
  if (report.drifted.length === 0) {
    stdout.write(`${terminal.out.green(driftSummaryLine(report, counters))}\n`);
    return;
  }
  const { shown, more } = limitRows(sortSettings(report.drifted, options.sort ?? 'id'), options.limit);
  // Written as it is drawn: a million drifted settings are over 100 MB of table.
  await writePieces(stdout, driftTableText(shown, counters, terminal.out), signal);
  stdout.write('\n');
  const lines: string[] = [];
  if (more > 0) lines.push(moreLine(more));
  lines.push(terminal.out.dim(DRIFT_DELTA_LEGEND));
  lines.push(...renderKinds(kindSummary(report), terminal.out, scope.model.settings.deletedStatus));
  lines.push(terminal.out.bold(driftSummaryLine(report, counters, { orphans: false })));
  stdout.write(`${lines.join('\n')}\n`);
}

const FEW = 5;

/** After a scan: --ids not audited, and counters that counted nothing where that is suspect (drift.ts foreignKeyDoubts). */
export function warnAfterScan(terminal: Terminal, report: DriftReport, scope: AuditScope): void {
  warnIdsNotAudited(terminal, report);
  for (const doubt of scanDoubts(report, scope.model)) terminal.alert(doubt);
}

/** --ids that name no setting, or a DELETED one --deleted skip left out: a line each, with the count and the first few. */
export function warnIdsNotAudited(terminal: Terminal, report: Pick<DriftReport<{ id: bigint }>, 'missingIds' | 'skippedIds'>): void {
  const missing = report.missingIds;
  if (missing.length > 0) {
    // An id asked for by name that is not there (a typo, a deleted setting): with --quiet too,
    // or `check --ids 999 --quiet` in cron audits nothing and says nothing.
    terminal.alert(
      missing.length === 1
        ? `setting ${missing[0]} (from --ids) does not exist.`
        : `${missing.length} settings from --ids do not exist${firstFewIds(missing)}.`,
    );
  }
  const skipped = report.skippedIds;
  if (skipped.length > 0) {
    terminal.warn(
      skipped.length === 1
        ? `setting ${skipped[0]} (from --ids) is DELETED: --deleted skip leaves it out.`
        : `${skipped.length} settings from --ids are DELETED, which --deleted skip leaves out${firstFewIds(skipped)}.`,
    );
  }
}

function firstFewIds(ids: readonly bigint[]): string {
  return `: ${ids.slice(0, FEW).join(', ')}${ids.length > FEW ? ` and ${ids.length - FEW} more` : ''}`;
}

export { plural };
