import { type Command, Option } from 'commander';
import { PAGE_SIZE_RANGE } from '../../core/limits.js';
import type { CommonOptions } from '../common-options.js';
import { addScopeOptions, resolvePageSize, resolveScope } from '../common-options.js';
import { SQL_HELP } from '../help.js';
import { settingIds, wholeNumberIn } from '../options.js';
import type { Io } from '../terminal.js';

export function sqlCommand(program: Command, io: Io): void {
  addScopeOptions(program.command('sql'))
    .description('print the drift-detection SQL for the current model and options, for a DBA to read or run by hand')
    .option('--url <url>', 'accepted for symmetry with check; sql connects to nothing')
    // SPEC.md's common options, as check takes them: --ids and the page size shape the statements.
    .addOption(new Option('--format <format>', 'table: the SQL as text with comments; json: one document { version, statements: [{ purpose, sql }] }').choices(['table', 'json']).default('table'))
    .option('--ids <ids>', 'the statements for only these setting ids, comma-separated (repeatable)', settingIds)
    .option('--page-size <n>', `the page shown is the first, ids up to N, ${PAGE_SIZE_RANGE.min}-${PAGE_SIZE_RANGE.max} (default: 1000)`, wholeNumberIn(PAGE_SIZE_RANGE))
    .option('--batch-size <n>', `the same as --page-size (as check takes it), ${PAGE_SIZE_RANGE.min}-${PAGE_SIZE_RANGE.max}`, wholeNumberIn(PAGE_SIZE_RANGE))
    .addHelpText('after', SQL_HELP)
    .action(async (options: CommonOptions & { batchSize?: number }) => {
      const pageSize = resolvePageSize(options);
      const { explainJson, explainSql } = await import('../../db/explain.js');
      // The statements go to stdout; where their model came from, to stderr.
      const scope = await resolveScope(options, { info: (line) => io.stderr.write(`${line}\n`) });
      const shape = { ids: options.ids, pageSize };
      io.stdout.write(options.format === 'json' ? `${JSON.stringify(explainJson(scope, shape), null, 2)}\n` : explainSql(scope, shape));
    });
}
