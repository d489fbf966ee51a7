import { readFile, stat } from 'node:fs/promises';
import { EXIT } from '../../errors.js';
import { replaceFile } from '../files.js';
import type { RunOutcome } from './run-outcome.js';

export interface MetricsInput {
  outcome: RunOutcome;
  exitCode: number;
  finishedAt: Date;
  durationSeconds: number;
  /** coupon_audit_last_success_timestamp_seconds from the previous file, kept across failed runs. */
  previousSuccess: number | null;
  /**
   * The previous file's SCAN_GAUGES (same command and database), kept by a run that learnt none of
   * its own (it failed before its scan ended): the drift last seen stays until a scan replaces it,
   * so CouponAuditDriftFound does not resolve while the check cannot connect.
   */
  previousScan?: ReadonlyMap<string, number>;
}

/** What a run knows once its scan has ended, and a run that failed before that does not. */
const SCAN_GAUGES = ['coupon_audit_drifted_settings', 'coupon_audit_scanned_settings', 'coupon_audit_repaired_settings', 'coupon_audit_failed_settings'] as const;

/** A run did its job: it scanned (and repaired) everything; drift found is still a successful run. */
export function isSuccessfulRun(outcome: RunOutcome, exitCode: number): boolean {
  if (exitCode === EXIT.OK) return true;
  return exitCode === EXIT.DRIFT && outcome.drifted !== null;
}

const HELP: Record<string, [type: 'gauge', help: string]> = {
  coupon_audit_drifted_settings: ['gauge', 'Settings whose cached counters differed from the real counts in the last run that scanned (kept by runs that failed before).'],
  coupon_audit_scanned_settings: ['gauge', 'Settings scanned by the last run that scanned.'],
  coupon_audit_repaired_settings: ['gauge', 'Settings repaired by the last run that scanned (0 for check and dry runs).'],
  coupon_audit_failed_settings: ['gauge', 'Drifted settings the last repair left drifted: still locked after every retry, a count past what its column holds, a write a trigger kept, changed or refused, or not reached when it stopped part-way.'],
  coupon_audit_last_run_timestamp_seconds: ['gauge', 'When the last run finished, in seconds since the epoch.'],
  coupon_audit_last_run_success: ['gauge', '1 if the last run completed (drift found counts as completed), 0 if it failed.'],
  coupon_audit_last_run_exit_code: ['gauge', 'Exit code of the last run.'],
  coupon_audit_last_success_timestamp_seconds: ['gauge', 'When a run last completed, in seconds since the epoch.'],
  coupon_audit_run_duration_seconds: ['gauge', 'Wall time of the last run, in seconds.'],
};

