import type { Command } from 'commander';
import { PAGE_SIZE_RANGE } from '../../core/limits.js';
import { addCommonOptions, waitLockOption } from '../common-options.js';
import { wholeNumberIn } from '../options.js';
import { CHECK_HELP } from '../help.js';
import { lazyAction, type Runner } from '../runner.js';

export function checkCommand(program: Command, run: Runner): void {
  addCommonOptions(
    program.command('check').description('find settings whose cached counters differ from the real counts; writes nothing'),
  )
    .addOption(waitLockOption('another check of every setting (one with --ids takes no lock)'))
    // SPEC.md lists --batch-size among the options every command takes: for check, whose only
    // batches are its detection statements, it is --page-size under that name (a script passing the
    // same flags to check and repair keeps working; in repair it sizes the transactions).
    .option('--batch-size <n>', `the same as --page-size (for scripts that pass --batch-size to check and repair alike), ${PAGE_SIZE_RANGE.min}-${PAGE_SIZE_RANGE.max}`, wholeNumberIn(PAGE_SIZE_RANGE))
    .addHelpText('after', CHECK_HELP)
    .action(run('check', lazyAction(async () => (await import('../actions/check.js')).runCheck)));
}
