import type { ChalkInstance } from 'chalk';
import Table from 'cli-table3';
import type { RepairResult } from '../core/repair.js';
import { jsonInteger, jsonIntegerOrNull } from './json.js';
import { plural } from './drift-report.js';

/** Lock hold time percentiles, for --verbose and the benchmark. */
export function lockHoldStats(samples: readonly number[]): { p50: number; p99: number; max: number } | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]! };
}

export function repairResultJson(result: RepairResult, scan: { scanned: number; drifted: number }): Record<string, unknown> {
  return {
    version: 1,
    command: 'repair',
    runId: result.runId,
    summary: {
      scanned: scan.scanned,
      drifted: scan.drifted,
      repaired: result.repaired.length,
      skipped: result.skipped.length,
      vanished: result.vanished.length,
      failed: result.failed.length,
      interrupted: result.interrupted,
      transactions: result.transactions,
      retries: result.retries,
      lockHoldMs: lockHoldStats(result.lockHoldMs),
    },
    changes: result.repaired.flatMap(({ changes }) =>
      changes.map((change) => ({
        id: change.settingId.toString(),
        counter: change.counter,
        old: jsonIntegerOrNull(change.from),
        new: jsonInteger(change.to),
      })),
    ),
    skipped: result.skipped.map(String),
    vanished: result.vanished.map(String),
    failed: result.failed.map((failure) => ({ id: failure.settingId.toString(), reason: failure.reason })),
  };
}

export function renderChangesTable(result: RepairResult, c: ChalkInstance): string {
  const table = new Table({
    head: ['id', 'counter', 'old', 'new'].map((title) => c.bold(title)),
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    colAligns: ['right', 'left', 'right', 'right'],
  });
  for (const { changes } of result.repaired) {
    for (const change of changes) {
      table.push([change.settingId.toString(), change.counter, c.red(change.from === null ? 'NULL' : change.from.toString()), c.green(change.to.toString())]);
    }
  }
  return table.toString();
}

export function repairSummaryLines(result: RepairResult, c: ChalkInstance): string[] {
  const counters = result.repaired.reduce((sum, setting) => sum + setting.changes.length, 0);
  const lines = [
    `Repaired ${plural(result.repaired.length, 'setting')} (${plural(counters, 'counter')}) in ${plural(result.transactions, 'transaction')}; ` +
      `skipped ${result.skipped.length} (already right when locked), ${result.vanished.length} deleted meanwhile, ` +
      `failed ${result.failed.length}. Run id ${result.runId}.`,
  ];
  if (result.failed.length > 0) {
    lines.push(
      c.red(
        `Not repaired, still locked by another session: ${result.failed.map((f) => f.settingId).join(', ')}. A rerun finishes them.`,
      ),
    );
  }
  if (result.interrupted) lines.push(c.yellow('Interrupted: the rest was left as it was; a rerun finishes it.'));
  return lines;
}
