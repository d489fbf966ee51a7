import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { type DriftReport } from '../../core/detect-drift.js';
import { emptyRepairResult, repairDrift, type RepairResult } from '../../core/repair.js';
import { planRepair } from '../../core/repair-plan.js';
import { binlogRejectsRepair, missingRepairGrants } from '../../core/repair-readiness.js';
import { type Database, RunLock } from '../../db/database.js';
import { DatabaseError, EXIT, type ExitCode, RunLockedError, UsageError } from '../../errors.js';
import { addCommonOptions, auditPolicy, type CommonOptions } from '../common-options.js';
import { connect } from '../connect.js';
import { nonNegativeInteger, nonNegativeSeconds, positiveInteger, tableName } from '../options.js';
import { confirm } from '../prompt.js';
import { lockHoldStats, renderChangesTable, repairResultJson, repairSummaryLines } from '../repair-report.js';
import type { Runner } from '../runner.js';
import { Interrupts } from '../signals.js';
import type { Terminal } from '../terminal.js';
import { plural } from '../drift-report.js';
import { printDriftReport, recordScan, scan } from './check.js';
import type { RunOutcome } from '../reporting/run-outcome.js';

export interface RepairOptions extends CommonOptions {
  dryRun?: boolean;
  yes?: boolean;
  maxChanges?: number;
  auditTable?: string;
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
      .option('--max-changes <n>', 'refuse to write anything when more than N settings drift', nonNegativeInteger(1e9))
      .option('--audit-table <name>', 'table recording every write (created when missing)', tableName, 'coupon_audit_log')
      .option('--lock-wait-timeout <seconds>', 'innodb_lock_wait_timeout of the repair session', positiveInteger(60), 2)
      .option('--wait-lock <seconds>', 'wait this long for another repair to finish instead of exiting 5', nonNegativeSeconds, 0),
  ).action(run('repair', runRepair));
}

export async function runRepair(terminal: Terminal, options: RepairOptions, outcome: RunOutcome): Promise<ExitCode> {
  const interrupts = new Interrupts(terminal.io);
  outcome.dryRun = options.dryRun === true;
  const db = await connect(options, terminal, {
    tables: { audit: options.auditTable ?? 'coupon_audit_log' },
    poolSize: options.concurrency * 2 + 3,
  }, outcome).catch((error: unknown) => {
    interrupts.dispose();
    throw error;
  });
  let lock: RunLock | null = null;
  try {
    if (!options.dryRun) {
      await assertRepairPossible(db);
      lock = await takeRunLock(db, terminal, options.waitLock);
    }
    const report = await scan(db, terminal, options);
    recordScan(outcome, report, { command: 'repair', dryRun: options.dryRun === true });
    if (report.drifted.length === 0 || options.dryRun) {
      printDriftReport(terminal, options, db, report, { command: 'repair', dryRun: options.dryRun === true });
      return report.drifted.length > 0 ? EXIT.DRIFT : EXIT.OK;
    }
    if (options.maxChanges !== undefined && report.drifted.length > options.maxChanges) {
      throw new UsageError(
        `${plural(report.drifted.length, 'setting')} drift, more than --max-changes ${options.maxChanges}; nothing was written. ` +
          'Check what happened (a broken migration?) and rerun with a higher --max-changes if the drift is real.',
      );
    }
    if (!options.yes) {
      const { stdin, stderr } = terminal.io;
      if (stdin.isTTY !== true || stderr.isTTY !== true) {
        throw new UsageError('--yes is required when not running interactively; nothing was written (try --dry-run to see the plan).');
      }
      printDriftReport(terminal, { ...options, format: 'table' }, db, report, {});
      if (!(await confirm(terminal.io, `Repair ${plural(report.drifted.length, 'setting')}?`))) {
        terminal.io.stderr.write('Nothing written.\n');
        return EXIT.DRIFT;
      }
    }
    await db.ensureAuditTable();
    const result = emptyRepairResult(randomUUID());
    interrupts.enterGracefulSection();
    try {
      const stop = lock === null ? interrupts.controller.signal : AbortSignal.any([interrupts.controller.signal, lock.lost]);
      await applyRepair(db, terminal, options, report, result, stop);
    } catch (error) {
      // Whatever committed stays committed: say what it was before the error is reported.
      recordRepair(outcome, report, result);
      printRepairResult(terminal, options, report, result);
      throw error;
    }
    recordRepair(outcome, report, result);
    printRepairResult(terminal, options, report, result);
    if (lock?.lost.aborted === true && result.interrupted && interrupts.received === null) {
      throw new DatabaseError(
        `Lost the run lock: its connection to ${db.config.host}:${db.config.port} went away, so another repair could start; ` +
          'stopped after the transaction in flight (what was written is above). Rerun to finish.',
      );
    }
    if (result.interrupted) return interrupts.received === 'SIGTERM' ? EXIT.SIGTERM : EXIT.SIGINT;
    return result.failed.length > 0 ? EXIT.PARTIAL : EXIT.OK;
  } finally {
    interrupts.dispose();
    await lock?.release();
    await db.close();
  }
}

