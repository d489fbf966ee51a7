import { resolveConnectionConfig } from '../../db/connection-config.js';
import { readSqlScript } from '../../db/sql-script.js';
import { DatabaseError, EXIT, type ExitCode } from '../../errors.js';
import type { ThrowawayServer } from '../../server/throwaway-server.js';
import type { DemoOptions, RunCli } from '../commands/demo.js';
import type { CommandAction } from '../runner.js';
import { Interrupts } from '../signals.js';
import type { Terminal } from '../terminal.js';

const DATABASE = 'coupon_demo';

const STEPS: { args: string[]; expect: ExitCode; says: string }[] = [
  { args: ['check'], expect: EXIT.DRIFT, says: 'drift found' },
  { args: ['repair', '--dry-run'], expect: EXIT.DRIFT, says: 'what repair would write; nothing written' },
  { args: ['repair', '--yes'], expect: EXIT.OK, says: 'repaired' },
  { args: ['check'], expect: EXIT.OK, says: 'no drift' },
];

/** The demo's action; `cli` runs each step as the CLI itself would. */
export function demoAction(cli: RunCli): CommandAction<DemoOptions> {
  return (terminal, options) => runDemo(terminal, options, cli);
}

async function runDemo(terminal: Terminal, options: DemoOptions, cli: RunCli): Promise<ExitCode> {
  const { stdout } = terminal.io;
  const c = terminal.out;
  // Ctrl-C anywhere (the server start-up included) stops the demo through main's one exit path
  // (signals.ts: InterruptedError, 130/143): the start-up is cut short, a step in flight stops as
  // check and repair do, and the server is stopped and its files removed on the way out.
  const interrupts = new Interrupts(terminal.io);
  const spinner = terminal.spinner('Starting a throwaway database server').start();
  let server: ThrowawayServer;
  try {
    const { NoServerBinaryError, ThrowawayServer } = await import('../../server/throwaway-server.js');
    try {
      server = await ThrowawayServer.start({ binaryPath: options.serverBinary, signal: interrupts.signal });
    } catch (error) {
      if (interrupts.signal.aborted) throw interrupts.signal.reason;
      if (error instanceof NoServerBinaryError) throw new DatabaseError(`The demo needs a database server. ${error.message}`);
      throw new DatabaseError(`Could not start a throwaway database server: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  } catch (error) {
    spinner.stop();
    interrupts.dispose();
    throw error;
  }
  try {
    const url = server.url(DATABASE);
    spinner.text = `Loading the demo data into ${url}`;
    const config = resolveConnectionConfig({ url, env: {} });
    const { Database } = await import('../../db/database.js');
    await Database.createDatabase(config, [...readSqlScript('schema.sql'), ...readSqlScript('demo-data.sql')]);
    interrupts.signal.throwIfAborted();
    spinner.stop();
    stdout.write(
      // Lines that fit 80 columns: the first screen of a new user's first command.
      `${c.bold('coupon-audit demo')}: a throwaway ${server.binary.flavor} server, port ${server.port} (${server.binary.server}).\n` +
        `Database ${DATABASE} (sql/schema.sql, sql/demo-data.sql): ten coupon campaigns,\n` +
        'eight with drifted counters, and codes and uses whose setting no longer exists.\n',
    );
    for (const step of STEPS) {
      const argv = [...step.args, '--url', url, ...(options.verbose ? ['--verbose'] : [])];
      stdout.write(`\n${c.cyan(`$ coupon-audit ${argv.join(' ')}`)}\n`);
      const code = await cli(argv);
      if (interrupts.signal.aborted) {
        // The step saw the signal too: stopped by it (130/143), it has said so on stderr, and the
        // demo ends with its code without saying it again. A step that ended before it noticed
        // leaves the saying to the demo (main's one exit path).
        if (code === EXIT.SIGINT || code === EXIT.SIGTERM) return code;
        interrupts.signal.throwIfAborted();
      }
      stdout.write(`${c.dim(`(exit ${code}: ${code === step.expect ? step.says : `expected ${step.expect}`})`)}\n`);
      if (code !== step.expect) {
        terminal.io.stderr.write(`coupon-audit: demo: '${step.args.join(' ')}' exited ${code}, expected ${step.expect}.\n`);
        return code >= EXIT.USAGE ? (code as ExitCode) : EXIT.INTERNAL;
      }
    }
    stdout.write(
      `\n${c.green('Done.')} Next: ${c.bold('coupon-audit doctor --url mysql://user@host:3306/db')} on your own database, then ${c.bold('check')}.\n`,
    );
    return EXIT.OK;
  } finally {
    spinner.stop();
    await server.stop();
    interrupts.dispose();
  }
}
