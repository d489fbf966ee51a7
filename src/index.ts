/**
 * coupon-audit as a library: the same check and repair as the CLI, for a program (an admin endpoint
 * that recounts one setting, a job runner). Neither prints nor exits; failures reject with errors
 * that carry the CLI's exit code (`error.exitCode`).
 *
 *   import { check, repair } from 'coupon-audit';
 *   const report = await check({ url: process.env.DATABASE_URL!, ids: ['42'] });
 *   if (report.summary.drifted > 0) await repair({ url: process.env.DATABASE_URL!, ids: ['42'] });
 */
import { type CounterConfig, loadModel } from './core/config.js';
import { auditScope, type AuditScope, type DeletedPolicy, withAuditTable } from './core/model.js';
import { changeJson, checkReportJson, type CheckReport, dryRunReportJson, type DryRunReport, type JsonChange, repairReportJson, type RepairReport } from './core/report.js';
import type { DetectProgress } from './core/detect-drift.js';
import { BATCH_SIZE_RANGE, CONCURRENCY_RANGE, MAX_CHANGES_RANGE, DEFAULT_PAGE_SIZE, LOCK_WAIT_TIMEOUT_RANGE, METADATA_LOCK_WAIT_RANGE, PAGE_SIZE_RANGE, WRITE_CONCURRENCY_RANGE } from './core/limits.js';
import { emptyRepairResult, type RepairProgress } from './core/repair.js';
import { checkRun, repairRun, scanCounts, type ScanProgress } from './core/run.js';
import { DEFAULT_THROTTLE, type LoadLimit, parseLoadLimits, type ThrottleSettings, type ThrottleState, replicaLagOptionsProblem } from './core/throttle.js';
import { auditTableNameProblem, counterNames, deletedPolicy, settingId, wholeNumber } from './core/validate.js';
import { resolveConnectionConfig, resolveReplicaConfig } from './db/connection-config.js';
import { CouponAuditError, UsageError } from './errors.js';
import { libraryError, optionNames } from './library-errors.js';
import { randomUUID } from 'node:crypto';

/** What check() and repair() both take. */
export interface RunOptions {
  /** mysql://user:password@host:3306/db, as --url. */
  url: string;
  /**
   * A config file's path, or the config object itself (SPEC.md "Counters by definition"). Default:
   * as the CLI, `coupon-audit.json` in the process's working directory when there is one, else the
   * built-in model; pass a path or an object to use neither.
   */
  config?: string | CounterConfig;
  /** Only these settings. */
  ids?: readonly (string | number | bigint)[];
  /** Only these counters (names from the model). */
  columns?: readonly string[];
  /** DELETED settings: counted like others (default), expected to be zero, or skipped. */
  deleted?: DeletedPolicy;
  /** Settings per detection statement (default: sized automatically from DEFAULT_PAGE_SIZE). */
  pageSize?: number;
  /** Pages compared at once, each on its own connection (default 4). */
  concurrency?: number;
  /** Abort to stop the run after the statement in flight; the promise then rejects. */
  signal?: AbortSignal;
  onProgress?: (progress: ScanProgress) => void;
  /** A replica of `url` to scan instead, as --replica-url (drift it finds is confirmed on `url`; repair writes only on `url`). */
  replicaUrl?: string;
  /** Pause the scan while the replica is more than this many seconds behind (default 1). */
  maxLag?: number;
  /** Reject (exit code 3) when the replica stays behind maxLag this long, in seconds (default 60). */
  maxLagWait?: number;
  /** Pause between pages and repair batches while a status variable is above N: 'Threads_running=25' (the default), or { Threads_running: 25 }; 'none' for no limit. */
  maxLoad?: string | Record<string, number>;
  /** Stop the run (reject, exit code 3) when a status variable is above N; same forms as maxLoad (default: none). */
  criticalLoad?: string | Record<string, number>;
  /** Pause between pages and repair batches while this file exists. */
  pauseFile?: string;
  /** How often load and lag are read, and a pause looks again, in seconds (default 1). */
  checkInterval?: number;
  /** The run started waiting (state says why: paused, load, lag) or, with null, went on. */
  onThrottle?: (state: ThrottleState | null) => void;
  /**
   * Reject (exit code 3) when a statement waits this long for a table's metadata lock (an ALTER
   * TABLE or LOCK TABLES holds it or is queued for it), 1-86400 seconds (default 60).
   */
  metadataLockWait?: number;
  /**
   * Wait this long for another run's lock instead of rejecting with exit code 5 (default 0): a
   * repair's run lock, or, for a check of every setting (no `ids`), the check lock another such check holds.
   */
  waitLock?: number;
}

