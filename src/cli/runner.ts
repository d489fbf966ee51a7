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

/**
 * An action loaded when its command runs: the modules behind it (reports, prompts, the database
 * driver) stay out of start-up, so --help, --version and usage errors read only the option parsers.
 */
export function lazyAction<O extends CommonOptions>(load: () => Promise<CommandAction<O>>): CommandAction<O> {
  return async (terminal, options, outcome) => (await load())(terminal, options, outcome);
}
