import { Command, CommanderError } from 'commander';
import { CouponAuditError, EXIT, exitCodeOf, InternalError, OutputError, UsageError } from '../errors.js';
import { checkCommand } from './commands/check.js';
import { demoCommand } from './commands/demo.js';
import { doctorCommand } from './commands/doctor.js';
import { repairCommand } from './commands/repair.js';
import { sqlCommand } from './commands/sql.js';
import type { CommonOptions } from './common-options.js';
import { newRunOutcome } from './reporting/run-outcome.js';
import type { Runner } from './runner.js';
import { colorLevel, type Io, loadTerminal, type OutputStream, processIo } from './terminal.js';
import { VERSION } from '../core/version.js';
import { PROGRAM_HELP } from './help.js';
import { webhookUrl } from './options.js';
import { urlHost } from '../build/mask-argv.cjs';

/** Runs the CLI; resolves to the exit code. Never throws: every error is mapped here, in one place. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  let exitCode: number = EXIT.OK;
  let verbose = argv.includes('--verbose') || argv.includes('-v');

  const program = new Command('coupon-audit')
    .description('Audit and repair the cached issuedCount/usedCount counters of coupon settings (MySQL/MariaDB).')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .addHelpText('after', PROGRAM_HELP)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(`coupon-audit: ${withHelpHint(maskArguments(text.replace(/^error: /, '')))}`),
    });

  const output = watchOutput(io.stdout);
  const run: Runner = (command, action) => async (parsed) => {
    verbose = parsed.verbose === true;
    const terminal = await loadTerminal(io, parsed);
    const outcome = newRunOutcome(command);
    const startedAt = Date.now();
    // The metrics file and the webhook: loaded with the action, after the options are parsed.
    const { publishOutcome } = await import('./reporting/publish.js');
    // A bad COUPON_AUDIT_NOTIFY_URL fails inside the try: the metrics file records it as it records
    // a bad flag (and nothing is posted to it).
    let options = parsed;
    try {
      options = withEnvDefaults(command, parsed, io.env);
      exitCode = await action(terminal, options, outcome);
      // A report cut by a full disk: the run's 0 or 1 would vouch for a file that is not whole.
      if (exitCode === EXIT.OK || exitCode === EXIT.DRIFT) {
        // What a repair wrote stays written: say so, as its summary went where the rest did.
        const repaired = outcome.repaired ?? 0;
        output.throwIfLost(repaired > 0 ? ` The repair itself committed: ${repaired} setting${repaired === 1 ? '' : 's'} repaired (the audit table has them).` : '');
      }
    } catch (error) {
      const failure = describeFailure(error);
      (await import('./connect.js')).recordNamedTarget(outcome, options, io.env);
      await publishOutcome(terminal, options, outcome, { exitCode: failure.exitCode, error: failure.message, startedAt });
      throw error;
    }
    await publishOutcome(terminal, options, outcome, { exitCode, error: null, startedAt });
  };
  checkCommand(program, run);
  repairCommand(program, run);
  sqlCommand(program, io);
  doctorCommand(program, run);
  // The demo's own commands talk to its throwaway server alone: not with the operator's password
  // (MYSQL_PWD would be sent to its root, which has none) nor to their webhook.
  demoCommand(program, run, (args) => main(args, { ...io, env: withoutOperatorEnv(io.env) }));

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    exitCode = await reportError(error, io, verbose);
    // A refused flag: no runner ran, so the metrics file would keep the run before's success.
    // Only then is more than main.cjs loaded: a usage error is as fast as --help.
    if (error instanceof CommanderError && exitCode === EXIT.USAGE && argv.some((arg) => arg === '--metrics-file' || arg.startsWith('--metrics-file='))) {
      const { publishRefusedFlags } = await import('./reporting/refused-flags.js');
      await publishRefusedFlags(argv, io, maskArguments(error.message.replace(/^error: /, '')));
    }
  }
  try {
    // What no runner looked at (sql, --help, --version): the same rule.
    if (exitCode === EXIT.OK || exitCode === EXIT.DRIFT) output.throwIfLost();
  } catch (error) {
    exitCode = await reportError(error, io, verbose);
  } finally {
    output.dispose();
  }
  return exitCode;
}

/**
 * Commander echoes a refused value ("option '--notify-url <url>' argument '…' is invalid"): the
 * value of a URL option may hold a password, and a webhook's path is its secret (Slack's). Such a
 * value is shown with its scheme and host only (a quote inside it included: the message is read
 * up to its last "' is invalid").
 */