export interface RepairOptions extends RunOptions {
  /** Plan only: resolves to the check report with `dryRun: true` and `changes` (what repair would write), writes nothing. */
  dryRun?: boolean;
  /** Settings per repair transaction (default: sized automatically). */
  batchSize?: number;
  /** Repair transactions at once, each on its own connection (default 2); they lock disjoint settings. */
  writeConcurrency?: number;
  /** How long a repair transaction waits for a row or table lock (innodb_lock_wait_timeout, lock_wait_timeout), 1-60 seconds (default 2). */
  lockWaitTimeout?: number;
  /** Reject (exit code 2), writing nothing, when more settings than this drift. */
  maxChanges?: number;
  /** The audit table (default from the config, else coupon_audit_log). */
  auditTable?: string;
  onRepairProgress?: (progress: RepairProgress) => void;
  /**
   * Called inside each repair transaction, after its writes and audit rows and before its COMMIT,
   * with the changes it is about to commit (`changes` as in the report; empty when every setting
   * of the batch was right by the time it was locked). The batch's setting rows stay locked while
   * it runs: keep it short (on MariaDB the server ends a transaction idle for 10 s, and the run
   * rejects with DatabaseError). Whatever it throws (or rejects with) rolls that transaction back and
   * rejects the run with that same error, unchanged; transactions committed before stay, and a
   * rerun finishes the rest. Called again when a transaction is redone after a deadlock. For a
   * guard of your own (refuse a change you find implausible) or to note what is about to change.
   */
  beforeCommit?: (batch: { changes: JsonChange[] }) => void | Promise<void>;
}

/**
 * check()'s options. repair()'s own (dryRun, batchSize…) are not among them, so that one options
 * object typed RepairOptions, shared by a nightly check() and repair(), does not compile for
 * check(); at run time check() refuses one that holds a value (UsageError) and passes over one
 * that is undefined.
 */
export type CheckOptions = RunOptions & { [K in Exclude<keyof RepairOptions, keyof RunOptions>]?: never };

/**
 * What each option must be, checked before anything is read, so that a value from plain JavaScript
 * that the types would refuse is refused (UsageError) instead of read loosely: `dryRun: 'true'` would
 * otherwise repair for real, `ids: '1,2'` fail as a TypeError (exit 70). The keys are every option
 * each function takes, so a misspelt one is refused too (`dryrun: true`). The compiler keeps them in
 * step with the types. Ranges are checked where the values are read (resolve).
 */
type Kind = 'string' | 'number' | 'boolean' | 'function' | 'array' | 'string or object' | 'AbortSignal';
const CHECK_OPTIONS = {
  url: 'string', config: 'string or object', ids: 'array', columns: 'array', deleted: 'string', pageSize: 'number', concurrency: 'number',
  signal: 'AbortSignal', onProgress: 'function', replicaUrl: 'string', maxLag: 'number', maxLagWait: 'number', maxLoad: 'string or object',
  criticalLoad: 'string or object', pauseFile: 'string', checkInterval: 'number', onThrottle: 'function', metadataLockWait: 'number',
  waitLock: 'number',
} as const satisfies Record<keyof RunOptions, Kind>;
const REPAIR_OPTIONS = {
  ...CHECK_OPTIONS,
  dryRun: 'boolean', batchSize: 'number', writeConcurrency: 'number', lockWaitTimeout: 'number', maxChanges: 'number',
  auditTable: 'string', onRepairProgress: 'function', beforeCommit: 'function',
} as const satisfies Record<keyof RepairOptions, Kind>;

