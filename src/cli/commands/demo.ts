import type { Command } from 'commander';
import type { CommonOptions } from '../common-options.js';
import { DEMO_HELP } from '../help.js';
import { lazyAction, type Runner } from '../runner.js';

/** Runs the CLI on argv with the same terminal; resolves to its exit code. */
export type RunCli = (argv: readonly string[]) => Promise<number>;

export interface DemoOptions extends CommonOptions {
  serverBinary?: string;
}

export function demoCommand(program: Command, run: Runner, cli: RunCli): void {
  program
    .command('demo')
    .description('try it with no set-up: a throwaway server, a data set with every kind of drift, check → repair → check')
    .option('--server-binary <path>', 'the mariadbd or mysqld to start (default: the first found on the PATH or in sbin)')
    .option('-v, --verbose', 'the full error on failure')
    .addHelpText('after', DEMO_HELP)
    .action(run('demo', lazyAction<DemoOptions>(async () => (await import('../actions/demo.js')).demoAction(cli))));
}
