import { randomUUID } from 'node:crypto';
import { ensureAuditTable } from '../db/applier.js';
import type { ConnectionConfig } from '../db/connection-config.js';
import { Database } from '../db/database.js';
import { runLockKind } from '../db/engine.js';
import { auditCounterNameLength, auditMissingColumn, autoUpdatedColumns, connectionLimit, grantSql, learnAccount, mayInsertAudit, nonTransactionalTables, privileges, type Privileges, type ServerInfo, tableExists, useEngine, verifySchema } from '../db/inspector.js';
import { acquireCheckLock, acquireRunLock, isRunLock, LEASE_TABLE, leaseTakenMessage, type RunLock, type RunLockHeld } from '../db/run-lock.js';
import { compareInOneSnapshot, estimateRows } from '../db/scanner.js';
import { abortReason, DatabaseError, EXIT, type ExitCode, RunLockedError, stopIfAborted, UsageError } from '../errors.js';
import { isPrivilegeError } from '../db/database-error.js';
import { type DetectOptions, type DetectProgress, type DriftReport, detectDrift, UnfitTally } from './detect-drift.js';
import { type DriftedSetting, driftingCounters, foreignKeyDoubts, noteDriftingCounters, unfitDoubts } from './drift.js';
import type { AuditScope, CounterModel } from './model.js';
import { ConfigError } from './config.js';
import { loadSource, Replica } from './replica.js';
import { DEFAULT_THROTTLE, type ThrottleSettings, type ThrottleState, Throttler, type ThrottleTargets } from './throttle.js';
import { emptyRepairResult, type RepairBatchOptions, type RepairProgress, type RepairResult, repairSettings } from './repair.js';
import { auditNameProblem, auditTableProblem, binlogProblem, generatedCounterProblem, missingRepairGrants, repairedTables, transactionsProblem } from './repair-readiness.js';
import { DEFAULT_CONCURRENCY, DEFAULT_METADATA_LOCK_WAIT, DEFAULT_WRITE_CONCURRENCY } from './limits.js';

/**
 * Whole runs, owned by the core (as node-pg-migrate's runner owns lock, work and unlock): connect,
 * check the schema, take the run lock, scan, repair, reread, unlock, close. The CLI and the library
 * API (src/index.ts) resolve their options into these and call them; nothing here prints or exits.
 */

/** Scan progress with the total it is heading for (exact with ids, else InnoDB's estimate). */
export interface ScanProgress extends DetectProgress {
  /** Settings the scan will read; null when the server gave no estimate. */
  total: number | null;
  /** The total is information_schema's TABLE_ROWS estimate, not a count. */
  totalIsEstimate: boolean;
}

export interface RunHooks {
  onScanProgress?: ((progress: ScanProgress) => void) | undefined;
  /** The run started waiting (a pause file, load, replica lag: the state says which) or, with null, went on. */
  onThrottle?: ((state: ThrottleState | null) => void) | undefined;
  /** With a replica: settings it showed drifted that the primary did not confirm (dropped from the report). */
  onUnconfirmed?: ((replica: string, ids: bigint[]) => void) | undefined;
  onUnindexed?: DetectOptions['onUnindexed'];
  onStatement?: DetectOptions['onStatement'];
  /** After the scan: its counts (and doubts that do not stop the repair), and the --ids it did not audit. */
  onScanned?: ((scan: ScanCounts, ids: Pick<DriftReport<{ id: bigint }>, 'missingIds' | 'skippedIds'>) => void) | undefined;
  onRepairStart?: ((settings: number) => void) | undefined;
  onRepairProgress?: ((progress: RepairProgress) => void) | undefined;
  /** Repair waits for a setting another session holds (core/repair.ts RepairBatchOptions.onRowWait). */
  onRowWait?: ((settingId: bigint | null) => void) | undefined;
  /** Another run holds the lock this one takes (`what`), and it waits for it (waitLock): who holds it. */
  onLockWait?: ((what: 'repair' | 'check', heldBy: string, waitSeconds: number) => void) | undefined;
}

