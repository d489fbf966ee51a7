import type { ExitCode } from '../errors.js';
import type { CommonOptions } from './common-options.js';
import type { RunOutcome } from './reporting/run-outcome.js';
import type { Terminal } from './terminal.js';

/**
 * What a command does once its options are parsed; it fills in `outcome` as it learns things, and
 * the CLI wraps it with terminal set-up, the metrics file, the webhook and exit codes.
 */
export type CommandAction<O extends CommonOptions = CommonOptions> = (
  terminal: Terminal,
  options: O,
  outcome: RunOutcome,
) => Promise<ExitCode>;

export type Runner = <O extends CommonOptions>(command: string, action: CommandAction<O>) => (options: O) => Promise<void>;
