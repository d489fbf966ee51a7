import type { ExitCode } from '../errors.js';
import type { CommonOptions } from './common-options.js';
import type { Terminal } from './terminal.js';

/** What a command does once its options are parsed; the CLI wraps it with terminal set-up and exit codes. */
export type CommandAction<O extends CommonOptions = CommonOptions> = (terminal: Terminal, options: O) => Promise<ExitCode>;

export type Runner = <O extends CommonOptions>(action: CommandAction<O>) => (options: O) => Promise<void>;
