/** repair's action, loaded when repair runs (commands/repair.ts declares its options). */
import { randomUUID } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import type { ChalkInstance } from 'chalk';
import type { DriftReport } from '../../core/detect-drift.js';
import type { AuditScope } from '../../core/model.js';
import { driftingCounters, scanDoubts } from '../../core/drift.js';
import { kindSummary, planChanges, planTotals, sortChanges } from '../../core/plan.js';
import { dryRunReportJson, lockHoldStats, notReached, repairReportJson } from '../../core/report.js';
import type { RepairResult } from '../../core/repair.js';
import type { PlannedRun, ScanCounts } from '../../core/run.js';
import { changeScriptSql } from '../../db/builder.js';
import { type ConnectionConfig, describeTarget } from '../../db/connection-config.js';
import { EXIT, type ExitCode, UsageError } from '../../errors.js';
import { VERSION } from '../../core/version.js';
import { checkRunOptions, refuseLagWithoutReplica, resolveScope } from '../common-options.js';
import type { RepairOptions } from '../commands/repair.js';
import { connectionConfig, recordTarget } from '../connect.js';
import { CHANGE_DELTA_LEGEND, driftSummaryLine, limitRows, moreLine, plural, renderKinds } from '../drift-report.js';
import { placeOf, replaceFile } from '../files.js';
import { jsonText, mappedAsWritten } from '../json-output.js';
import { writePieces } from '../pieces.js';
import { confirm } from '../prompt.js';
import { auditTableLine, changesTableText, dryRunLine, repairSummaryLines, unfitLine } from '../repair-report.js';
import type { RunOutcome } from '../reporting/run-outcome.js';
import { TerminalPause } from '../pause.js';
import { thousands } from '../progress.js';
import { Interrupts } from '../signals.js';
import type { OutputStream, Terminal } from '../terminal.js';
import { printDriftReport, recordScan, scanHooks, warnAfterScan, warnIdsNotAudited } from './check.js';

