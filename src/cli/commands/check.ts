import type { Command } from 'commander';
import { detectDrift, type DriftReport } from '../../core/detect-drift.js';
import type { Database } from '../../db/database.js';
import { EXIT, type ExitCode } from '../../errors.js';
import { addCommonOptions, auditPolicy, type CommonOptions } from '../common-options.js';
import { connect } from '../connect.js';
import { driftReportJson, driftSummaryLine, plural, renderDriftTable } from '../drift-report.js';
import type { RunOutcome } from '../reporting/run-outcome.js';
import type { Runner } from '../runner.js';
import { Interrupts } from '../signals.js';
import type { Terminal } from '../terminal.js';

export function checkCommand(program: Command, run: Runner): void {
  addCommonOptions(
    program
      .command('check')
      .description('find settings whose cached issuedCount/usedCount differ from the real counts; writes nothing'),
  ).action(run('check', runCheck));
}

export async function runCheck(terminal: Terminal, options: CommonOptions, outcome: RunOutcome): Promise<ExitCode> {
  const interrupts = new Interrupts(terminal.io);
  const db = await connect(options, terminal, {}, outcome).catch((error: unknown) => {
    interrupts.dispose();
    throw error;
  });
  try {
    const report = await scan(db, terminal, options);
    recordScan(outcome, report, { command: 'check' });
    printDriftReport(terminal, options, db, report, { command: 'check' });
    return report.drifted.length > 0 ? EXIT.DRIFT : EXIT.OK;
  } finally {
    interrupts.dispose();
    await db.close();
  }
}

export function recordScan(outcome: RunOutcome, report: DriftReport, extra: Record<string, unknown>): void {
  outcome.scanned = report.scanned;
  outcome.drifted = report.drifted.length;
  outcome.report = driftReportJson(report, extra);
}

/** Schema check + detection with a spinner; shared by check and repair. */
export async function scan(db: Database, terminal: Terminal, options: CommonOptions): Promise<DriftReport> {
  await db.verifySchema();
  const spinner = terminal.spinner('Scanning settings').start();
  const started = performance.now();
  try {
    const report = await detectDrift(db, {
      policy: auditPolicy(options),
      ids: options.ids,
      pageSize: options.batchSize,
      concurrency: options.concurrency,
      onProgress: ({ scanned, candidates }) => {
        spinner.text = `Scanning settings: ${scanned} scanned, ${candidates} drifted so far`;
      },
      onUnindexed: (tables) => {
        spinner.clear();
        for (const table of tables) {
          terminal.warn(
            `${db.tables[table]} has no index starting with settingId, so every check reads the whole table ` +
              `(once, in one pass). This fixes it: ${db.createSettingIndexSql(table)}`,
          );
        }
      },
      onStatement: terminal.verbose
        ? ({ what, rows, ms }) => terminal.debug(`sql ${ms.toFixed(1)} ms, ${rows} rows: ${what}`)
        : undefined,
    });
    spinner.stop();
    terminal.debug(`scan took ${((performance.now() - started) / 1000).toFixed(2)} s`);
    for (const id of report.missingIds) terminal.warn(`setting ${id} (from --ids) does not exist.`);
    if (report.transient > 0) {
      terminal.debug(`${plural(report.transient, 'setting')} changed during the scan and recounted consistent`);
    }
    return report;
  } finally {
    spinner.stop();
  }
}

export function printDriftReport(
  terminal: Terminal,
  options: CommonOptions,
  db: Database,
  report: DriftReport,
  extra: Record<string, unknown>,
): void {
  const { stdout } = terminal.io;
  if (terminal.quiet && report.drifted.length === 0) return;
  if (options.format === 'json') {
    stdout.write(`${JSON.stringify(driftReportJson(report, extra), null, 2)}\n`);
    return;
  }
  const counters = auditPolicy(options).counters;
  const summary = driftSummaryLine(report, counters, db.tables);
  if (terminal.quiet) {
    stdout.write(`${summary}\n`);
    return;
  }
  if (report.drifted.length > 0) stdout.write(`${renderDriftTable(report.drifted, counters, terminal.out)}\n`);
  stdout.write(`${report.drifted.length > 0 ? terminal.out.bold(summary) : terminal.out.green(summary)}\n`);
}
