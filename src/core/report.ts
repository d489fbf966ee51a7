import { compareIds } from '../db/rows.js';
import type { DriftReport } from './detect-drift.js';
import { type DriftedSetting, scanDoubts } from './drift.js';
import { jsonInteger, jsonIntegerOrNull } from './json.js';
import { type CounterModel, DEFAULT_MODEL } from './model.js';
import { kindSummary, planChanges, type PlannedChange } from './plan.js';
import type { RepairResult } from './repair.js';

/**
 * The JSON documents of SPEC.md ("JSON report"): what `--format json` prints and what the library's
 * check() and repair() resolve to. Ids are strings; counts follow json.ts (numbers while exact).
 */

export interface JsonCounter {
  cached: number | string | null;
  actual: number | string;
  expected: number | string;
}

export interface JsonDriftedSetting {
  id: string;
  status: string | null;
  counters: Record<string, JsonCounter>;
}

export interface CheckReport {
  version: 1;
  command: string;
  dryRun?: boolean;
  summary: {
    scanned: number;
    drifted: number;
    /** Child rows whose setting id names no setting, by child table (full scans only). */
    orphans?: Record<string, number | string>;
    /** Child rows whose setting id is NULL, by child table, when there are any. */
    nullSettingId?: Record<string, number | string>;
    missingIds?: string[];
    /** --ids that name a DELETED setting, left out by --deleted skip. */
    skippedIds?: string[];
    /** Counters that counted no child row for any setting where that is suspect (drift.ts foreignKeyDoubts), as sentences. */
    doubts?: string[];
    /** Drifted counters by kind, and DELETED settings still counting (when the model was given). */
    kinds?: JsonKinds;
  };
  drifted: JsonDriftedSetting[];
}

/** `repair --dry-run --format json`: the check report, and what repair would write (the same shape as repair's `changes`). */
export interface DryRunReport extends CheckReport {
  dryRun: true;
  changes: JsonChange[];
  /**
   * Why repair would stop before its scan and write none of `changes`, of what a dry run can tell
   * without the write privileges it does not need: a generated counter column, an unsuitable audit
   * table (only where drift was found). Missing write privileges are not looked for (doctor says).
   */
  wouldStop?: string;
}

/** A dry run's report: the check report's keys, `changes`, and `wouldStop` where repair would refuse (core/run.ts RepairTarget.auditProblem). */
export function dryRunReportJson(report: DriftReport, model: CounterModel, wouldStop: string | null | undefined, list?: ListOf): DryRunReport {
  return { ...checkReportJson(report, { command: 'repair', dryRun: true }, model, list), ...(wouldStop == null ? {} : { wouldStop }) };
}

export interface JsonKinds {
  tooHigh: number;
  tooLow: number;
  null: number;
  negative: number;
  deletedNonZero: number;
}

export interface JsonChange {
  id: string;
  counter: string;
  old: number | string | null;
  new: number | string;
}

export interface RepairReport {
  version: 1;
  command: 'repair';
  runId: string;
  summary: {
    scanned: number;
    drifted: number;
    repaired: number;
    skipped: number;
    vanished: number;
    failed: number;
    uncertain: number;
    stillDrifted: number;
    interrupted: boolean;
    /** Drifted settings a repair that stopped part-way never reached (a signal, a lost lock, an error): 0 when it finished. */
    notReached: number;
    transactions: number;
    retries: number;
    lockHoldMs: { p50: number; p99: number; max: number } | null;
    /** The scan's doubts that did not stop it (a where that lets no row through), as check prints them. */
    doubts?: string[];
    /** As check's: --ids that name no setting, and DELETED ones --deleted skip left out. */
    missingIds?: string[];
    skippedIds?: string[];
  };
  changes: JsonChange[];
  skipped: string[];
  vanished: string[];
  /**
   * `unfit`: a count past what its column holds (widen it); `kept`: the row kept another value than
   * repair wrote (a trigger?); `refused`: the server refused its write (a trigger's SIGNAL, a CHECK constraint); else
   * still locked after every retry (a rerun finishes it).
   */
  failed: { id: string; reason: string; unfit?: true; kept?: true; refused?: true }[];
  uncertain: string[];
  stillDrifted: string[];
}

/**
 * The key a child table's orphan count goes under: its name, except the built-in schema's two
 * tables, which keep the short keys (`coupons`, `uses`) that reports have always had, unless the
 * model also reads a table of that very name (`tables`), whose key it is then.
 */
function orphanKey(table: string, tables: ReadonlySet<string>): string {
  const builtIn: Record<string, string> = { [DEFAULT_MODEL.counters[0]!.table]: 'coupons', [DEFAULT_MODEL.counters[1]!.table]: 'uses' };
  const short = builtIn[table];
  return short === undefined || tables.has(short) ? table : short;
}

/**
 * How a report's long lists are made from the rows they show: mapped whole by default; the CLI
 * passes one that maps a slice at a time as the report is written (cli/json-output.ts
 * mappedAsWritten), so that the JSON copy of a million rows never exists whole; what that one
 * returns is only for writing, not a real array.
 */
export type ListOf = <T, U>(items: readonly T[], map: (item: T) => U) => U[];

const mappedWhole: ListOf = (items, map) => items.map((item) => map(item));

/**
 * The check report (and, with `dryRun`, the dry-run report, which also has `changes`). With the
 * model, `summary.kinds` splits the drift by kind.
 */