export interface CheckRunOptions {
  connection: ConnectionConfig;
  scope: AuditScope;
  ids?: readonly bigint[] | undefined;
  /** Settings per detection statement; undefined: sized automatically. */
  pageSize?: number | undefined;
  /** Pages compared at once. */
  concurrency?: number | undefined;
  /** Stops the run between statements (and repair between transactions); the run rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  hooks?: RunHooks | undefined;
  /**
   * A replica of `connection` (--replica-url): detection reads it, after it has applied everything
   * the primary had committed at the start; what it finds drifted is confirmed on the primary.
   */
  replica?: ConnectionConfig | undefined;
  /** --max-load, --critical-load, --pause-file, --max-lag, --max-lag-wait (DEFAULT_THROTTLE for the rest). */
  throttle?: Partial<ThrottleSettings> | undefined;
  /** How long any statement waits for a table's metadata lock, in seconds (default DEFAULT_METADATA_LOCK_WAIT; inspector.ts useEngine). */
  metadataLockWaitSeconds?: number | undefined;
  /** How long to wait for another run's lock (0: exit 5 at once): a repair's run lock, or the check lock of a check of every setting. */
  waitLockSeconds?: number | undefined;
}

export interface RepairRunOptions extends CheckRunOptions {
  dryRun?: boolean | undefined;
  /** Settings per repair transaction; undefined: sized automatically. */
  batchSize?: number | undefined;
  /** Repair transactions at once, each on its own connection (default DEFAULT_WRITE_CONCURRENCY). */
  writeConcurrency?: number | undefined;
  lockWaitTimeoutSeconds?: number | undefined;
  /** Refuse to write anything when more settings than this drift. */
  maxChanges?: number | undefined;
  /** Asked after the scan, before anything is written (or created); false writes nothing. */
  confirm?: ((report: DriftReport, target: RepairTarget) => Promise<boolean>) | undefined;
  /** Inside each repair transaction, before its COMMIT (core/repair.ts RepairBatchOptions.beforeCommit). */
  beforeCommit?: RepairBatchOptions['beforeCommit'];
  /** Pauses asked for between transactions (the CLI's Ctrl-Z: cli/pause.ts). */
  pauseRequests?: RepairBatchOptions['pauseRequests'];
  runId?: string | undefined;
}

/** Where a repair would write, looked up after the scan when there is drift (read-only lookups). */
export interface RepairTarget {
  database: string;
  auditTable: string;
  /** Whether the audit table exists already (repair creates it before its first write otherwise). */
  auditTableExists: boolean;
  /** Columns of the settings table that ON UPDATE would change: every write assigns them to themselves. */
  preservedColumns: string[];
  /** For a dry run to say: why repair would refuse the audit table before its scan (auditTableProblem); null when it would not, or not a dry run. */
  auditProblem: string | null;
}

/** What a scan found, in numbers: all that a repair's report keeps of it. */
export interface ScanCounts {
  scanned: number;
  drifted: number;
  /** The scan's doubts that did not stop the repair (drift.ts foreignKeyDoubts), as sentences: the repair report's summary.doubts. */
  doubts?: string[];
  /** --ids that name no setting, and DELETED ones --deleted skip left out (when there are any): the report's summary says them. */
  missingIds?: readonly bigint[];
  skippedIds?: readonly bigint[];
}

/** The counts of a scan for the repair report: with the --ids it did not audit, when there are any. */
export function scanCounts(report: Pick<DriftReport<{ id: bigint }>, 'scanned' | 'drifted' | 'missingIds' | 'skippedIds'>, doubts: string[] = []): ScanCounts {
  return {
    scanned: report.scanned,
    drifted: report.drifted.length,
    ...(doubts.length > 0 ? { doubts } : {}),
    ...(report.missingIds.length > 0 ? { missingIds: report.missingIds } : {}),
    ...(report.skippedIds.length > 0 ? { skippedIds: report.skippedIds } : {}),
  };
}

