import { EXIT } from '../../errors.js';
import { recordNamedTarget } from '../connect.js';
import { loadTerminal, type Io } from '../terminal.js';
import { publishOutcome } from './publish.js';
import { newRunOutcome } from './run-outcome.js';

/** The commands that take --metrics-file (common-options.ts addCommonOptions). */
const WITH_METRICS = new Set(['check', 'repair']);

/**
 * A flag commander refused (a typo in a crontab: `--max-changes abc`, `--bogus`) ends the run
 * before any action, so no runner writes the metrics file: its last run would stay the one before,
 * and CouponAuditRunFailed would never fire for a broken cron line. The --metrics-file and --url
 * the command line names are read here, as given, and the failure written as a runner writes it.
 */
export async function publishRefusedFlags(argv: readonly string[], io: Io, message: string): Promise<void> {
  const command = argv.find((arg) => !arg.startsWith('-'));
  if (command === undefined || !WITH_METRICS.has(command)) return;
  const metricsFile = valueOf(argv, '--metrics-file');
  if (metricsFile === undefined) return;
  const outcome = newRunOutcome(command);
  outcome.dryRun = command === 'repair' && (argv.includes('--dry-run') || valueOf(argv, '--emit-sql') !== undefined);
  recordNamedTarget(outcome, { url: valueOf(argv, '--url') }, io.env);
  const terminal = await loadTerminal(io, { quiet: true });
  await publishOutcome(terminal, { metricsFile }, outcome, { exitCode: EXIT.USAGE, error: message, startedAt: Date.now() });
}

/** `--flag VALUE` or `--flag=VALUE`; not a value that is itself a flag (`--metrics-file --quiet` is a missing argument). */
function valueOf(argv: readonly string[], flag: string): string | undefined {
  for (let i = argv.length - 1; i >= 0; i -= 1) {
    const arg = argv[i]!;
    if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
    if (arg === flag) {
      const next = argv[i + 1];
      return next === undefined || next.startsWith('-') ? undefined : next;
    }
  }
  return undefined;
}
