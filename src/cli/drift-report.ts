import type { ChalkInstance } from 'chalk';
import type { DriftReport } from '../core/detect-drift.js';
import { type CounterState, type DriftedSetting, counterDelta, isCounterDrifted } from '../core/drift.js';
import type { ChildRows, KindSummary } from '../core/plan.js';
import { printable } from '../core/printable.js';
import { thousands } from './progress.js';
import { tableText } from './table.js';

/** A counter's column label: its name less a trailing "Count" (issuedCount → issued). */
const label = (counter: string): string => counter.replace(/Count$/, '') || counter;

/** What Δ means, printed under every table that shows it. */
export const DRIFT_DELTA_LEGEND = 'Δ = cached − actual: + the cache is too high, − too low; NULL: no value cached.';
export const CHANGE_DELTA_LEGEND = 'Δ = old − new: + the cache was too high, − too low; NULL: no value was cached.';

/**
 * The drift table: id, status, and per audited counter its cached and actual value and the
 * difference; in pieces (src/cli/table.ts tableText), without a newline at the end.
 */
export function driftTableText(drifted: readonly DriftedSetting[], counters: readonly string[], c: ChalkInstance): Generator<string, void, undefined> {
  const head = ['id', 'status'];
  // On two lines, so that a table of the two built-in counters fits 80 columns (one line each, it
  // took 96 and more).
  for (const counter of counters) head.push(`${label(counter)}\ncached`, `${label(counter)}\nactual`, `${label(counter)}\nΔ`);
  const rowAt = (i: number): string[] => {
    const setting = drifted[i]!;
    const row = [setting.id.toString(), setting.status === null ? 'NULL' : printable(setting.status)];
    for (const counter of counters) {
      const state = setting.counters[counter];
      row.push(...(state === undefined ? ['', '', ''] : counterCells(state, c)));
    }
    return row;
  };
  return tableText(
    head.map((title) => c.bold(title)),
    ['right', 'left', ...counters.flatMap(() => ['right', 'right', 'right'] as const)],
    drifted.length,
    rowAt,
  );
}

function counterCells(state: CounterState, c: ChalkInstance): [string, string, string] {
  const cached = state.cached === null ? 'NULL' : state.cached.toString();
  // --deleted zero: a deleted setting is compared with 0 (Δ against it), its rows said beside.
  const actual = state.expected === state.actual ? state.actual.toString() : `${state.expected} (${plural(state.actual, 'row')}; setting deleted)`;
  if (!isCounterDrifted(state)) return [c.dim(cached), c.dim(actual), c.dim('0')];
  return [c.red.bold(cached), c.green(actual), c.yellow(formatDelta(counterDelta(state)))];
}

/** +n, -n, 0, or NULL. */
export function formatDelta(delta: bigint | null): string {
  if (delta === null) return 'NULL';
  return delta > 0n ? `+${delta}` : delta.toString();
}

/** The first `limit` rows (all without a limit) and how many were left out. */
export function limitRows<T>(rows: readonly T[], limit: number | undefined): { shown: T[]; more: number } {
  if (limit === undefined || rows.length <= limit) return { shown: [...rows], more: 0 };
  return { shown: rows.slice(0, limit), more: rows.length - limit };
}

/** Under a table cut by --limit. */
export function moreLine(more: number): string {
  return `… and ${more} more; --format json has them all.`;
}

/**
 * One line: how many settings were scanned and drifted, in how many settings each counter is off,
 * and (unless the by-kind block says it) the orphan rows.
 */
export function driftSummaryLine(report: DriftReport, counters: readonly string[], options: { orphans?: boolean } = {}): string {
  const perCounter = counters
    .map((counter) => {
      const n = report.drifted.filter((s) => {
        const state = s.counters[counter];
        return state !== undefined && isCounterDrifted(state);
      }).length;
      // A counter off nowhere is left out (a config of five counters listed four zeros).
      return n === 0 ? null : `${counter} off in ${thousands(n)}`;
    })
    .filter((part) => part !== null)
    .join(', ');
  const parts = [
    report.drifted.length === 0
      ? `No drift: ${plural(report.scanned, 'setting')} scanned.`
      : `${thousands(report.drifted.length)} of ${plural(report.scanned, 'setting')} drifted (${perCounter}).`,
  ];
  if (options.orphans === false) return parts[0]!;
  // Only the audited counters' tables: a table not read says nothing about its orphans.
  const orphans = inTables(report.orphans ?? []);
  if (orphans !== null) parts.push(`Child rows with no setting: ${orphans}.`);
  const nulls = inTables((report.orphans ?? []).map((orphan) => ({ ...orphan, rows: orphan.nullSettingId })));
  if (nulls !== null) parts.push(`Child rows with a NULL setting id: ${nulls}.`);
  return parts.join(' ');
}