function isKind(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'array':
      return Array.isArray(value);
    case 'string or object':
      return typeof value === 'string' || (typeof value === 'object' && value !== null && !Array.isArray(value));
    case 'AbortSignal':
      return typeof value === 'object' && value !== null && typeof (value as AbortSignal).aborted === 'boolean' && typeof (value as AbortSignal).addEventListener === 'function';
    default:
      return typeof value === kind;
  }
}

/** 'null', 'an array', 'an object', 'a string'…: what a value is, never the value (a string could be a URL with its password). */
function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** UsageError (exit 2) for options that are no object, hold a key the function does not take, or a value of the wrong type; and for no url. */
function knownOptions(fn: 'check' | 'repair', options: unknown): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new UsageError(`${fn}() takes an options object ({ url, … }); nothing was read or written.`);
  }
  const known: Readonly<Record<string, Kind>> = fn === 'check' ? CHECK_OPTIONS : REPAIR_OPTIONS;
  // repair()'s own options given to check() as undefined (one object spread for both) ask for nothing.
  const unknown = Object.entries(options)
    .filter(([key, value]) => !Object.hasOwn(known, key) && !(value === undefined && Object.hasOwn(REPAIR_OPTIONS, key)))
    .map(([key]) => key);
  if (unknown.length > 0) {
    const hint = (key: string): string => {
      const like = Object.keys(known).find((name) => name.toLowerCase() === key.toLowerCase().replace(/[-_]/g, ''));
      if (like !== undefined) return ` (did you mean ${like}?)`;
      return fn === 'check' && Object.hasOwn(REPAIR_OPTIONS, key) ? ' (an option of repair())' : '';
    };
    throw new UsageError(`${fn}(): unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => `${key}${hint(key)}`).join(', ')}; nothing was read or written.`);
  }
  const given = options as Record<string, unknown>;
  // The library reads no DATABASE_URL: a program passes what it means.
  if (given['url'] === undefined) throw new UsageError(`${fn}(): url is required (mysql://user:password@host:3306/db); nothing was read or written.`);
  for (const [key, value] of Object.entries(given)) {
    const kind = known[key];
    if (kind === undefined) continue; // a repair() option left undefined
    if (value === undefined || isKind(value, kind)) continue;
    const got = describeType(value);
    throw new UsageError(`${fn}(): ${key} expects ${kind === 'array' ? 'an array' : kind === 'AbortSignal' ? 'an AbortSignal' : `a ${kind}`} (got ${got}); nothing was read or written.`);
  }
  const elements = (key: string, allowed: readonly string[]): void => {
    const list = given[key] as unknown[] | undefined;
    const at = list?.findIndex((element) => !allowed.includes(typeof element)) ?? -1;
    const kinds = allowed.length === 1 ? allowed[0] : `${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}`;
    if (at >= 0) throw new UsageError(`${fn}(): ${key}[${at}] expects a ${kinds} (got ${describeType(list![at])}); nothing was read or written.`);
  };
  elements('ids', ['string', 'number', 'bigint']);
  elements('columns', ['string']);
}

/** The CLI's flags as this API names them (--wait-lock: waitLock): every option's flag is its name in kebab case. */
const OPTION_NAMES = optionNames(Object.keys(REPAIR_OPTIONS));

/** Errors a caller's beforeCommit threw: passed on untouched (README), never reworded. */
const callerErrors = new WeakSet<object>();

/** One mapper at the API's edge (library-errors.ts libraryError); a caller's own error as it is. */
function asLibraryError(error: unknown): unknown {
  return typeof error === 'object' && error !== null && callerErrors.has(error) ? error : libraryError(error, OPTION_NAMES);
}