export async function runRepair(terminal: Terminal, options: RepairOptions, outcome: RunOutcome): Promise<ExitCode> {
  refuseLagWithoutReplica(options);
  const emitSql = options.emitSql;
  if (emitSql !== undefined && options.yes === true) {
    throw new UsageError('--emit-sql writes the statements to a file instead of applying them, so --yes has nothing to confirm; drop one of them.');
  }
  // --emit-sql is a dry run whose plan goes to a file: no run lock, no write privilege, nothing written.
  const planOnly = options.dryRun === true || emitSql !== undefined;
  outcome.dryRun = planOnly;
  const scope = await resolveScope(options, terminal);
  if (emitSql !== undefined) assertWritable(emitSql);
  const prompting = !planOnly && options.yes !== true;
  // Refused before connecting: a scan of a large database would come first otherwise.
  if (prompting && (terminal.io.stdin.isTTY !== true || terminal.io.stderr.isTTY !== true)) {
    throw new UsageError('--yes is required when not running interactively; nothing was written (try --dry-run to see the plan).');
  }
  const connection = await connectionConfig(options, terminal);
  recordTarget(outcome, connection);
  const interrupts = new Interrupts(terminal.io);
  const spinner = terminal.spinner(`Scanning ${scope.model.settings.table}`).start();
  // Ctrl-Z while writing: a pause between transactions, not a stop that keeps rows locked.
  const pause = new TerminalPause(terminal, () => spinner.stop(), () => spinner.start());
  // The core (and mysql2 with it) is loaded only when a run needs it: --help and --version start fast.
  const [{ generatedCounterRefusal, repairExitCode, repairRun, scanCounts, writeDoubts }, { emptyRepairResult }] = await Promise.all([import('../../core/run.js'), import('../../core/repair.js')]);
  const result = emptyRepairResult(randomUUID());
  // What the scan found, in numbers, for the summary of a repair that fails part-way.
  let scan: ScanCounts | null = null;
  try {
    // The repair's progress, and the setting a writer waits for while another session holds it.
    let progressText = '';
    let waitingFor: bigint | null = null;
    const render = (): void => {
      spinner.text = waitingFor === null ? progressText : `${progressText} — waiting for setting ${waitingFor}, held by another session`;
    };
    const run = await repairRun(
      {
        ...checkRunOptions(options, connection, scope, { signal: interrupts.signal }),
        hooks: {
          ...scanHooks(terminal, spinner),
          onScanned: (counts, ids) => {
            scan = counts;
            // With --yes and drift nothing else prints the scan's findings (the prompt, the plan
            // and the no-drift report do theirs).
            if (!prompting && !planOnly && counts.drifted > 0) {
              spinner.stop();
              warnIdsNotAudited(terminal, ids);
              for (const doubt of counts.doubts ?? []) terminal.alert(doubt);
            }
          },
          onRepairStart: (settings) => {
            pause.listen();
            progressText = `Repairing ${plural(settings, 'setting')}`;
            render();
            spinner.start();
          },
          onRepairProgress: ({ done, total, elapsedMs }) => {
            const rate = done / Math.max(elapsedMs / 1000, 0.001);
            const left = Math.max(0, (total - done) / Math.max(rate, 0.001));
            progressText = `Repairing: ${thousands(done)}/${thousands(total)} settings, ${thousands(Math.round(rate))}/s, ~${left.toFixed(0)} s left`;
            render();
          },
          // A row the application holds: up to --lock-wait-timeout a try, a few tries, then named as locked.
          onRowWait: (settingId) => {
            waitingFor = settingId;
            render();
          },
        },
        dryRun: planOnly,
        batchSize: options.batchSize,
        writeConcurrency: options.writeConcurrency,
        lockWaitTimeoutSeconds: options.lockWaitTimeout,
        maxChanges: options.maxChanges,
        pauseRequests: pause,
        confirm: prompting
          ? async (scanned, target) => {
              spinner.stop();
              warnAfterScan(terminal, scanned, scope);
              // The plan goes where the prompt goes (stderr), so `repair > log` still shows it.
              const { stderr } = terminal.io;
              const plan = planTotals(planChanges(scanned.drifted), options.batchSize);
              await writePlan(stderr, terminal.err, options, scope, scanned, interrupts.signal);
              interrupts.signal.throwIfAborted();
              stderr.write(`${auditTableLine(target, 'will')}\n`);
              stderr.write(
                `Repair will change ${plural(plan.settings, 'setting')} (${plural(plan.counters, 'counter')}) ` +
                  `in about ${plural(plan.transactions, 'transaction')}, each re-counted under a row lock first.\n`,
              );
              const left = unfitLine(scanned.drifted, 'will');
              if (left !== null) stderr.write(`${left}\n`);
              // The settings it will write: those whose count their column cannot hold are left (warned of above).
              return confirm(terminal.io, `Repair ${plural(plan.settings, 'setting')}?`, interrupts.signal);
            }
          : undefined,
      },
      result,
    );
    spinner.stop();
    if (run.result === null) {
      recordScan(outcome, run.report, { command: 'repair', dryRun: planOnly }, scope);
      if (run.declined) {
        // Declined at the prompt: nothing was written, as in a plan-only run, and it is labelled
        // so in the metrics: its exit 1 with drift counted must not pass for a repair's success.
        outcome.dryRun = true;
        terminal.io.stderr.write('Nothing written.\n');
        // --format json: one document on stdout whatever the answer (a trial's `> plan.json` was
        // empty, and a jq after it failed): the plan as the dry run prints it, declined.
        if (options.format === 'json') {
          await writePieces(terminal.io.stdout, jsonText({ ...dryRunReportJson(run.report, scope.model, run.target?.auditProblem, mappedAsWritten), declined: true }), interrupts.signal);
        }
      }
      else if (emitSql !== undefined) {
        // The script is there to be run: it holds nothing a repair would refuse to write.
        const { refusal } = writeDoubts(run.report, scope.model, driftingCounters(run.report.drifted));
        if (refusal !== null) throw refusal;
        const generated = generatedCounterRefusal(run.scope, `Nothing was written to ${emitSql}.`);
        if (generated !== null) throw generated;
        await printPlan(terminal, options, scope, run, await emitChangeScript(emitSql, run, connection), interrupts.signal);
      } else if (planOnly) await printPlan(terminal, options, scope, run, null, interrupts.signal);
      else if (options.format === 'json') {
        // Nothing drifted: JSON in the shape of every repair's (summary.repaired 0, changes []), as
        // the library resolves to; the scan's warnings (--ids that name no setting) as the table's.
        warnAfterScan(terminal, run.report, scope);
        await reportRepair(terminal, options, outcome, scanCounts(run.report), result, undefined, { rows: true }, interrupts.signal);
      } else {
        // As reportRepair records it for JSON: a repair that scanned always exports failed_settings.
        outcome.repaired = 0;
        outcome.failed = 0;
        outcome.report = () => repairReportJson(result, scanCounts(run.report)) as unknown as Record<string, unknown>;
        await printDriftReport(terminal, options, scope, run.report, { command: 'repair' }, interrupts.signal);
      }
      // A signal just after the printing (check.ts): interrupted.
      interrupts.signal.throwIfAborted();
      return repairExitCode(run, planOnly);
    }
    await reportRepair(
      terminal,
      options,
      outcome,
      run.scan,
      run.result,
      { table: `${connection.database}.${scope.model.auditTable}`, created: run.createdAuditTable },
      { rows: true },
      interrupts.signal,
    );
    interrupts.signal.throwIfAborted();
    const code = repairExitCode(run, false);
    if (code === EXIT.PARTIAL && options.format === 'json') {
      // The document names them; a log that keeps stderr alone (stdout to a file) says that it does.
      const left = new Set([...run.result.failed.map((failure) => failure.settingId), ...run.result.stillDrifted, ...run.result.uncertain]).size;
      terminal.alert(`${plural(left, 'drifted setting')} not repaired (failed, stillDrifted, uncertain in the report): exit 4.`);
    }
    return code;
  } catch (error) {
    spinner.stop();
    const scanned = scan as ScanCounts | null; // set by a hook, which TypeScript does not follow
    // Whatever committed stays committed: say what it was before the error is reported (the summary, not every row).
    if (scanned !== null && (result.transactions > 0 || result.interrupted || result.uncertain.length > 0)) {
      await reportRepair(terminal, options, outcome, scanned, result, { table: `${connection.database}.${scope.model.auditTable}`, created: result.createdAuditTable === true }, { rows: false });
    } else if (scanned !== null && outcome.drifted === null) {
      // The scan found drift and the run stopped before writing (--max-changes, an error): the
      // metrics file and the webhook say so (CouponAuditDriftFound), with the error.
      outcome.scanned = scanned.scanned;
      outcome.drifted = scanned.drifted;
    }
    throw error;
  } finally {
    spinner.stop();
    pause.dispose();
    interrupts.dispose();
  }
}

