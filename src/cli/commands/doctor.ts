import { type Command, Option } from 'commander';
import { addConnectionOptions, addScopeOptions, metadataLockWaitOption } from '../common-options.js';
import { DOCTOR_HELP } from '../help.js';
import { replicaUrl, tableName } from '../options.js';
import { lazyAction, type Runner } from '../runner.js';

export function doctorCommand(program: Command, run: Runner): void {
  addScopeOptions(addConnectionOptions(program.command('doctor')))
    .description('check a database for what check and repair need: schema, indexes, privileges, binlog_format')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .addOption(
      new Option('--for <command>', "what the account is for: check (repair's needs are shown as info, not failed: a read-only account passes) or repair (everything)")
        .choices(['check', 'repair'])
        .default('repair'),
    )
    .option('--audit-table <name>', 'the audit table repair would write', tableName)
    .option('--replica-url <url>', 'also check this replica of --url as check --replica-url needs it: the same schema, readable, replicating, its lag', replicaUrl)
    .addOption(metadataLockWaitOption())
    .option('-v, --verbose', 'the full error on failure')
    .addHelpText('after', DOCTOR_HELP)
    .action(run('doctor', lazyAction(async () => (await import('../actions/doctor.js')).runDoctor)));
}
