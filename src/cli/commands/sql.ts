import type { Command } from 'commander';
import type { CommonOptions } from '../common-options.js';
import { addScopeOptions, resolveScope } from '../common-options.js';
import { SQL_HELP } from '../help.js';
import type { Io } from '../terminal.js';

export function sqlCommand(program: Command, io: Io): void {
  addScopeOptions(program.command('sql'))
    .description('print the drift-detection SQL for the current model and options, for a DBA to read or run by hand')
    .option('--url <url>', 'accepted for symmetry with check; sql connects to nothing')
    .addHelpText('after', SQL_HELP)
    .action(async (options: CommonOptions) => {
      const { explainSql } = await import('../../db/explain.js');
      // The statements go to stdout; where their model came from, to stderr.
      io.stdout.write(explainSql(await resolveScope(options, { info: (line) => io.stderr.write(`${line}\n`) })));
    });
}
