import type { Command } from 'commander';
import { addCommonOptions, waitLockOption } from '../common-options.js';
import { CHECK_HELP } from '../help.js';
import { lazyAction, type Runner } from '../runner.js';

export function checkCommand(program: Command, run: Runner): void {
  addCommonOptions(
    program.command('check').description('find settings whose cached counters differ from the real counts; writes nothing'),
  )
    .addOption(waitLockOption('another check of every setting (one with --ids takes no lock)'))
    .addHelpText('after', CHECK_HELP)
    .action(run('check', lazyAction(async () => (await import('../actions/check.js')).runCheck)));
}