/** A repair run that wrote nothing: a dry run, no drift, or declined. `report` is what the scan found. */
export interface PlannedRun {
  report: DriftReport;
  /** null when nothing drifted (nothing was looked up). */
  target: RepairTarget | null;
  result: null;
  declined: boolean;
  /** The scope as the server's columns typed it (inspector.ts withKeyTypes): statements built from the plan (--emit-sql) use it. */
  scope: AuditScope;
}

/**
 * A repair run that repaired. It keeps the scan's counts, not its report: the drifted settings are
 * let go once their ids are planned, so a large repair does not hold both them and its changes.
 */
export interface RepairedRun {
  scan: ScanCounts;
  target: RepairTarget;
  result: RepairResult;
  /** The audit table was created by this run. */
  createdAuditTable: boolean;
}

export type RepairRun = PlannedRun | RepairedRun;

/** Final reread chunk: ids per statement inside the one snapshot. */
const REREAD_CHUNK = 1000;

export async function checkRun(options: CheckRunOptions): Promise<DriftReport> {
  stopIfAborted(options.signal); // before any connection: a signal aborted already asks for nothing
  // One connection more than a repair's scan needs: the check lock's.
  const db = await open(options, 2);
  let lock: RunLock | null = null;
  let replica: Replica | null = null;
  try {
    // First: the schema reads after it wait for a metadata lock only as long as the run allows.
    const server = await useEngine(db, engineOptions(options)); // Galera: every read waits for the commits the cluster made before it
    options = { ...options, scope: await verifySchema(db, options.scope) };
    // A check of every setting runs one at a time per database (run-lock.ts acquireCheckLock); one
    // of a few --ids is cheap, and an admin endpoint's recount check must not wait for cron's.
    // Not on Galera: GET_LOCK is per node there, and newer MariaDB and PXC refuse it under wsrep
    // (db/engine.ts); a check writes nothing, so it takes no lease row either.
    if (options.ids === undefined && server.engine.kind !== 'galera') lock = await takeCheckLock(db, options.waitLockSeconds ?? 0, options.signal, options.hooks?.onLockWait);
    replica = await openReplica(db, options);
    return await scan(db, replica, options, throttler(options));
  } finally {
    await lock?.release();
    await replica?.db.close();
    await db.close();
  }
}

/**
 * A repair run. `result` (when given) is filled in as transactions commit, so a caller that sees
 * this reject still knows what was written.
 */