async function applyRepair(
  db: Database,
  terminal: Terminal,
  options: RepairOptions,
  report: DriftReport,
  result: RepairResult,
  signal: AbortSignal,
): Promise<void> {
  const plan = planRepair(report.drifted);
  const spinner = terminal.spinner(`Repairing ${plural(plan.ids.length, 'setting')}`).start();
  try {
    await repairDrift(
      db,
      plan,
      {
        policy: auditPolicy(options),
        runId: result.runId,
        batchSize: options.batchSize,
        lockWaitTimeoutSeconds: options.lockWaitTimeout,
        signal,
        onProgress: ({ done, total, elapsedMs }) => {
          const rate = done / Math.max(elapsedMs / 1000, 0.001);
          const left = Math.max(0, (total - done) / Math.max(rate, 0.001));
          spinner.text = `Repairing: ${done}/${total} settings, ${rate.toFixed(0)}/s, ~${left.toFixed(0)} s left`;
        },
      },
      result,
    );
  } finally {
    spinner.stop();
  }
  const stats = lockHoldStats(result.lockHoldMs);
  if (stats !== null) {
    terminal.debug(
      `${result.transactions} transactions, ${result.retries} retries; lock hold p50 ${stats.p50.toFixed(1)} ms, ` +
        `p99 ${stats.p99.toFixed(1)} ms, max ${stats.max.toFixed(1)} ms`,
    );
  }
}

function recordRepair(outcome: RunOutcome, report: DriftReport, result: RepairResult): void {
  outcome.repaired = result.repaired.length;
  outcome.failed = result.failed.length;
  outcome.report = repairResultJson(result, { scanned: report.scanned, drifted: report.drifted.length });
}

function printRepairResult(terminal: Terminal, options: RepairOptions, report: DriftReport, result: RepairResult): void {
  const { stdout } = terminal.io;
  if (options.format === 'json') {
    stdout.write(`${JSON.stringify(repairResultJson(result, { scanned: report.scanned, drifted: report.drifted.length }), null, 2)}\n`);
    return;
  }
  if (!terminal.quiet && result.repaired.length > 0) stdout.write(`${renderChangesTable(result, terminal.out)}\n`);
  for (const line of repairSummaryLines(result, terminal.out)) stdout.write(`${line}\n`);
}

/**
 * InnoDB refuses READ COMMITTED writes when the binary log is statement-based (error 1665), after
 * part of the work: refuse up front instead.
 */
async function assertRepairPossible(db: Database): Promise<void> {
  const server = await db.serverInfo();
  if (binlogRejectsRepair(server)) {
    throw new DatabaseError(
      'The server logs with binlog_format=STATEMENT, which rejects the READ COMMITTED writes repair makes; ' +
        'set binlog_format=ROW or MIXED (check runs fine as it is).',
    );
  }
  // Found before the scan and the run lock, so a read-only user learns it at once, not after a long scan.
  const missing = missingRepairGrants(await db.privileges(), db.tables);
  if (missing.length > 0 && server.readOnly) {
    throw new DatabaseError(
      `The server ${db.config.host}:${db.config.port} is read_only (a replica?), so repair cannot write there; ` +
        'point it at the primary (check runs fine as it is).',
    );
  }
  if (missing.length > 0) {
    throw new DatabaseError(
      `Missing privilege: ${missing.map(({ privilege, table }) => `${privilege} on ${table}`).join(' and ')} for '${db.config.user}'; ` +
        `repair needs it (check does not): ${missing.map(({ privilege, table }) => db.grantSql(privilege, table)).join(' ')}`,
    );
  }
}

async function takeRunLock(db: Database, terminal: Terminal, waitSeconds: number): Promise<RunLock> {
  const lock = await RunLock.acquire(db, waitSeconds);
  if (lock instanceof RunLock) return lock;
  throw new RunLockedError(
    `Another repair of database '${db.config.database}' is running (it holds the lock '${RunLock.lockName(db.config.database)}', ` +
      `${lock.heldBy}); try again later or pass --wait-lock SECONDS.`,
  );
}
