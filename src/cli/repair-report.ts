import { compareIds } from '../db/rows.js';
import type { ChalkInstance } from 'chalk';
import { counterDelta } from '../core/drift.js';
import type { PlanTotals, PlannedChange } from '../core/plan.js';
import { type RepairResult, TABLE_LOCK_REASON } from '../core/repair.js';
import { notReached } from '../core/report.js';
import { firstFew, formatDelta, plural } from './drift-report.js';
import { tableText } from './table.js';

/**
 * old → new per counter: the dry run's plan and what repair wrote, in the same table; in pieces
 * (src/cli/table.ts tableText), without a newline at the end.
 */
export function changesTableText(changes: readonly PlannedChange[], c: ChalkInstance): Generator<string, void, undefined> {
  const rowAt = (i: number): string[] => {
    const change = changes[i]!;
    return [
      change.settingId.toString(),
      change.counter,
      c.red(change.from === null ? 'NULL' : change.from.toString()),
      c.green(change.to.toString()),
      c.yellow(formatDelta(counterDelta({ cached: change.from, expected: change.to }))),
    ];
  };
  return tableText(['id', 'counter', 'old', 'new', 'Δ'].map((title) => c.bold(title)), ['right', 'left', 'right', 'right', 'right'], changes.length, rowAt);
}

/**
 * Beside the plan (the dry run's last line, the prompt): the drifted settings it leaves out, whose
 * count their column cannot hold (drift.ts pastColumn), which repair leaves named (exit 4); null
 * for none.
 */
export function unfitLine(drifted: readonly { id: bigint; unfit?: string[] }[], tense: 'will' | 'would'): string | null {
  const unfit = drifted.filter((setting) => setting.unfit !== undefined);
  if (unfit.length === 0) return null;
  const ids = unfit.slice(0, 5).map((setting) => String(setting.id)).join(', ');
  return (
    `${plural(unfit.length, 'more drifted setting')} (${ids}${unfit.length > 5 ? ', …' : ''}) ${tense} be left: ` +
    `a count past what its column holds (the warning above); repair exits 4 until the column is widened.`
  );
}

/** The last line of a dry run; `stops`: repair would refuse before its scan (auditTableLine says why), so the plan is what it would do once that is fixed. */
export function dryRunLine(plan: PlanTotals, stops = false): string {
  if (plan.settings === 0) return 'dry run: nothing to change; nothing written.';
  return (
    `dry run: ${stops ? 'repair would stop before its scan (above); with that fixed it ' : ''}would change ${plural(plan.settings, 'setting')} (${plural(plan.counters, 'counter')}) ` +
    `in about ${plural(plan.transactions, 'transaction')}; nothing written.`
  );
}

/** Where repair records its writes, said before it writes (the prompt, the dry run). */
export function auditTableLine(target: { database: string; auditTable: string; auditTableExists: boolean; auditProblem?: string | null }, tense: 'will' | 'would'): string {
  const table = `${target.database}.${target.auditTable}`;
  // A plan must not promise what the repair would refuse before its scan (run.ts assertRepairPossible).
  if (target.auditProblem != null) return `Repair ${tense === 'would' ? 'would stop' : 'stops'} before its scan: ${target.auditProblem}.`;
  return target.auditTableExists
    ? `Repair ${tense} record each write in ${table} (it exists).`
    : `Repair ${tense} create the table ${table} (from sql/audit-table.sql; CREATE privilege needed) and record each write there.`;
}

/** `audit`: where the writes are recorded, said after the summary (left out by --quiet: one line, and what needs a human). */
export function repairSummaryLines(result: RepairResult, c: ChalkInstance, audit?: { table: string; created: boolean }, drifted?: number): string[] {
  const lines = [
    `Repaired ${plural(result.repaired, 'setting')} (${plural(result.changes.length, 'counter')}) in ${plural(result.transactions, 'transaction')}; ` +
      `skipped ${result.skipped.length} (already right when locked), ${result.vanished.length} deleted meanwhile, ` +
      `failed ${result.failed.length}. Run id ${result.runId}.`,
  ];
  // What a rerun does not change (a column too narrow, a trigger keeping or refusing a write) is said setting by setting.
  const lasting = (f: RepairResult['failed'][number]): boolean => f.unfit === true || f.kept === true || f.refused === true;
  const locked = result.failed.filter((f) => !lasting(f));
  if (locked.length > 0) {
    lines.push(
      c.red(
        // The reason is the lock's as a rule; a table that stayed locked (repair.ts) says so.
        `Not repaired, ${locked.every((f) => f.reason === TABLE_LOCK_REASON) ? 'a table stayed locked (an ALTER TABLE or LOCK TABLES queued on it?)' : 'still locked by another session'}: ` +
          `${ended(firstFew(locked.map((f) => f.settingId).sort(compareIds)))} A rerun finishes ${locked.length === 1 ? 'it' : 'them'}.`,
      ),
    );
  }
  const lastingFailures = result.failed.filter(lasting);
  if (lastingFailures.length > 0) {
    // Each says why (repair.ts unfitReason, takenWrites, refusalReason); settings of one reason
    // together (a trigger refusing every decrease says the same of each).
    const byReason = new Map<string, bigint[]>();
    for (const f of lastingFailures) byReason.set(f.reason, [...(byReason.get(f.reason) ?? []), f.settingId]);
    const groups = [...byReason].map(([reason, ids]) => [reason, [...ids].sort(compareIds)] as const).sort(([, a], [, b]) => compareIds(a[0]!, b[0]!));
    // In id order, as the JSON lists them: writers on several connections fail them in any order.
    const shown = groups.slice(0, 5).map(([reason, ids]) => `${firstFew(ids)}: ${reason}`);
    const more = groups.slice(5).reduce((total, [, ids]) => total + ids.length, 0);
    lines.push(c.red(`Not repaired: ${shown.join('; ')}${more > 0 ? `; and ${plural(more, 'more setting')}` : ''}.`));
  }
  if (audit !== undefined && result.repaired > 0) {
    lines.push(`Every write is recorded in ${audit.table}${audit.created ? ' (created by this run)' : ''}, under run id ${result.runId}.`);
  }
  if (result.uncertain.length > 0) {
    lines.push(
      c.red(
        `The connection went before COMMIT was answered for ${firstFew(result.uncertain)}: committed or not, ` +
          `${audit?.table ?? 'the audit table'} says (rows with run id ${result.runId}); a rerun repairs whatever is still off.`,
      ),
    );
  }
  if (result.stillDrifted.length > 0) {
    lines.push(
      c.red(
        `Still drifted when reread after the repair (one snapshot): ${ended(firstFew(result.stillDrifted))} ` +
          'Something changed them outside a consistent transaction, or, on a multi-primary cluster, through another node ' +
          'while they were repaired (README "Clusters"); a rerun looks again, on a cluster through the node the application writes to.',
      ),
    );
  }
  const left = drifted === undefined ? 0 : notReached(result, drifted);
  if (result.interrupted || left > 0) {
    lines.push(c.yellow(`${result.interrupted ? 'Interrupted' : 'Stopped'}: ${left > 0 ? `${plural(left, 'drifted setting')} not reached, left as they were` : 'the rest was left as it was'}; a rerun finishes ${left === 1 ? 'it' : 'them'}.`));
  }
  return lines;
}

/** A list as the end of a sentence: its full stop, unless it already ends in an ellipsis. */
function ended(list: string): string {
  return list.endsWith('…') ? list : `${list}.`;
}