export async function repairRun(options: RepairRunOptions, result: RepairResult = emptyRepairResult(options.runId ?? randomUUID())): Promise<RepairRun> {
  stopIfAborted(options.signal);
  // The scan's connections (open) or the writers, whichever are more, and the run lock's, the throttle's, one spare.
  const db = await open(options, 3 + Math.max(0, (options.writeConcurrency ?? DEFAULT_WRITE_CONCURRENCY) - (options.concurrency ?? DEFAULT_CONCURRENCY)));
  let lock: RunLock | null = null;
  let replica: Replica | null = null;
  const throttle = throttler(options);
  try {
    // First: the schema reads after it wait for a metadata lock only as long as the run allows.
    const server = await useEngine(db, engineOptions(options));
    // From here on the scope knows its key columns' kinds (text keys are compared as text).
    options = { ...options, scope: await verifySchema(db, options.scope) };
    let madeAuditTable = false;
    if (options.dryRun !== true) {
      // The dry run's plan says it instead (repairTarget), and --emit-sql refuses (cli/actions/repair.ts).
      const generated = generatedCounterRefusal(options.scope, 'Nothing was written.');
      if (generated !== null) throw generated;
      const audit = await assertRepairPossible(db, options.scope, server);
      lock = await takeRunLock(db, server, result.runId, options.waitLockSeconds ?? 0, options.signal, options.hooks?.onLockWait);
      // Under the run lock: a run that another repair's lock stops (exit 5) makes nothing.
      madeAuditTable = await makeAuditTableEarly(db, audit);
    }
    replica = await openReplica(db, options, server);
    const planned = await plan(db, server, replica, options, throttle);
    if ('report' in planned) return planned;
    const createdAuditTable = (await ensureAuditTable(db, options.scope.model.auditTable)) || madeAuditTable;
    result.createdAuditTable = createdAuditTable;
    const stop = anySignal([options.signal, lock?.lost, throttle.stopped]);
    // Repair writes on the primary only: its load is what counts between batches.
    const primaryOnly: ThrottleTargets = { load: [loadSource(db, replica === null ? 'server' : 'primary')], replica: null };
    options.hooks?.onRepairStart?.(planned.ids.length);
    await repairSettings(
      db,
      planned.ids,
      {
        scope: options.scope,
        runId: result.runId,
        engine: server.engine,
        fence: lock?.fenceSql == null ? null : { sql: lock.fenceSql, lostMessage: leaseTakenMessage(lock.description) },
        batchSize: options.batchSize,
        concurrency: options.writeConcurrency ?? DEFAULT_WRITE_CONCURRENCY,
        lockWaitTimeoutSeconds: options.lockWaitTimeoutSeconds,
        signal: stop,
        beforeCommit: options.beforeCommit,
        throttle: () => throttle.gate(primaryOnly),
        pauseRequests: options.pauseRequests,
        onProgress: options.hooks?.onRepairProgress,
        onRowWait: options.hooks?.onRowWait,
        childRows: planned.childRows,
      },
      result,
    );
    // Aborted during the last transaction too (it committed; the loop had nothing left to stop).
    if (stop !== undefined && (result.interrupted || stop.aborted)) throw abortReason(stop);
    // SPEC.md: exit 0 only when a reread in one snapshot shows every touched setting right.
    // Not those already failed for what their row kept (repair.ts takenWrites): named once, with why.
    const failed = new Set(result.failed.map((failure) => failure.settingId));
    const touched = [...new Set(result.changes.map((change) => change.settingId)), ...result.skipped].filter((id) => !failed.has(id));
    const reread = await compareInOneSnapshot(db, options.scope, touched, REREAD_CHUNK);
    result.stillDrifted = reread.drifted.map((setting) => setting.id);
    return { scan: planned.scan, target: planned.target, result, createdAuditTable };
  } finally {
    await lock?.release();
    await replica?.db.close();
    await db.close();
  }
}

/**
 * A repair run's scan and what follows it up to the first write: the plan (`--max-changes`, the
 * confirmation), or the run that ends there (a dry run, no drift, declined). The drift report lives
 * only in here: what the repair gets is its ids and counts.
 */
async function plan(
  db: Database,
  server: ServerInfo,
  replica: Replica | null,
  options: RepairRunOptions,
  throttle: Throttler,
): Promise<PlannedRun | { ids: bigint[]; childRows: Map<bigint, number>; scan: ScanCounts; target: RepairTarget }> {
  // Only a dry run and the prompt show the drifted settings' counters: a repair that asks nothing
  // keeps their ids (detect-drift.ts DetectOptions.keep), and how many child rows the scan counted.
  const full = options.dryRun === true || options.confirm !== undefined ? await scan(db, replica, options, throttle) : null;
  // The counters some drifted setting would have written, noted as the scan keeps it (foreignKeyDoubts).
  const drifting = new Set<string>();
  const report =
    full ??
    (await scan(db, replica, options, throttle, (setting) => {
      noteDriftingCounters(setting, drifting);
      return { id: setting.id, rows: childRowsOf(setting) };
    }));
  const written = full === null ? drifting : driftingCounters(full.drifted);
  const { refusal, warnings } = writeDoubts(report, options.scope.model, written);
  const counts = scanCounts(report, warnings);
  options.hooks?.onScanned?.(counts, report);
  const target = report.drifted.length === 0 ? null : await repairTarget(db, options.scope, server, options.dryRun === true);
  const { scope } = options;
  if (target === null) return { report: full ?? { ...report, drifted: [] }, target, result: null, declined: false, scope };
  if (full !== null && options.dryRun === true) return { report: full, target, result: null, declined: false, scope };
  if (refusal !== null) throw refusal;
  if (options.maxChanges !== undefined && counts.drifted > options.maxChanges) {
    throw new UsageError(
      `${counts.drifted} ${counts.drifted === 1 ? 'setting drifts' : 'settings drift'}, more than --max-changes ${options.maxChanges}; nothing was written. ` +
        'Check what happened (a broken migration?) and rerun with a higher --max-changes if the drift is real.',
    );
  }
  if (full !== null && options.confirm !== undefined && !(await options.confirm(full, target))) return { report: full, target, result: null, declined: true, scope };
  // Only settings with many children: a batch of them is read once before its transaction (repair.ts WARM_MIN_ROWS).
  const childRows = new Map<bigint, number>();
  for (const setting of report.drifted) {
    const rows = 'rows' in setting ? setting.rows : childRowsOf(setting);
    if (rows >= CHILD_ROWS_KEPT) childRows.set(setting.id, rows);
  }
  return { ids: report.drifted.map((setting) => setting.id), childRows, scan: counts, target };
}

