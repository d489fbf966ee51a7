import type { ChalkInstance } from 'chalk';
import Table from 'cli-table3';
import type { DriftReport } from '../core/detect-drift.js';
import { type CounterState, type DriftedSetting, isCounterDrifted } from '../core/drift.js';

/** A counter's column label: its name less a trailing "Count" (issuedCount → issued). */
const label = (counter: string): string => counter.replace(/Count$/, '') || counter;

/** The drift table: id, status, and per audited counter its cached and actual value and the difference. */
export function renderDriftTable(drifted: readonly DriftedSetting[], counters: readonly string[], c: ChalkInstance): string {
  const head = ['id', 'status'];
  for (const counter of counters) head.push(`${label(counter)} cached`, `${label(counter)} actual`, `${label(counter)} Δ`);
  const table = new Table({
    head: head.map((title) => c.bold(title)),
    // cli-table3 colours head and borders by itself, even on a pipe: leave colour to our chalk.
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    colAligns: ['right', 'left', ...counters.flatMap(() => ['right', 'right', 'right'] as const)],
  });
  for (const setting of drifted) {
    const row = [setting.id.toString(), setting.status ?? 'NULL'];
    for (const counter of counters) {
      const state = setting.counters[counter];
      if (state === undefined) {
        row.push('', '', '');
        continue;
      }
      row.push(...counterCells(state, c));
    }
    table.push(row);
  }
  return table.toString();
}

function counterCells(state: CounterState, c: ChalkInstance): [string, string, string] {
  const cached = state.cached === null ? 'NULL' : state.cached.toString();
  const actual = state.expected === state.actual ? state.actual.toString() : `${state.expected} (${state.actual} rows)`;
  if (!isCounterDrifted(state)) return [c.dim(cached), c.dim(actual), c.dim('0')];
  const delta = state.cached === null ? 'NULL' : signed(state.cached - state.expected);
  return [c.red.bold(cached), c.green(actual), c.yellow(delta)];
}

function signed(value: bigint): string {
  return value > 0n ? `+${value}` : value.toString();
}

/** One line: how many settings were scanned and drifted, per counter, and orphan rows if any. */
export function driftSummaryLine(report: DriftReport, counters: readonly string[]): string {
  const perCounter = counters
    .map((counter) => {
      const n = report.drifted.filter((s) => {
        const state = s.counters[counter];
        return state !== undefined && isCounterDrifted(state);
      }).length;
      return `${counter} ${n}`;
    })
    .join(', ');
  const parts = [
    report.drifted.length === 0
      ? `No drift: ${plural(report.scanned, 'setting')} scanned.`
      : `${report.drifted.length} of ${plural(report.scanned, 'setting')} drifted (${perCounter}).`,
  ];
  // Only the audited counters' tables: a table not read says nothing about its orphans.
  const orphans = (report.orphans ?? []).filter((orphan) => orphan.rows > 0n);
  if (orphans.length > 0) {
    parts.push(`Orphan rows (settingId with no setting): ${orphans.map((o) => `${o.rows} in ${o.table}`).join(', ')}.`);
  }
  const nulls = (report.orphans ?? []).filter((orphan) => orphan.nullSettingId > 0n);
  if (nulls.length > 0) {
    parts.push(`Rows with a NULL setting id: ${nulls.map((o) => `${o.nullSettingId} in ${o.table}`).join(', ')}.`);
  }
  return parts.join(' ');
}

export function plural(n: number | bigint, word: string): string {
  return `${n} ${word}${n === 1 || n === 1n ? '' : 's'}`;
}
