/**
 * The end of each command's --help (commander addHelpText('after', …)), as `gh` does it: what the
 * output's symbols mean, two or three examples, and the exit codes.
 */

type ExitCodes = readonly (readonly [code: string, meaning: string])[];

function epilog(sections: { notes?: readonly string[]; examples: readonly (readonly [command: string, what: string])[]; exitCodes: ExitCodes }): string {
  const lines: string[] = [''];
  for (const note of sections.notes ?? []) lines.push(...wrap(note, 80), '');
  lines.push('Examples:');
  for (const [command, what] of sections.examples) lines.push(`  # ${what}`, `  $ ${command}`);
  lines.push('', 'Exit codes:');
  const width = Math.max(...sections.exitCodes.map(([code]) => code.length));
  for (const [code, meaning] of sections.exitCodes) lines.push(`  ${code.padEnd(width)}  ${meaning}`);
  return `${lines.join('\n')}\n`;
}

/** Words into lines of at most `width` characters (commander wraps its options to the terminal, not our text). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

const USAGE: readonly [string, string] = ['2', 'bad flag or value, no URL, invalid config (nothing written)'];
/** sql connects to nothing (no URL needed); demo takes neither a URL nor a config. */
const SQL_USAGE: readonly [string, string] = ['2', 'bad flag or value, invalid config'];
const DEMO_USAGE: readonly [string, string] = ['2', 'bad flag or value'];
const DATABASE: readonly [string, string] = [
  '3',
  'database error: cannot connect, authentication, missing table/column/privilege, connection lost, a table lock not had within --metadata-lock-wait, ' +
    "a --replica-url that is stopped, behind past --max-lag-wait or not --url's replica, --critical-load",
];
const INTERNAL: readonly [string, string] = ['70', 'internal error (a bug), never 1'];
const OUTPUT: readonly [string, string] = ['74', 'could not write to stdout (a full disk): the output is cut short'];
const SIGNAL: readonly [string, string] = ['130', 'interrupted by Ctrl-C (143: SIGTERM)'];

const DELTA_NOTE =
  'Tables: Δ = cached − actual (repair: old − new): + the cache is too high, − too low, NULL: no value cached. ' +
  'The summary counts the drift by kind (too high, too low, NULL, negative, DELETED with non-zero counts, ' +
  'children with no setting, children with a NULL setting id); README "Kinds of drift" says which application bug leaves each.';

export const CHECK_HELP = epilog({
  notes: [DELTA_NOTE],
  examples: [
    ['coupon-audit check --url mysql://ops@db1:3306/coupons', 'the drift, read-only, as a table (colour on a terminal)'],
    ['coupon-audit check --sort delta --limit 20', 'the 20 worst settings first ($DATABASE_URL); the summary counts them all'],
    ['coupon-audit check --quiet --format json > drift.json', 'for cron or CI: one JSON document, exit 1 on drift'],
  ],
  exitCodes: [['0', 'no drift'], ['1', 'drift found'], USAGE, DATABASE, ['5', 'another check of every setting of the database is running (see --wait-lock)'], INTERNAL, OUTPUT, SIGNAL],
});

export const REPAIR_HELP = epilog({
  notes: [
    DELTA_NOTE,
    'Modes: --dry-run prints the plan and writes nothing; --emit-sql FILE writes the plan as guarded UPDATEs for a DBA ' +
      '(no run lock, nothing applied); on a terminal repair shows the plan and asks; --yes applies without asking.',
  ],
  examples: [
    ['coupon-audit repair --dry-run --url mysql://ops@db1:3306/coupons', 'the plan, old → new per counter; nothing written (exit 1 when there is drift)'],
    ['coupon-audit repair --emit-sql change-1234.sql', 'change-control SQL to review and run by hand in a change window'],
    ['coupon-audit repair --yes --quiet --max-changes 500', 'cron: repair without asking, never more than 500 settings at once'],
  ],
  exitCodes: [
    ['0', 'every drifted setting repaired (or none found); --dry-run/--emit-sql: no drift'],
    ['1', '--dry-run/--emit-sql: drift found (the plan is printed or written); the prompt was declined'],
    ['2', 'bad flag or value, no URL, invalid config; no --yes off a terminal; more drift than --max-changes (nothing written)'],
    DATABASE,
    ['4', 'partial: some settings still locked or still drifted (named; a rerun finishes them), or a count past what its column holds (widen it)'],
    ['5', 'another repair holds the run lock (see --wait-lock)'],
    INTERNAL,
    OUTPUT,
    ['130', 'interrupted (143: SIGTERM): the transaction in flight ends whole, the summary is printed'],
  ],
});

export const SQL_HELP = epilog({
  examples: [
    ['coupon-audit sql', 'the detection SQL for the built-in model, the orphan counts included'],
    ['coupon-audit sql --config coupon-audit.json --columns usedCount --deleted skip', 'the statements for this scope'],
    ['coupon-audit sql --ids 42 --format json', 'the statements for setting 42, as JSON'],
  ],
  exitCodes: [['0', 'printed'], SQL_USAGE, INTERNAL, OUTPUT, SIGNAL],
});

export const DOCTOR_HELP = epilog({
  examples: [
    ['coupon-audit doctor --url mysql://ops@db1:3306/coupons', 'can check and repair run here? each line ok, WARN or FAIL, with its fix'],
    ['coupon-audit doctor --config coupon-audit.json --format json', 'the same for a configured model, as JSON'],
    ['coupon-audit doctor --url mysql://ops@db1/coupons --replica-url mysql://ops@db2/coupons', 'and can check --replica-url read db2?'],
    ['coupon-audit doctor --for check --url mysql://coupon_check@db1/coupons', "a read-only cron check's account: repair's needs are info"],
  ],
  exitCodes: [['0', 'check and repair can run (warnings are printed; --for check: check can)'], USAGE, ['3', 'something stops check or repair (--for check: check)'], INTERNAL, OUTPUT, SIGNAL],
});

export const DEMO_HELP = epilog({
  examples: [
    ['coupon-audit demo', 'check → repair --dry-run → repair --yes → check on a throwaway server'],
    ['coupon-audit demo --server-binary /usr/sbin/mysqld', 'the same with a MySQL 8 server binary'],
  ],
  exitCodes: [['0', 'it ran through'], DEMO_USAGE, ['3', 'no server binary to start, or it failed to start'], INTERNAL, OUTPUT, SIGNAL],
});

export const PROGRAM_HELP = epilog({
  examples: [
    ['coupon-audit demo', 'try it with no set-up'],
    ['coupon-audit check --url mysql://ops@db1:3306/coupons', 'the drift, read-only'],
    ['coupon-audit repair --dry-run --url mysql://ops@db1:3306/coupons', 'what repair would write'],
  ],
  exitCodes: [
    ['0', 'all is well'],
    ['1', 'drift found (check, repair --dry-run, repair --emit-sql); the repair prompt was declined'],
    USAGE,
    DATABASE,
    ['4', 'partial repair'],
    ['5', 'another repair holds the run lock; check: another check of every setting is running'],
    INTERNAL,
    OUTPUT,
    SIGNAL,
  ],
});
