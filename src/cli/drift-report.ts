import type { ChalkInstance } from 'chalk';
import Table from 'cli-table3';
import type { DriftReport } from '../core/detect-drift.js';
import { type CounterState, type DriftedSetting, isCounterDrifted } from '../core/drift.js';
import type { Counter } from '../db/database.js';
import { jsonInteger, jsonIntegerOrNull } from './json.js';

/** The SPEC.md JSON report (check, repair --dry-run). Ids are strings, so they are exact at any size. */
export function driftReportJson(report: DriftReport, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    ...extra,
    summary: {
      scanned: report.scanned,
      drifted: report.drifted.length,
      ...(report.orphans === null
        ? {}
        : { orphans: { coupons: jsonInteger(report.orphans.coupons), uses: jsonInteger(report.orphans.uses) } }),
      ...(report.missingIds.length > 0 ? { missingIds: report.missingIds.map(String) } : {}),
    },
    drifted: report.drifted.map(driftedSettingJson),
  };
}

export function driftedSettingJson(setting: DriftedSetting): Record<string, unknown> {
  const counters: Record<string, unknown> = {};
  for (const [counter, state] of Object.entries(setting.counters) as [Counter, CounterState][]) {
    counters[counter] = {
      cached: jsonIntegerOrNull(state.cached),
      actual: jsonInteger(state.actual),
      expected: jsonInteger(state.expected),
    };
  }
  return { id: setting.id.toString(), status: setting.status, counters };
}

const LABEL: Record<Counter, string> = { issuedCount: 'issued', usedCount: 'used' };

/** The drift table: id, status, and per audited counter its cached and actual value and the difference. */
export function renderDriftTable(drifted: readonly DriftedSetting[], counters: readonly Counter[], c: ChalkInstance): string {
  const head = ['id', 'status'];
  for (const counter of counters) head.push(`${LABEL[counter]} cached`, `${LABEL[counter]} actual`, `${LABEL[counter]} Δ`);
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
export function driftSummaryLine(report: DriftReport, counters: readonly Counter[], tables: { coupons: string; uses: string }): string {
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
  if (report.orphans !== null && (report.orphans.coupons > 0n || report.orphans.uses > 0n)) {
    parts.push(
      `Orphan rows (settingId with no setting): ${report.orphans.coupons} in ${tables.coupons}, ${report.orphans.uses} in ${tables.uses}.`,
    );
  }
  return parts.join(' ');
}

export function plural(n: number | bigint, word: string): string {
  return `${n} ${word}${n === 1 || n === 1n ? '' : 's'}`;
}
