import type { Command } from 'commander';
import { BATCH_SIZE_RANGE, DEFAULT_LOCK_WAIT_TIMEOUT, DEFAULT_WRITE_CONCURRENCY, LOCK_WAIT_TIMEOUT_RANGE, MAX_CHANGES_RANGE, TARGET_TRANSACTION_MS, WRITE_CONCURRENCY_RANGE } from '../../core/limits.js';
import { addCommonOptions, type CommonOptions, waitLockOption } from '../common-options.js';
import { REPAIR_HELP } from '../help.js';
import { outputFile, tableName, wholeNumberIn } from '../options.js';
import { lazyAction, type Runner } from '../runner.js';

export interface RepairOptions extends CommonOptions {
  dryRun?: boolean;
  emitSql?: string;
  yes?: boolean;
  maxChanges?: number;
  batchSize?: number;
  writeConcurrency: number;
  lockWaitTimeout: number;
}

export function repairCommand(program: Command, run: Runner): void {
  addCommonOptions(
    program
      .command('repair')
      .description('recount drifted settings in short transactions, safe on a live database')
      .option('--dry-run', 'show exactly what would be written (old → new per counter), and write nothing; exit 1 when there is drift')
      .option(
        '--emit-sql <file>',
        'write one guarded UPDATE per drifted setting to FILE for a DBA to review and run, instead of repairing; like --dry-run: no lock, no writes, exit 1 when there is drift',
        outputFile,
      )
      .option('-y, --yes', 'apply without asking (required when not on a terminal)')
      .option(
        '--batch-size <n>',
        `settings per repair transaction, ${BATCH_SIZE_RANGE.min}-${BATCH_SIZE_RANGE.max} (default: sized toward ${TARGET_TRANSACTION_MS} ms transactions)`,
        wholeNumberIn(BATCH_SIZE_RANGE),
      )
      .option(
        '--write-concurrency <n>',
        `repair transactions at once, ${WRITE_CONCURRENCY_RANGE.min}-${WRITE_CONCURRENCY_RANGE.max}, each on its own connection; they lock disjoint settings, so they never wait on each other for one (on a cluster their commits queue on the run lock's lease row)`,
        wholeNumberIn(WRITE_CONCURRENCY_RANGE),
        DEFAULT_WRITE_CONCURRENCY,
      )
      .option('--max-changes <n>', `refuse to write anything when more than N settings drift, ${MAX_CHANGES_RANGE.min}-${MAX_CHANGES_RANGE.max}`, wholeNumberIn(MAX_CHANGES_RANGE))
      .option('--audit-table <name>', 'table recording every write, in the --url database (created when missing; default: coupon_audit_log or the config\'s)', tableName)
      .option('--lock-wait-timeout <seconds>', `how long a repair transaction waits for a row or table lock (innodb_lock_wait_timeout, lock_wait_timeout), ${LOCK_WAIT_TIMEOUT_RANGE.min}-${LOCK_WAIT_TIMEOUT_RANGE.max}`, wholeNumberIn(LOCK_WAIT_TIMEOUT_RANGE), DEFAULT_LOCK_WAIT_TIMEOUT)
      .addOption(waitLockOption('another repair')),
  )
    .addHelpText('after', REPAIR_HELP)
    .action(run('repair', lazyAction(async () => (await import('../actions/repair.js')).runRepair)));
}