/**
 * "2 in g_coupons, 1 in g_coupon_uses", the entries with rows; a table read for two counters
 * (each with its own filter) is named with each counter: "1 in promo_code (issued), 0 …". null for none.
 */
function inTables(entries: readonly { counter: string; table: string; rows: bigint }[], unit = false): string | null {
  const present = entries.filter((entry) => entry.rows > 0n);
  if (present.length === 0) return null;
  const shared = (table: string) => entries.filter((entry) => entry.table === table).length > 1;
  return present.map((entry) => `${unit ? plural(entry.rows, 'row') : entry.rows} in ${entry.table}${shared(entry.table) ? ` (${entry.counter})` : ''}`).join(', ');
}

/**
 * The drift by kind, one line per kind that occurs (README "Kinds of drift" says which application
 * bug leaves each behind). Empty when there is nothing to say.
 */
export function renderKinds(kinds: KindSummary, c: ChalkInstance, deletedStatus = 'DELETED'): string[] {
  const rows: [string, string][] = [];
  const counters = (n: number) => plural(n, 'counter');
  if (kinds.tooHigh > 0) rows.push(['too high', counters(kinds.tooHigh)]);
  if (kinds.tooLow > 0) rows.push(['too low', counters(kinds.tooLow)]);
  if (kinds.null > 0) rows.push(['NULL', counters(kinds.null)]);
  if (kinds.negative > 0) rows.push(['negative', counters(kinds.negative)]);
  if (kinds.deletedNonZero > 0) rows.push([`${deletedStatus} with non-zero counts`, plural(kinds.deletedNonZero, 'setting')]);
  const children = (list: ChildRows[] | null): string | null => {
    const present = (list ?? []).filter((entry) => entry.rows > 0n);
    if (present.length === 0) return null;
    const tables = present.map((entry) => entry.table);
    if (present.length === 1) return inTables(list ?? [], true);
    // A table read for two counters would be counted twice: no total then.
    const total = present.reduce((sum, entry) => sum + entry.rows, 0n);
    return `${new Set(tables).size === tables.length ? plural(total, 'row') : 'rows'}: ${inTables(list ?? [])}`;
  };
  const orphans = children(kinds.orphans);
  if (orphans !== null) rows.push(['children with no setting', orphans]);
  const nulls = children(kinds.nullSettingId);
  if (nulls !== null) rows.push(['children with a NULL setting id', nulls]);
  if (rows.length === 0) return [];
  const width = Math.max(...rows.map(([kind]) => kind.length));
  return [c.bold('By kind:'), ...rows.map(([kind, count]) => `  ${kind.padEnd(width)}  ${count}`)];
}

/**
 * A list of ids as one line, said as ids, never as a count: all of them when there are few ("setting
 * 7", "settings 2, 5"), else the count and the first few ("206 settings, the first 5: 1, 2, 3, 4,
 * 5, …"), so a long list does not flood the terminal.
 */
export function firstFew(ids: readonly (bigint | string)[], word = 'setting', few = 5): string {
  if (ids.length <= few) return `${ids.length === 1 ? word : `${word}s`} ${ids.join(', ')}`;
  return `${plural(ids.length, word)}, the first ${few}: ${ids.slice(0, few).join(', ')}, …`;
}

/** "1 setting", "2,522 settings": thousands separated, as the progress line writes them. */
export function plural(n: number | bigint, word: string): string {
  return `${typeof n === 'bigint' ? n.toString().replace(/\B(?=(\d{3})+$)/g, ',') : thousands(n)} ${word}${n === 1 || n === 1n ? '' : 's'}`;
}
