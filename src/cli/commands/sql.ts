import type { Command } from 'commander';
import { detectionSqlFor } from '../../db/database.js';
import type { Io } from '../terminal.js';

export function sqlCommand(program: Command, io: Io): void {
  program
    .command('sql')
    .description('print the drift-detection SQL, for a DBA to read or run by hand')
    .action(() => {
      io.stdout.write(detectionSqlFor());
    });
}