/** What --emit-sql wrote. */
interface EmittedScript {
  file: string;
  /** One per setting (builder.ts guardedUpdateSql). */
  statements: number;
  counters: number;
  /** The client command that runs it against --url's server (host, port, user, database; no password). */
  runWith: string;
}

/** The plan's table (old → new), the drift by kind and the summary line on `stream`, coloured with `c`, written as drawn. */
async function writePlan(stream: OutputStream, c: ChalkInstance, options: RepairOptions, scope: AuditScope, report: DriftReport, signal?: AbortSignal): Promise<void> {
  const write = (text: string): unknown => stream.write(text);
  const changes = planChanges(report.drifted);
  if (changes.length > 0) {
    const { shown, more } = limitRows(sortChanges(changes, options.sort ?? 'id'), options.limit);
    await writePieces(stream, changesTableText(shown, c), signal);
    write('\n');
    if (more > 0) write(`${moreLine(more)}\n`);
    write(`${c.dim(CHANGE_DELTA_LEGEND)}\n`);
    for (const line of renderKinds(kindSummary(report), c, scope.model.settings.deletedStatus)) write(`${line}\n`);
  }
  const summary = driftSummaryLine(report, scope.counters.map((counter) => counter.name), { orphans: changes.length === 0 });
  write(`${changes.length > 0 ? c.bold(summary) : c.green(summary)}\n`);
}

/** A dry run (or --emit-sql): the plan on stdout, ending with what would happen. */
async function printPlan(terminal: Terminal, options: RepairOptions, scope: AuditScope, run: PlannedRun, emitted: EmittedScript | null, signal?: AbortSignal): Promise<void> {
  const { stdout } = terminal.io;
  const { report } = run;
  const plan = planTotals(planChanges(report.drifted), options.batchSize);
  warnAfterScan(terminal, report, scope);
  if (options.format === 'json') {
    const json = {
      ...dryRunReportJson(report, scope.model, run.target?.auditProblem, mappedAsWritten),
      ...(emitted === null ? {} : { emittedSql: { file: emitted.file, statements: emitted.statements } }),
    };
    await writePieces(stdout, jsonText(json), signal);
    return;
  }
  const last =
    emitted === null
      ? dryRunLine(plan, run.target?.auditProblem != null)
      : emitted.statements === 0
        ? `Wrote ${emitted.file} with no statements: nothing to change.`
        : `Wrote ${plural(emitted.statements, 'guarded UPDATE')} (one per setting; ${plural(emitted.counters, 'counter')}) to ${emitted.file}; nothing applied. ` +
          `Review it, then run it by hand: ${emitted.runWith} < ${shellWord(emitted.file)}`;
  if (terminal.quiet) {
    // Nothing when all is well; one line when there is something to do.
    if (report.drifted.length > 0) stdout.write(`${last}\n`);
    return;
  }
  await writePlan(stdout, terminal.out, options, scope, report, signal);
  const lines: string[] = [];
  if (run.target !== null && emitted === null) lines.push(auditTableLine(run.target, 'would'));
  lines.push(report.drifted.length > 0 ? terminal.out.bold(last) : last);
  const left = unfitLine(report.drifted, 'would');
  if (left !== null) lines.push(left);
  stdout.write(`${lines.join('\n')}\n`);
}