/** Resolves to what `coupon-audit check --format json` prints. */
export async function check(options: CheckOptions): Promise<CheckReport> {
  try {
    knownOptions('check', options);
    const resolved = await resolve(options);
    const report = await checkRun(resolved);
    return checkReportJson(report, { command: 'check' }, resolved.scope.model);
  } catch (error) {
    throw asLibraryError(error);
  }
}

/**
 * Repairs without asking. Resolves to what `coupon-audit repair --format json` prints (with
 * `dryRun`, what `repair --dry-run --format json` prints). A run that could not repair everything
 * (settings still locked, or still drifted on the final reread) resolves with them listed in
 * `failed` and `stillDrifted`: the CLI's exit code 4.
 */
export async function repair(options: RepairOptions & { dryRun: true }): Promise<DryRunReport>;
export async function repair(options: RepairOptions & { dryRun?: false }): Promise<RepairReport>;
export async function repair(options: RepairOptions): Promise<RepairReport | DryRunReport>;
export async function repair(options: RepairOptions): Promise<RepairReport | DryRunReport> {
  try {
    return await repairInProcess(options);
  } catch (error) {
    throw asLibraryError(error);
  }
}

async function repairInProcess(options: RepairOptions): Promise<RepairReport | DryRunReport> {
  knownOptions('repair', options);
  const auditTableProblem = options.auditTable === undefined ? null : auditTableNameProblem(options.auditTable);
  if (auditTableProblem !== null) throw new UsageError(`repair(): auditTable: ${auditTableProblem}; nothing was read or written.`);
  const base = await resolve(options);
  const beforeCommit = options.beforeCommit;
  const result = emptyRepairResult(randomUUID());
  const run = await repairRun(
    {
      ...base,
      scope: { ...base.scope, model: withAuditTable(base.scope.model, options.auditTable) } satisfies AuditScope,
      dryRun: options.dryRun === true,
      batchSize: options.batchSize === undefined ? undefined : wholeNumber('batchSize', options.batchSize, BATCH_SIZE_RANGE),
      writeConcurrency: options.writeConcurrency === undefined ? undefined : wholeNumber('writeConcurrency', options.writeConcurrency, WRITE_CONCURRENCY_RANGE),
      lockWaitTimeoutSeconds: options.lockWaitTimeout === undefined ? undefined : wholeNumber('lockWaitTimeout', options.lockWaitTimeout, LOCK_WAIT_TIMEOUT_RANGE),
      maxChanges: options.maxChanges === undefined ? undefined : wholeNumber('maxChanges', options.maxChanges, MAX_CHANGES_RANGE),
      hooks: { ...base.hooks, onRepairProgress: options.onRepairProgress },
      beforeCommit:
        beforeCommit === undefined
          ? undefined
          : async (_ids, changes) => {
              try {
                await beforeCommit({ changes: changes.map(changeJson) });
              } catch (error) {
                if (typeof error === 'object' && error !== null) callerErrors.add(error);
                throw error;
              }
            },
    },
    result,
  ).catch((error: unknown) => {
    // What committed stays (or may have: a COMMIT with no reply): the caller finds it in the audit
    // table by this runId. A caller's own error from beforeCommit is passed on untouched.
    if (error instanceof CouponAuditError && !callerErrors.has(error) && (result.transactions > 0 || result.uncertain.length > 0)) error.runId = result.runId;
    throw error;
  });
  if (run.result === null) {
    if (options.dryRun === true) return dryRunReportJson(run.report, base.scope.model, run.target?.auditProblem);
    // Nothing drifted: the run's own (empty) result, with the runId the run lock was taken under.
    return repairReportJson(result, scanCounts(run.report));
  }
  return repairReportJson(run.result, run.scan);
}

