import { type Command, Option } from 'commander';
import { type Diagnosis, diagnose, gatherFacts } from '../../core/diagnose.js';
import { describeTarget } from '../../db/connection-config.js';
import { DatabaseError, EXIT, type ExitCode } from '../../errors.js';
import type { CommonOptions } from '../common-options.js';
import { connect, connectionConfig } from '../connect.js';
import { diagnosisJson, renderDiagnosis } from '../doctor-report.js';
import { tableName } from '../options.js';
import type { RunOutcome } from '../reporting/run-outcome.js';
import type { Runner } from '../runner.js';
import type { Terminal } from '../terminal.js';

interface DoctorOptions extends CommonOptions {
  auditTable: string;
}

export function doctorCommand(program: Command, run: Runner): void {
  program
    .command('doctor')
    .description('check a database for what check and repair need: schema, settingId indexes, privileges, binlog_format')
    .option('--url <url>', 'mysql://user:password@host:3306/db (default: $DATABASE_URL)')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('--audit-table <name>', 'the audit table repair would write', tableName, 'coupon_audit_log')
    .option('--ssl-ca <file>', 'verify the server certificate against this CA file (turns TLS on)')
    .option('--password [password]', 'database password; with no value, prompt for it (or set MYSQL_PWD)')
    .option('-v, --verbose', 'the full error on failure')
    .action(run('doctor', runDoctor));
}

async function runDoctor(terminal: Terminal, options: DoctorOptions, outcome: RunOutcome): Promise<ExitCode> {
  const config = await connectionConfig(options, terminal);
  let diagnosis: Diagnosis;
  try {
    const db = await connect({ ...options, concurrency: 1 }, terminal, { tables: { audit: options.auditTable }, poolSize: 1 }, outcome);
    try {
      diagnosis = diagnose(await gatherFacts(db, describeTarget(config)));
    } finally {
      await db.close();
    }
  } catch (error) {
    if (!(error instanceof DatabaseError)) throw error;
    diagnosis = { healthy: false, checks: [{ name: 'connection', status: 'fail', detail: error.message }] };
    if (error.cause instanceof Error) terminal.debug(`cause: ${error.cause.stack ?? error.cause.message}`);
  }
  const { stdout } = terminal.io;
  if (options.format === 'json') stdout.write(`${JSON.stringify(diagnosisJson(diagnosis), null, 2)}\n`);
  else stdout.write(`${renderDiagnosis(diagnosis, terminal.out)}\n`);
  return diagnosis.healthy ? EXIT.OK : EXIT.DATABASE;
}