/** --emit-sql: fails early (exit 2) when the file cannot be written, before anything is read. */
function assertWritable(file: string): void {
  try {
    // As replaceFile will write it (files.ts placeOf): in place, the file itself; replaced, its
    // directory takes a new name (or, where it will not, the file there is written in place).
    const place = placeOf(file);
    if (place.how === 'in-place') accessSync(file, constants.W_OK);
    else if (place.how === 'replace') {
      try {
        accessSync(dirname(resolvePath(file)), constants.W_OK);
      } catch (error) {
        if (place.existing === null) throw error;
        accessSync(file, constants.W_OK);
      }
    }
  } catch (error) {
    throw new UsageError(`--emit-sql ${file}: cannot write there (${error instanceof Error ? error.message : String(error)}); nothing was read or written.`);
  }
}

/** Writes the change-control SQL (db/builder.ts changeScriptSql) of a dry run to `file`, replacing what is there (files.ts replaceFile: a link at that name is not followed). */
async function emitChangeScript(file: string, run: PlannedRun, connection: ConnectionConfig): Promise<EmittedScript> {
  const changes = planChanges(run.report.drifted);
  // The run's typed scope: a text settings id is matched by a quoted id (builder.ts idList).
  const text = changeScriptSql(
    run.scope.model,
    changes,
    {
      database: connection.database,
      target: describeTarget(connection),
      generatedAt: new Date(),
      toolVersion: VERSION,
      scanned: run.report.scanned,
      file,
      // The counted-nothing warnings printed on stderr, in the file too: the DBA who reviews it may never see that stderr.
      warnings: scanDoubts(run.report, run.scope.model),
    },
    run.target?.preservedColumns ?? [],
  );
  try {
    await replaceFile(file, text);
  } catch (error) {
    throw new UsageError(`--emit-sql ${file}: could not write it (${error instanceof Error ? error.message : String(error)}); nothing was applied.`);
  }
  // -p (the client asks for the password) where this run used one: without it the client tries
  // none and is refused, which reads as the script's failure.
  const runWith = ['mariadb', '-h', connection.host, '-P', String(connection.port), '-u', connection.user, ...(connection.password === undefined ? [] : ['-p']), connection.database]
    .map(shellWord)
    .join(' ');
  return { file, statements: new Set(changes.map((change) => change.settingId)).size, counters: changes.length, runWith };
}

/** A word as a POSIX shell reads it back: as it is when plain, else in single quotes. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_.:@%+=,/-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

async function reportRepair(
  terminal: Terminal,
  options: RepairOptions,
  outcome: RunOutcome,
  scan: ScanCounts,
  result: RepairResult,
  audit?: { table: string; created: boolean },
  show: { rows: boolean } = { rows: true },
  signal?: AbortSignal,
): Promise<void> {
  // Also when the repair failed or was interrupted part-way: the metrics file and the webhook then
  // say how much drifted and how much of it was repaired.
  outcome.scanned = scan.scanned;
  outcome.drifted = scan.drifted;
  outcome.repaired = result.repaired;
  // Every drifted setting not left right: locked past every retry, drifted again at the reread,
  // and, where the run stopped part-way (a signal, a lost run lock, an error), those it never
  // reached or whose COMMIT went unanswered. A lost lock before the first commit had exported 0
  // here, which kept both drift alerts quiet (monitoring/coupon-audit.rules.yml).
  outcome.failed = result.failed.length + result.stillDrifted.length + result.uncertain.length + notReached(result, scan.drifted);
  outcome.report = () => repairReportJson(result, scan) as unknown as Record<string, unknown>;
  const stats = lockHoldStats(result.lockHoldMs);
  if (stats !== null) {
    terminal.debug(
      `${result.transactions} transactions, ${result.retries} retries; lock hold p50 ${stats.p50.toFixed(1)} ms, ` +
        `p99 ${stats.p99.toFixed(1)} ms, max ${stats.max.toFixed(1)} ms`,
    );
  }
  const { stdout } = terminal.io;
  if (options.format === 'json') {
    await writePieces(stdout, jsonText(repairReportJson(result, scan, mappedAsWritten)), signal);
    return;
  }
  // An interrupted run prints its summary, not every row: the audit table and --format json have them.
  const { changes } = result;
  if (!terminal.quiet && show.rows && !result.interrupted && changes.length > 0) {
    const { shown, more } = limitRows(sortChanges(changes, options.sort ?? 'id'), options.limit);
    await writePieces(stdout, changesTableText(shown, terminal.out), signal);
    stdout.write('\n');
    if (more > 0) stdout.write(`${moreLine(more)}\n`);
    stdout.write(`${terminal.out.dim(CHANGE_DELTA_LEGEND)}\n`);
  }
  for (const line of repairSummaryLines(result, terminal.out, terminal.quiet ? undefined : audit, scan.drifted)) stdout.write(`${line}\n`);
}
