/** doctor's action, loaded when doctor runs (commands/doctor.ts declares its options). */
import type { Diagnosis } from '../../core/diagnose.js';
import { describeTarget, resolveReplicaConfig } from '../../db/connection-config.js';
import { DatabaseError, EXIT, type ExitCode } from '../../errors.js';
import { type CommonOptions, resolveScope } from '../common-options.js';
import { connectionConfig, recordTarget } from '../connect.js';
import { diagnosisJson, renderDiagnosis } from '../doctor-report.js';
import type { RunOutcome } from '../reporting/run-outcome.js';
import type { Terminal } from '../terminal.js';

export async function runDoctor(terminal: Terminal, options: CommonOptions & { for: 'check' | 'repair' }, outcome: RunOutcome): Promise<ExitCode> {
  const scope = await resolveScope(options, terminal);
  const config = await connectionConfig(options, terminal);
  recordTarget(outcome, config);
  const replica = options.replicaUrl === undefined ? undefined : resolveReplicaConfig(options.replicaUrl, config, { sslCa: options.sslCa });
  let diagnosis: Diagnosis;
  const spinner = terminal.spinner(`Connecting to ${describeTarget(config)}`).start();
  /** The line a DatabaseError fails: connecting, or reading the database once connected (a lock wait, a lost connection). */
  let step = 'connection';
  try {
    const [{ Database }, { diagnose, diagnosisOf, forCheckOnly, gatherFacts, replicaChecks }] = await Promise.all([import('../../db/database.js'), import('../../core/diagnose.js')]);
    const db = await Database.connect(config, { poolSize: 1 });
    step = 'database';
    try {
      diagnosis = diagnose(await gatherFacts(db, scope, describeTarget(config), { metadataLockWaitSeconds: options.metadataLockWait }));
      if (replica !== undefined) {
        spinner.text = `Checking the replica ${replica.host}:${replica.port}`;
        diagnosis = diagnosisOf([...diagnosis.checks, ...(await replicaChecks(db, replica, scope, { metadataLockWaitSeconds: options.metadataLockWait }))]);
      }
      if (options.for === 'check') diagnosis = forCheckOnly(diagnosis);
    } finally {
      await db.close();
    }
  } catch (error) {
    if (!(error instanceof DatabaseError)) throw error;
    diagnosis = { healthy: false, checks: [{ name: step, status: 'fail', detail: error.message }] };
    if (error.cause instanceof Error) terminal.debug(`cause: ${error.cause.stack ?? error.cause.message}`);
  } finally {
    spinner.stop();
  }
  const { stdout } = terminal.io;
  if (options.format === 'json') stdout.write(`${JSON.stringify(diagnosisJson(diagnosis), null, 2)}\n`);
  else stdout.write(`${renderDiagnosis(diagnosis, terminal.out)}\n`);
  // Warnings alone (a missing index, an unsure CREATE grant) do not stop check or repair: exit 0.
  return diagnosis.checks.some((check) => check.status === 'fail') ? EXIT.DATABASE : EXIT.OK;
}
