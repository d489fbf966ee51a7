import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import type { Io } from '../src/cli/terminal.js';
import { auditScope, DEFAULT_MODEL } from '../src/core/model.js';
import { emptyRepairResult, repairSettings } from '../src/core/repair.js';
import { RepairSession } from '../src/db/applier.js';
import { resolveConnectionConfig } from '../src/db/connection-config.js';
import { Database } from '../src/db/database.js';
import { detectEngine } from '../src/db/engine.js';
import { DatabaseError, EXIT } from '../src/errors.js';
import { createTestDatabase, seed, type TestDatabase } from './helpers/database.js';
import { driftedIds } from './helpers/snapshot.js';

/**
 * One exit path (issue 13, item 10), on the real server: an error that is not the database's,
 * raised inside a repair transaction, is an internal error (exit 70) and leaves the transaction
 * rolled back; a repair session the server refuses to set up is a database error (exit 3) and
 * writes nothing.
 */

let db: TestDatabase;

/** main(argv, io) in this process, off a terminal, collecting what it prints. */
async function runInProcess(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: { write: (chunk: string) => ((stdout += chunk), true) },
    stderr: { write: (chunk: string) => ((stderr += chunk), true) },
    stdin: Readable.from([]) as unknown as Io['stdin'],
    env: { NO_COLOR: '1' },
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

async function auditRows(): Promise<number> {
  const rows = await db.query<{ n: number }[]>(
    "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'coupon_audit_log'",
  );
  if (Number(rows[0]!.n) === 0) return 0;
  const [count] = await db.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM coupon_audit_log');
  return Number(count!.n);
}

beforeAll(async () => {
  db = await createTestDatabase('exit_paths');
  await seed(db.conn, [
    { id: 1, issuedCount: 5, usedCount: 0, coupons: 2 },
    { id: 2, issuedCount: 1, usedCount: 3, coupons: 1, uses: 1 },
    { id: 3, issuedCount: 0, usedCount: 0 },
  ]);
});

afterEach(() => {
  vi.restoreAllMocks();
});

afterAll(async () => {
  await db?.drop();
});

describe('an internal error inside a repair transaction', () => {
  it('exits 70 (not 3), says it is a bug, and the transaction is rolled back: nothing written, no audit row', async () => {
    // The batch has written its UPDATE when the audit insert throws: a defect of ours, not the server's.
    const recordAudit = vi.spyOn(RepairSession.prototype, 'recordAudit').mockRejectedValue(new TypeError("Cannot read properties of undefined (reading 'counter')"));
    const result = await runInProcess(['repair', '--url', db.url, '--yes']);
    expect(recordAudit).toHaveBeenCalled();
    expect(result.code).toBe(EXIT.INTERNAL);
    expect(result.stderr).toContain("internal error: Cannot read properties of undefined (reading 'counter')");
    expect(result.stderr).toContain('This is a bug');
    expect(await driftedIds(db.conn)).toEqual(['1', '2']);
    expect(await auditRows()).toBe(0);
  });
});

describe('a repair session the server refuses to set up', () => {
  it('is a database error (exit 3) before anything is written', async () => {
    // TiDB's session setup (tidb_txn_mode) sent to MariaDB: the server refuses the SET statement.
    const tidb = detectEngine({ version: '8.0.11-TiDB-v7.5.1', versionComment: 'TiDB Server', variables: { tidb_txn_mode: 'optimistic' } });
    expect(tidb.writeSetup.length).toBeGreaterThan(0);
    const database = await Database.connect(resolveConnectionConfig({ url: db.url, env: {} }), { poolSize: 2 });
    try {
      const failure = await repairSettings(database, [1n, 2n], { scope: auditScope(DEFAULT_MODEL), runId: 'r-setup', engine: tidb }, emptyRepairResult('r-setup')).then(
        () => null,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(DatabaseError);
      expect((failure as DatabaseError).exitCode).toBe(EXIT.DATABASE);
      expect((failure as DatabaseError).message).toMatch(/tidb_txn_mode/);
    } finally {
      await database.close();
    }
    expect(await driftedIds(db.conn)).toEqual(['1', '2']);
  });

  it('through the CLI: exit 3 with the server\'s reason, nothing written', async () => {
    const open = vi.spyOn(RepairSession, 'open');
    // The real session set-up, with one more statement the server refuses, as a misconfigured engine would send.
    open.mockImplementation(async (database, scope, preserved, lockWait, engine) => {
      open.mockRestore();
      return RepairSession.open(database, scope, preserved, lockWait, { ...engine, writeSetup: [...engine.writeSetup, "/* coupon-audit */ SET SESSION no_such_variable = 'x'"] });
    });
    const result = await runInProcess(['repair', '--url', db.url, '--yes']);
    expect(result.code).toBe(EXIT.DATABASE);
    expect(result.stderr).toMatch(/no_such_variable/);
    expect(result.stderr).not.toContain('internal error');
    expect(await driftedIds(db.conn)).toEqual(['1', '2']);
  });
});

describe('--max-lag and --max-lag-wait apply to --replica-url only', () => {
  // Port 1 of the loopback: a run that tried to connect would end with exit 3, not 2.
  const nowhere = 'mysql://root@127.0.0.1:1/coupons';

  it('without --replica-url they are a usage error (exit 2) before anything connects', async () => {
    for (const [argv, named] of [
      [['check', '--url', nowhere, '--max-lag', '5'], '--max-lag limits'],
      [['repair', '--url', nowhere, '--yes', '--max-lag-wait', '30'], '--max-lag-wait limits'],
      [['repair', '--url', nowhere, '--dry-run', '--max-lag', '0', '--max-lag-wait', '30'], '--max-lag and --max-lag-wait limit'],
    ] as const) {
      const result = await runInProcess([...argv]);
      expect(result.code).toBe(EXIT.USAGE);
      expect(result.stderr).toBe(
        `coupon-audit: ${named} the lag of the replica that --replica-url names, and none is named: give --replica-url (the scan then reads that replica), or drop ${named.startsWith('--max-lag and') ? 'them' : 'it'}. Nothing was read or written.\n`,
      );
      expect(result.stdout).toBe('');
    }
  });

  it('with --replica-url they are taken (the run goes on to connect), and --help gives their defaults', async () => {
    const result = await runInProcess(['check', '--url', nowhere, '--replica-url', nowhere, '--max-lag', '5', '--max-lag-wait', '30']);
    expect(result.code).toBe(EXIT.DATABASE);
    const help = await runInProcess(['check', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('--max-lag <seconds> with --replica-url: pause the scan while the replica is more than this behind, 0-3600 (default: 1)');
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('exit 3 when the replica stays behind --max-lag this long, 1-86400 (default: 60)');
  });
});

describe('a refused flag value is echoed without its secrets', () => {
  it('a URL given to a flag that refuses it shows its scheme and host only: no password, no webhook path', async () => {
    const result = await runInProcess(['check', '--url', 'mysql://root@127.0.0.1:1/coupons', '--notify-url', 'ftp://hook:SECRETPW@hooks.example/services/T0/SECRETPATH']);
    expect(result.code).toBe(EXIT.USAGE);
    expect(result.stderr).toBe("coupon-audit: option '--notify-url <url>' argument 'ftp://hooks.example/***' is invalid. expected an http:// or https:// URL.\n");
    // A quote inside the value, and a webhook pasted without its scheme: the same.
    const quoted = await runInProcess(['check', '--url', 'mysql://root@127.0.0.1:1/coupons', '--notify-url', "ftp://u:pa'ss@hooks.example/T0/SECRETPATH"]);
    expect(quoted.stderr).toBe("coupon-audit: option '--notify-url <url>' argument 'ftp://hooks.example/***' is invalid. expected an http:// or https:// URL.\n");
    // An '@' in the query, and one in the path: never shown as the host.
    for (const hook of ['ftp://hooks.example.com/x?to=ops@example.com&token=S3CRET', 'ftp://hooks.example.com/services/T0/B0@S3CRET']) {
      const shown = await runInProcess(['check', '--url', 'mysql://root@127.0.0.1:1/coupons', '--notify-url', hook]);
      expect(shown.stderr).toContain("argument 'ftp://hooks.example.com/***' is invalid");
    }
    const bare = await runInProcess(['check', '--url', 'mysql://root@127.0.0.1:1/coupons', '--notify-url', 'hooks.example/T0/SECRETPATH']);
    expect(bare.stderr).toContain("argument '***' is invalid");
    expect(bare.stderr).not.toContain('SECRETPATH');
    // A password with '#' (why the URL was refused), and an unknown option holding a URL.
    const hash = await runInProcess(['check', '--url', 'mysql://root@127.0.0.1:1/coupons', '--notify-url', 'https://hookuser:pa#ss?w/rd@hooks.example.com/services/T0/SECRETPATH']);
    expect(hash.stderr).toContain("argument '***' is invalid"); // it does not parse: no part of it is shown
    const typo = await runInProcess(['check', '--url', 'mysql://root@127.0.0.1:1/coupons', '--replica_url=mysql://u:SECRETPW@replica/coupons']);
    expect(typo.code).toBe(EXIT.USAGE);
    expect(typo.stderr).toContain("unknown option '--replica_url=mysql://replica/***'");
    for (const result of [hash, typo]) expect(result.stderr).not.toMatch(/pa#ss|hookuser|SECRET/);
    // Other refused values are echoed as given.
    expect((await runInProcess(['check', '--url', 'mysql://root@127.0.0.1:1/coupons', '--page-size', 'abc'])).stderr).toContain("argument 'abc' is invalid");
  });
});