/**
 * foreignKeyDoubts split by what a write does with them: `refusal`, the error a repair (and a
 * change script, --emit-sql) stops with where a counter it would write counted no row that names a
 * setting; `warnings`, the sentences of the rest, printed and written on.
 */
export function writeDoubts(
  report: Pick<DriftReport<{ id: bigint }>, 'orphans' | 'unfit'>,
  model: AuditScope['model'],
  written: ReadonlySet<string>,
): { refusal: ConfigError | null; warnings: string[] } {
  const all = foreignKeyDoubts(report, model, written);
  // Only a counter this repair would write: a doubtful one nothing drifts on changes nothing.
  const refused = all.filter((doubt) => doubt.refuse && written.has(doubt.counter));
  const warnings = [...all.filter((doubt) => !refused.includes(doubt)).map((doubt) => doubt.message), ...unfitDoubts(report, model)];
  const refusal =
    refused.length === 0
      ? null
      : new ConfigError(
          `${refused.map((doubt) => doubt.message).join(' ')} Repair would write 0 for each such setting; nothing was written. ` +
            'If the counts are truly 0, repair those settings by --ids.',
        );
  return { refusal, warnings };
}

/** The fewest child rows of a drifted setting that the repair keeps the number of (repair.ts RepairBatchOptions.childRows). */
const CHILD_ROWS_KEPT = 1000;

/** The child rows the scan counted for a setting, all counters together. */
function childRowsOf(setting: DriftedSetting): number {
  let rows = 0;
  for (const state of Object.values(setting.counters)) rows += Number(state.actual);
  return rows;
}

/** The exit code a finished repair run stands for (0, 1 when declined or dry, 4 when partial). */
export function repairExitCode(run: RepairRun, dryRun: boolean): ExitCode {
  if (run.result === null) return run.report.drifted.length > 0 && (dryRun || run.declined) ? EXIT.DRIFT : EXIT.OK;
  return run.result.failed.length > 0 || run.result.stillDrifted.length > 0 ? EXIT.PARTIAL : EXIT.OK;
}

/**
 * `dryRun`: what would stop the repair before its scan is judged here (a repair that writes judged
 * it there: assertRepairPossible): the counters' columns, the binary log's format, the tables'
 * engines, the audit table.
 */
async function repairTarget(db: Database, scope: AuditScope, server: ServerInfo, dryRun: boolean): Promise<RepairTarget> {
  const { auditTable } = scope.model;
  const [auditTableExists, preservedColumns] = [await tableExists(db, auditTable), await autoUpdatedColumns(db, scope.model)];
  const problem = dryRun
    ? (generatedCounterProblem(scope) ??
      binlogProblem(server) ??
      (await engineProblem(db, scope.model)) ??
      auditTableProblem(scope.model, auditTableExists ? await auditMissingColumn(db, auditTable) : null))
    : null;
  return { database: db.config.database, auditTable, auditTableExists, preservedColumns, auditProblem: problem === null ? null : `${problem.detail}: ${problem.fix}` };
}

/** repair-readiness.ts transactionsProblem of the tables repair uses, as the server has them (the dry run's plan and assertRepairPossible). */
async function engineProblem(db: Database, model: CounterModel): Promise<{ detail: string; fix: string } | null> {
  return transactionsProblem(model, await nonTransactionalTables(db, repairedTables(model)));
}