export function maskArguments(text: string): string {
  const refused = text.replace(/^(option '(--[a-z-]+)[^']*' argument ')(.*)(' is invalid)/s, (whole, head: string, flag: string, value: string, tail: string) =>
    URL_OPTIONS.has(flag) ? `${head}${urlHost(value)}${tail}` : whole,
  );
  // An unknown option holding a URL ('--replica_url=mysql://u:p@h/db'): its value the same way.
  return refused.replace(/^(unknown option '[^=']*=)(.*)(')/s, (whole, head: string, value: string, tail: string) => (value.includes('://') ? `${head}${urlHost(value)}${tail}` : whole));
}

const URL_OPTIONS = new Set(['--url', '--replica-url', '--notify-url']);

/** An unknown option or command: where the known ones are listed (commander's suggestion, when it has one, stays). */
function withHelpHint(text: string): string {
  if (!/^unknown (option|command)/.test(text) || text.includes('Did you mean')) return text;
  return text.replace(/\n?$/, ' (--help lists them)\n');
}

/**
 * Notes a write to stdout that failed (ENOSPC on a full disk, EIO): `throwIfLost` then throws an
 * OutputError (exit 74). A reader that went away (EPIPE: `coupon-audit sql | head`; ECONNRESET
 * on a socket) is not a failure of the run (bin/coupon-audit). Node's process.stdout sets `errored` at the failed write
 * and emits 'error' a tick later, then clears `errored`: both are looked at.
 */
function watchOutput(stream: OutputStream): { throwIfLost(more?: string): void; dispose(): void } {
  let lost: unknown = null;
  const note = (error?: unknown): void => {
    lost ??= error ?? null;
  };
  stream.on?.('error', note);
  return {
    throwIfLost(more = '') {
      const error = lost ?? stream.errored ?? null;
      if (error === null || error === undefined) return;
      const code = (error as NodeJS.ErrnoException).code;
      // The reader went away: a pipe's (EPIPE) or a socket's (ECONNRESET).
      if (code === 'EPIPE' || code === 'ECONNRESET' || code === 'ERR_STREAM_DESTROYED') return;
      const what = error instanceof Error ? error.message : String(error);
      throw new OutputError(`could not write to stdout (${what}): the output is cut short.${more}`, { cause: error });
    },
    dispose() {
      stream.removeListener?.('error', note);
    },
  };
}

async function reportError(error: unknown, io: Io, verbose: boolean): Promise<number> {
  if (error instanceof CommanderError) {
    // Commander already printed its message (or the help); help and --version exit 0, the rest are usage errors.
    return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  }
  const { Chalk } = await import('chalk'); // not at start-up (terminal.ts loadTerminal)
  const c = new Chalk({ level: colorLevel(io.stderr, io.env) });
  const exitCode = exitCodeOf(error);
  if (error instanceof CouponAuditError && !(error instanceof InternalError)) {
    if (exitCode === EXIT.SIGINT || exitCode === EXIT.SIGTERM) {
      io.stderr.write(`${c.yellow('coupon-audit:')} ${error.message}\n`);
    } else {
      io.stderr.write(`${c.red('coupon-audit:')} ${error.message}\n`);
    }
    if (verbose && error.cause !== undefined) io.stderr.write(`${describeCause(error.cause)}\n`);
    return exitCode;
  }
  io.stderr.write(
    `${c.red('coupon-audit: internal error:')} ${error instanceof Error ? error.message : String(error)}. ` +
      'This is a bug; rerun with --verbose and report it.\n',
  );
  if (verbose && error instanceof Error && error.stack !== undefined) io.stderr.write(`${error.stack}\n`);
  return exitCode;
}

function describeFailure(error: unknown): { exitCode: number; message: string } {
  if (error instanceof CommanderError) return { exitCode: EXIT.USAGE, message: error.message };
  const message = error instanceof CouponAuditError && !(error instanceof InternalError) ? error.message : `internal error: ${error instanceof Error ? error.message : String(error)}`;
  return { exitCode: exitCodeOf(error), message };
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const fields = cause as Error & { code?: string; errno?: number; sqlState?: string };
    const head = [fields.code, fields.errno, fields.sqlState].filter((part) => part !== undefined).join(' ');
    return `cause: ${head ? `[${head}] ` : ''}${cause.stack ?? cause.message}`;
  }
  return `cause: ${String(cause)}`;
}

export type { CommonOptions };

/**
 * Options a command takes from the environment when not given as flags: --notify-url from
 * COUPON_AUDIT_NOTIFY_URL (check and repair), so that a crontab's command line, which every local
 * user reads in `ps` for as long as the job runs, need not hold the webhook's secret path.
 */
function withEnvDefaults<O extends CommonOptions>(command: string, options: O, env: NodeJS.ProcessEnv): O {
  const fromEnv = env['COUPON_AUDIT_NOTIFY_URL'];
  if ((command !== 'check' && command !== 'repair') || options.notifyUrl !== undefined || fromEnv === undefined || fromEnv === '') return options;
  try {
    return { ...options, notifyUrl: webhookUrl(fromEnv) };
  } catch (error) {
    throw new UsageError(`COUPON_AUDIT_NOTIFY_URL: ${(error as Error).message}`);
  }
}

/** The environment without what points a run at the operator's own database or webhook. */
function withoutOperatorEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { MYSQL_PWD: _password, DATABASE_URL: _url, COUPON_AUDIT_NOTIFY_URL: _webhook, ...rest } = env;
  return rest;
}