/** The Prometheus text exposition of one run. Values the run never learnt (it failed first) are left out. */
export function renderMetrics(input: MetricsInput): string {
  const { outcome } = input;
  const success = isSuccessfulRun(outcome, input.exitCode);
  const finished = input.finishedAt.getTime() / 1000;
  const values: Record<string, number | null> = {
    coupon_audit_drifted_settings: outcome.drifted,
    coupon_audit_scanned_settings: outcome.scanned,
    coupon_audit_repaired_settings: outcome.drifted === null ? null : (outcome.repaired ?? 0),
    coupon_audit_failed_settings: outcome.failed,
    coupon_audit_last_run_timestamp_seconds: finished,
    coupon_audit_last_run_success: success ? 1 : 0,
    coupon_audit_last_run_exit_code: input.exitCode,
    coupon_audit_last_success_timestamp_seconds: success ? finished : input.previousSuccess,
    coupon_audit_run_duration_seconds: input.durationSeconds,
  };
  if (outcome.drifted === null && input.previousScan !== undefined) {
    for (const name of SCAN_GAUGES) values[name] = input.previousScan.get(name) ?? null;
  }
  const labels = labelSet(metricsLabels(outcome));
  const lines: string[] = [];
  for (const [name, [type, help]] of Object.entries(HELP)) {
    const value = values[name];
    if (value === null || value === undefined) continue;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels} ${formatValue(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Reads the last-success timestamp back from a previous file, whatever its labels (see previousSuccessFor). */
export function previousSuccessTimestamp(text: string): number | null {
  const match = /^coupon_audit_last_success_timestamp_seconds(?:\{[^}]*\})? (\S+)$/m.exec(text);
  if (match === null) return null;
  const value = Number(match[1]);
  return Number.isFinite(value) ? value : null;
}

/** The labels every sample of a metrics file carries: one file describes one command on one database. */
export type MetricsLabels = { command: string; database: string };

/**
 * A plan-only repair (--dry-run, --emit-sql) is labelled `repair --dry-run`: it wrote nothing, so
 * its success must not stand in for a repair's (CouponAuditNoRecentSuccess{command="repair"}), nor
 * be kept across a real repair's failures in the same file.
 */
export function metricsLabels(outcome: Pick<RunOutcome, 'command' | 'database' | 'dryRun'>): MetricsLabels {
  return { command: outcome.dryRun ? `${outcome.command} --dry-run` : outcome.command, database: outcome.database ?? '' };
}

/**
 * The previous last-success timestamp, only when the previous file was written for the same
 * command and database: a file last written for another database (the same --metrics-file
 * pointed elsewhere) must not lend its success to this one.
 */
export function previousSuccessFor(text: string, labels: MetricsLabels): number | null {
  return previousSamples(text, labels, ['coupon_audit_last_success_timestamp_seconds']).get('coupon_audit_last_success_timestamp_seconds') ?? null;
}

/**
 * The previous file's last success time and scan gauges, those written for the same command and
 * database only. A run that could not tell its database (`labels.database` '': a URL that does not
 * parse, such as a password with a raw '#') takes the one the previous file names for the same
 * command (`database`): one file per cron job, so its failure keeps that database's series (the
 * drift last seen, the last success) instead of replacing them with database="" ones.
 */
export async function readPreviousMetrics(path: string, labels: MetricsLabels): Promise<{ success: number | null; scan: Map<string, number>; database: string }> {
  let text: string;
  try {
    // A previous file only (through a symlink too): a device or a FIFO has none (reading a FIFO
    // would wait for a writer).
    if (!(await stat(path)).isFile()) return { success: null, scan: new Map(), database: labels.database };
    text = await readFile(path, 'utf8');
  } catch {
    return { success: null, scan: new Map(), database: labels.database };
  }
  const database = labels.database === '' ? (previousDatabaseFor(text, labels.command) ?? '') : labels.database;
  const known = { ...labels, database };
  return { success: previousSuccessFor(text, known), scan: previousScanFor(text, known), database };
}

/** A sample line of a metrics file: its name, its label set (absent where it has none), its value (matchAll copies it, so one serves every read). */
const SAMPLE = /^(coupon_audit_[a-z_]+)(\{(?:[^"}\n]|"(?:[^"\\\n]|\\.)*")*\})? (\S+)$/gm;

/** The database label of the previous file's first sample written for `command`, when it names one. */
export function previousDatabaseFor(text: string, command: string): string | null {
  for (const match of text.matchAll(SAMPLE)) {
    const labels = parseLabelSet(match[2] ?? '{}');
    if (labels?.get('command') === command && (labels.get('database') ?? '') !== '') return labels.get('database')!;
  }
  return null;
}

/** SCAN_GAUGES of a previous file, those whose labels are `labels` (see previousSuccessFor). */
export function previousScanFor(text: string, labels: MetricsLabels): Map<string, number> {
  return previousSamples(text, labels, SCAN_GAUGES);
}

/** Each of `names` as a previous file first gives it, where that sample's labels are `labels` and its value a number. */
function previousSamples(text: string, labels: MetricsLabels, names: readonly string[]): Map<string, number> {
  const kept = new Map<string, number>();
  const seen = new Set<string>();
  for (const match of text.matchAll(SAMPLE)) {
    const name = match[1]!;
    if (!names.includes(name) || seen.has(name)) continue;
    seen.add(name);
    const previous = parseLabelSet(match[2] ?? '{}');
    if (previous === null || previous.get('command') !== labels.command || previous.get('database') !== labels.database) continue;
    const value = Number(match[3]);
    if (Number.isFinite(value)) kept.set(name, value);
  }
  return kept;
}

/** The metrics file, written whole or not at all (files.ts replaceFile: node_exporter's textfile collector never reads half a file). */
export function writeMetricsFile(path: string, text: string): Promise<void> {
  return replaceFile(path, text);
}

function labelSet(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([key, value]) => `${key}="${escapeLabel(value)}"`);
  return `{${parts.join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `{a="x",b="y\"z"}` back to its values (the inverse of labelSet); null when it is not one. */
function parseLabelSet(text: string): Map<string, string> | null {
  const labels = new Map<string, string>();
  const body = text.slice(1, -1);
  const pair = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  while (pair.lastIndex < body.length) {
    const match = pair.exec(body);
    if (match === null) return null;
    labels.set(match[1]!, match[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)));
    if (match[3] === '') break;
  }
  return labels;
}

function formatValue(value: number): string {
  return Number.isInteger(value) ? value.toString() : value.toFixed(3);
}