/**
 * The pages read at once within the account's connection limit (inspector.ts connectionLimit): each
 * holds a connection, and so do the page waiting for its turn, the run's other reads and a
 * repair's run lock. A server refusing a page's connection would end the run (exit 3).
 */
export function fitConcurrency(requested: number, limit: number | null): number {
  return limit === null ? requested : Math.max(1, Math.min(requested, limit - 3));
}

/** The scan's connections: --concurrency, one more for the next page, connected and waiting for its turn (detect-drift.ts TaskPool), and the extra ones. */
async function open(options: CheckRunOptions, extraConnections = 1): Promise<Database> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  return Database.connect(options.connection, { poolSize: concurrency + 1 + extraConnections });
}

function engineOptions(options: CheckRunOptions): { metadataLockWaitSeconds: number } {
  return { metadataLockWaitSeconds: options.metadataLockWaitSeconds ?? DEFAULT_METADATA_LOCK_WAIT };
}

function throttler(options: CheckRunOptions): Throttler {
  return new Throttler({ ...DEFAULT_THROTTLE, ...options.throttle }, { signal: options.signal, onThrottle: options.hooks?.onThrottle });
}

/** Connects to --replica-url and checks it: the same schema, and a replica whose position can be compared with the primary's. */
async function openReplica(primary: Database, options: CheckRunOptions, primaryInfo?: ServerInfo): Promise<Replica | null> {
  if (options.replica === undefined) return null;
  const name = `${options.replica.host}:${options.replica.port}`;
  const onReplica = (error: unknown): unknown =>
    error instanceof DatabaseError && !/replica/i.test(error.message) ? new DatabaseError(`On the replica ${name}: ${error.message}`, { cause: error.cause }) : error;
  const db = await Database.connect(options.replica, { poolSize: (options.concurrency ?? DEFAULT_CONCURRENCY) + 2 }).catch((error: unknown) => {
    throw onReplica(error);
  });
  try {
    await useEngine(db, engineOptions(options));
    await verifySchema(db, options.scope);
    return await Replica.open(primary, db, primaryInfo);
  } catch (error) {
    await db.close();
    throw onReplica(error);
  }
}

/**
 * Detection: on the primary, or on the replica once it has caught up with the primary's position at
 * the start of the run (so no drift committed before the run is missed), every drifted setting then
 * confirmed on the primary in one snapshot, so nothing the replica alone shows is reported.
 */
async function scan(primary: Database, replica: Replica | null, options: CheckRunOptions, throttle: Throttler): Promise<DriftReport>;
async function scan<T extends { id: bigint }>(
  primary: Database,
  replica: Replica | null,
  options: CheckRunOptions,
  throttle: Throttler,
  keep: (setting: DriftedSetting) => T,
): Promise<DriftReport<T>>;
async function scan(
  primary: Database,
  replica: Replica | null,
  options: CheckRunOptions,
  throttle: Throttler,
  keep: (setting: DriftedSetting) => { id: bigint } = (setting) => setting,
): Promise<DriftReport<{ id: bigint }>> {
  const reader = replica?.db ?? primary;
  const targets: ThrottleTargets = {
    // The replica does the reading; the primary answers the confirmations and is what --max-load protects.
    load: replica === null ? [loadSource(primary, 'server')] : [loadSource(reader, 'replica'), loadSource(primary, 'primary')],
    replica,
  };
  if (replica !== null) {
    await replica.catchUp({ maxWaitSeconds: throttle.settings.maxLagWaitSeconds, signal: options.signal, onWait: options.hooks?.onThrottle });
  }
  const total =
    options.ids !== undefined
      ? { total: new Set(options.ids).size, totalIsEstimate: false }
      : { total: await estimateRows(reader, options.scope.model.settings.table), totalIsEstimate: true };
  const onScanProgress = options.hooks?.onScanProgress;
  const report = await detectDrift(reader, {
    scope: options.scope,
    keep,
    ids: options.ids,
    pageSize: options.pageSize,
    concurrency: fitConcurrency(options.concurrency ?? DEFAULT_CONCURRENCY, await connectionLimit(reader)),
    signal: anySignal([options.signal, throttle.stopped]),
    throttle: () => throttle.gate(targets),
    onProgress: onScanProgress === undefined ? undefined : (progress) => onScanProgress({ ...progress, ...total }),
    onUnindexed: options.hooks?.onUnindexed,
    onStatement: options.hooks?.onStatement,
  });
  // The scan looks at the signal between pages only: one aborted during the last page stops here,
  // before a report or a plan is made of it (a repair would go on to create its audit table).
  stopIfAborted(options.signal);
  if (replica === null) return report;
  const confirmed = await compareInOneSnapshot(primary, options.scope, report.drifted.map((setting) => setting.id), REREAD_CHUNK, 'confirming on the primary what the replica showed drifted');
  const kept = new Set(confirmed.drifted.map((setting) => setting.id));
  const unconfirmed = report.drifted.map((setting) => setting.id).filter((id) => !kept.has(id));
  if (unconfirmed.length > 0) options.hooks?.onUnconfirmed?.(replica.name, unconfirmed);
  // What the primary confirmed, with its counts: the replica's own scan may name settings it did not.
  const unfit = new UnfitTally(options.scope);
  for (const setting of confirmed.drifted) unfit.add(setting);
  return { ...report, drifted: confirmed.drifted.map(keep), replica: { name: replica.name, unconfirmed }, unfit: unfit.counts() };
}

