import type { ChalkInstance } from 'chalk';
import Table from 'cli-table3';
import type { RepairResult } from '../core/repair.js';
import { plural } from './drift-report.js';

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

export function repairSummaryLines(result: RepairResult, c: ChalkInstance, audit?: { table: string; created: boolean }): string[] {
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
  if (audit !== undefined && result.repaired.length > 0) {
    lines.push(`Every write is recorded in ${audit.table}${audit.created ? ' (created by this run)' : ''}, under run id ${result.runId}.`);
  }
  if (result.uncertain.length > 0) {
    lines.push(
      c.red(
        `The connection went before COMMIT was answered for ${result.uncertain.join(', ')}: committed or not, ` +
          `${audit?.table ?? 'the audit table'} says (rows with run id ${result.runId}); a rerun repairs whatever is still off.`,
      ),
    );
  }
  if (result.stillDrifted.length > 0) {
    lines.push(
      c.red(
        `Still drifted when reread after the repair (one snapshot): ${result.stillDrifted.join(', ')}. ` +
          'Something keeps changing them outside a consistent transaction; a rerun looks again.',
      ),
    );
  }
  if (result.interrupted) lines.push(c.yellow('Interrupted: the rest was left as it was; a rerun finishes it.'));
  return lines;
}