export function checkReportJson(report: DriftReport, extra: { command: string; dryRun: true }, model?: CounterModel, list?: ListOf): DryRunReport;
export function checkReportJson(report: DriftReport, extra: { command: string; dryRun?: boolean }, model?: CounterModel, list?: ListOf): CheckReport;
export function checkReportJson(
  report: DriftReport,
  extra: { command: string; dryRun?: boolean },
  model?: CounterModel,
  list: ListOf = mappedWhole,
): CheckReport | DryRunReport {
  const summary: CheckReport['summary'] = { scanned: report.scanned, drifted: report.drifted.length };
  if (report.orphans !== null) {
    summary.orphans = {};
    const nulls: Record<string, number | string> = {};
    // A table two counters of the model read (each with its own filter) counts its orphans per
    // counter: keyed as the table output names them, "promo_code (issued)", so that neither hides
    // the other, whichever of them --columns audits.
    const counters = model?.counters ?? report.orphans;
    const shared = (table: string) => counters.filter((counter) => counter.table === table).length > 1;
    const tables = new Set(counters.map((counter) => counter.table));
    for (const orphan of report.orphans) {
      const key = shared(orphan.table) ? `${orphanKey(orphan.table, tables)} (${orphan.counter})` : orphanKey(orphan.table, tables);
      summary.orphans[key] = jsonInteger(orphan.rows);
      if (orphan.nullSettingId > 0n) nulls[key] = jsonInteger(orphan.nullSettingId);
    }
    if (Object.keys(nulls).length > 0) summary.nullSettingId = nulls;
  }
  if (report.missingIds.length > 0) summary.missingIds = report.missingIds.map(String);
  if (report.skippedIds.length > 0) summary.skippedIds = report.skippedIds.map(String);
  if (model !== undefined) {
    // What check prints as warnings (a foreignKey or where that counts nothing), for JSON readers and the library.
    const doubts = scanDoubts(report, model);
    if (doubts.length > 0) summary.doubts = doubts;
    const { tooHigh, tooLow, null: nulls, negative, deletedNonZero } = kindSummary(report);
    summary.kinds = { tooHigh, tooLow, null: nulls, negative, deletedNonZero };
  }
  const json: CheckReport = { version: 1, ...extra, summary, drifted: list(report.drifted, driftedSettingJson) };
  if (extra.dryRun !== true) return json;
  return { ...json, dryRun: true, changes: list(planChanges(report.drifted), changeJson) };
}

export function changeJson(change: PlannedChange): JsonChange {
  return { id: change.settingId.toString(), counter: change.counter, old: jsonIntegerOrNull(change.from), new: jsonInteger(change.to) };
}

export function driftedSettingJson(setting: DriftedSetting): JsonDriftedSetting {
  const counters: Record<string, JsonCounter> = {};
  for (const [counter, state] of Object.entries(setting.counters)) {
    counters[counter] = { cached: jsonIntegerOrNull(state.cached), actual: jsonInteger(state.actual), expected: jsonInteger(state.expected) };
  }
  return { id: setting.id.toString(), status: setting.status, counters };
}

/** Lock hold time percentiles, for --verbose, the JSON report and the benchmark. */
export function lockHoldStats(samples: readonly number[]): { p50: number; p99: number; max: number } | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  // Tenths of a millisecond: the clock's noise below that is not a finding.
  const tenths = (ms: number) => Math.round(ms * 10) / 10;
  return { p50: tenths(at(0.5)), p99: tenths(at(0.99)), max: tenths(sorted[sorted.length - 1]!) };
}

export function repairReportJson(
  result: RepairResult,
  scan: { scanned: number; drifted: number; doubts?: string[]; missingIds?: readonly bigint[]; skippedIds?: readonly bigint[] },
  list: ListOf = mappedWhole,
): RepairReport {
  return {
    version: 1,
    command: 'repair',
    runId: result.runId,
    summary: {
      scanned: scan.scanned,
      drifted: scan.drifted,
      repaired: result.repaired,
      skipped: result.skipped.length,
      vanished: result.vanished.length,
      failed: result.failed.length,
      uncertain: result.uncertain.length,
      stillDrifted: result.stillDrifted.length,
      interrupted: result.interrupted,
      notReached: notReached(result, scan.drifted),
      transactions: result.transactions,
      retries: result.retries,
      lockHoldMs: lockHoldStats(result.lockHoldMs),
      ...(scan.doubts !== undefined ? { doubts: scan.doubts } : {}),
      ...(scan.missingIds !== undefined && scan.missingIds.length > 0 ? { missingIds: scan.missingIds.map(String) } : {}),
      ...(scan.skippedIds !== undefined && scan.skippedIds.length > 0 ? { skippedIds: scan.skippedIds.map(String) } : {}),
    },
    // In id order (a setting's changes in counter order), whatever order the writers committed in.
    changes: list(
      byId(result.changes, (change) => change.settingId),
      changeJson,
    ),
    skipped: list(byId(result.skipped, (id) => id), String),
    vanished: byId(result.vanished, (id) => id).map(String),
    // The reason and whichever kind flag it has (unfit, kept, refused), as the result holds them.
    failed: byId(result.failed, (failure) => failure.settingId).map(({ settingId, ...failure }) => ({ id: settingId.toString(), ...failure })),
    uncertain: byId(result.uncertain, (id) => id).map(String),
    stillDrifted: byId(result.stillDrifted, (id) => id).map(String),
  };
}

/** Drifted settings a repair never reached (nor locked, skipped, found deleted or sent a COMMIT for): 0 for a run that finished. */
export function notReached(result: RepairResult, drifted: number): number {
  const settled = result.repaired + result.skipped.length + result.vanished.length + result.failed.length + result.uncertain.length;
  return Math.max(0, drifted - settled);
}

function byId<T>(items: readonly T[], id: (item: T) => bigint): T[] {
  return [...items].sort((a, b) => compareIds(id(a), id(b)));
}