/**
 * Refuses before the scan what would fail at the first write: InnoDB rejects READ COMMITTED writes
 * under binlog_format=STATEMENT (error 1665), a read-only user or server cannot write. Returns what
 * the grants say of the audit table (makeAuditTableEarly).
 */
async function assertRepairPossible(db: Database, scope: AuditScope, server: ServerInfo): Promise<Privileges['audit']> {
  const binlog = binlogProblem(server);
  if (binlog !== null) throw new DatabaseError(`${capitalized(binlog.detail)}; ${binlog.fix} (check runs fine as it is).`);
  const engines = await engineProblem(db, scope.model);
  if (engines !== null) throw new ConfigError(`${capitalized(engines.detail)}: ${engines.fix}. Nothing was written.`);
  // Found at the first write otherwise ('Data too long for column counterName'), after the scan.
  const names = auditNameProblem(scope.model.auditTable, await auditCounterNameLength(db, scope.model.auditTable), scope.counters.map((counter) => counter.name));
  if (names !== null) throw new ConfigError(`${capitalized(names.detail)}: widen it (${names.fix}) or name another --audit-table. Nothing was written.`);
  // Even for an account that may write through read_only (SUPER, READ_ONLY ADMIN): on a replica its
  // writes would make the replica differ from its primary (MariaDB has no super_read_only to stop them).
  if (server.readOnly) {
    throw new DatabaseError(
      `The server ${db.config.host}:${db.config.port} is read_only (a replica?), so repair does not write there; ` +
        'point it at the primary (check runs fine as it is).',
    );
  }
  const leaseTable = runLockKind(server.engine) === 'lease' ? LEASE_TABLE : null;
  const granted = await privileges(db, scope, leaseTable);
  const unsuitable = auditTableProblem(scope.model, granted.audit.missingColumn);
  if (unsuitable !== null) throw new ConfigError(`${capitalized(unsuitable.detail)}: ${unsuitable.fix}. Nothing was written.`);
  const missing = missingRepairGrants(granted, scope.model);
  if (missing.length > 0) {
    await learnAccount(db);
    throw new DatabaseError(
      `Missing privilege: ${missing.map(({ privilege, table }) => `${privilege} on ${table}`).join(' and ')} for '${db.config.user}'; ` +
        `repair needs it (check does not): ${missing.map(({ privilege, table }) => grantSql(db, privilege, table)).join(' ')}`,
    );
  }
  return granted.audit;
}