async function resolve(options: RunOptions) {
  const model = await loadModel(options.config);
  const connection = resolveConnectionConfig({ url: options.url, env: {}, urlOnly: true });
  return {
    connection,
    replica: options.replicaUrl === undefined ? undefined : resolveReplicaConfig(options.replicaUrl, connection),
    throttle: throttleSettings(options),
    scope: auditScope(model, {
      counters: options.columns === undefined ? undefined : counterNames(model, options.columns),
      deleted: options.deleted === undefined ? undefined : deletedPolicy(options.deleted),
    }),
    ids: options.ids?.map(settingId),
    pageSize: options.pageSize === undefined ? undefined : wholeNumber('pageSize', options.pageSize, PAGE_SIZE_RANGE),
    concurrency: options.concurrency === undefined ? undefined : wholeNumber('concurrency', options.concurrency, CONCURRENCY_RANGE),
    signal: options.signal,
    hooks: { onScanProgress: options.onProgress, onThrottle: options.onThrottle },
    metadataLockWaitSeconds: options.metadataLockWait === undefined ? undefined : wholeNumber('metadataLockWait', options.metadataLockWait, METADATA_LOCK_WAIT_RANGE),
    waitLockSeconds: seconds('waitLock', options.waitLock, 0, Number.MAX_SAFE_INTEGER),
  };
}

/** A number of seconds from `min` to `max` (a fraction allowed), or a UsageError naming the option. */
function seconds(name: string, value: number | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new UsageError(`${name} expects a number of seconds ${range} (got '${String(value)}').`);
  }
  return value;
}

function throttleSettings(options: RunOptions): Partial<ThrottleSettings> {
  const lagProblem = replicaLagOptionsProblem(
    { replica: options.replicaUrl !== undefined, maxLag: options.maxLag !== undefined, maxLagWait: options.maxLagWait !== undefined },
    { replica: 'replicaUrl', maxLag: 'maxLag', maxLagWait: 'maxLagWait' },
  );
  if (lagProblem !== null) throw new UsageError(lagProblem);
  const limits = (name: string, value: string | Record<string, number> | undefined): LoadLimit[] | undefined => {
    if (value === undefined || typeof value === 'string') return value === undefined ? undefined : parseLoadLimits(name, value);
    return Object.entries(value).map(([variable, limit]) => parseLoadLimits(name, `${variable}=${limit}`)[0]!);
  };
  const settings: Partial<ThrottleSettings> = {
    maxLoad: limits('maxLoad', options.maxLoad) ?? DEFAULT_THROTTLE.maxLoad,
    criticalLoad: limits('criticalLoad', options.criticalLoad) ?? DEFAULT_THROTTLE.criticalLoad,
    pauseFile: options.pauseFile ?? null,
    maxLagSeconds: seconds('maxLag', options.maxLag, 0, 3600) ?? DEFAULT_THROTTLE.maxLagSeconds,
    maxLagWaitSeconds: seconds('maxLagWait', options.maxLagWait, 1, 86_400) ?? DEFAULT_THROTTLE.maxLagWaitSeconds,
  };
  const interval = seconds('checkInterval', options.checkInterval, 0.05, 60);
  if (interval !== undefined) settings.checkIntervalMs = interval * 1000;
  return settings;
}

export { DEFAULT_PAGE_SIZE };
export { CouponAuditError, UsageError, DatabaseError, RunLockedError, AbortedError, InternalError, EXIT, exitCodeOf } from './errors.js';
export { ConfigError } from './core/config.js';
export type { CheckReport, DryRunReport, RepairReport, JsonChange, JsonCounter, JsonDriftedSetting, JsonKinds } from './core/report.js';
export type { CounterConfig } from './core/config.js';
export type { DeletedPolicy } from './core/model.js';
export type { DetectProgress } from './core/detect-drift.js';
export type { ScanProgress } from './core/run.js';
export type { LoadLimit, ThrottleState } from './core/throttle.js';
export type { RepairProgress } from './core/repair.js';