/** repair-readiness.ts generatedCounterProblem as the error a repair (or --emit-sql) stops with, ending with `nothing` ('Nothing was written.'). */
export function generatedCounterRefusal(scope: AuditScope, nothing: string): ConfigError | null {
  const problem = generatedCounterProblem(scope);
  return problem === null ? null : new ConfigError(`${capitalized(problem.detail)}: ${problem.fix}. ${nothing}`);
}

/** A readiness detail (repair-readiness.ts, lower-case for doctor's lines) as the start of a sentence. */
function capitalized(detail: string): string {
  return `${detail[0]!.toUpperCase()}${detail.slice(1)}`;
}

/**
 * An audit table not made yet, where the grants do not show that this user may make it and write
 * it (a role's grants do not show in information_schema): made before the scan, so that a refusal
 * comes before the scan and the prompt, not at the first write. True when it made it; it stays,
 * empty, if the run then writes nothing.
 */
async function makeAuditTableEarly(db: Database, audit: Privileges['audit']): Promise<boolean> {
  if (audit.exists || (audit.create === true && audit.insertGranted === true)) return false;
  const refused = async (privilege: string, what: string, cause: unknown): Promise<DatabaseError> => {
    await learnAccount(db);
    return new DatabaseError(`Missing privilege: ${privilege} on ${audit.table} for '${db.config.user}'; repair ${what} (check does not): ${grantSql(db, privilege, audit.table)}`, { cause });
  };
  try {
    await ensureAuditTable(db, audit.table);
  } catch (error) {
    if (error instanceof DatabaseError && isPrivilegeError(error.cause)) {
      // INSERT as well where the grants do not show it either: the next refusal would be that one.
      const privilege = audit.insertGranted === true ? 'CREATE' : 'CREATE, INSERT';
      throw await refused(privilege, 'makes its audit table there before it scans, and records each write in it', error.cause);
    }
    throw error;
  }
  if (!(await mayInsertAudit(db, audit.table))) throw await refused('INSERT', `records each write there (it made ${audit.table}, empty, just now)`, undefined);
  return true;
}

async function takeRunLock(db: Database, server: ServerInfo, runId: string, waitSeconds: number, signal: AbortSignal | undefined, onLockWait: RunHooks['onLockWait']): Promise<RunLock> {
  const lock = await acquireRunLock(db, server.engine, { waitSeconds, owner: runId, signal, onWait: (heldBy) => onLockWait?.('repair', heldBy, waitSeconds) });
  if (isRunLock(lock)) return lock;
  throw lockHeldError('repair', db, lock, waitSeconds);
}

/** Exit 5: another run (`what`: "repair", "check of every setting") holds the lock this one waited `waitSeconds` for. */
function lockHeldError(what: string, db: Database, lock: RunLockHeld, waitSeconds: number): RunLockedError {
  return new RunLockedError(
    `Another ${what} of database '${db.config.database}' is running (it holds ${lock.description}, ` +
      `${lock.heldBy}); ${waitSeconds > 0 ? `still after ${waitSeconds} s of --wait-lock; try again later or wait longer.` : 'try again later or pass --wait-lock SECONDS.'}`,
  );
}

async function takeCheckLock(db: Database, waitSeconds: number, signal: AbortSignal | undefined, onLockWait?: RunHooks['onLockWait']): Promise<RunLock | null> {
  const lock = await acquireCheckLock(db, waitSeconds, signal, (heldBy) => onLockWait?.('check', heldBy, waitSeconds));
  if (lock === null) return null; // the engine refuses GET_LOCK (1235): no check lock there
  if (isRunLock(lock)) {
    // The lock's connection was the last the server would give (a connection limit): the scan needs
    // one. The check goes on without the lock rather than fail, as it reads with what it gets
    // (database.ts acquire); a second check there would find no connection either.
    const spare = await db.hasSpareConnection().catch(async (error: unknown) => {
      await lock.release();
      throw error;
    });
    if (spare) return lock;
    await lock.release();
    return null;
  }
  throw lockHeldError('check of every setting', db, lock, waitSeconds);
}

function anySignal(signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((signal): signal is AbortSignal => signal !== undefined);
  return present.length <= 1 ? present[0] : AbortSignal.any(present);
}
