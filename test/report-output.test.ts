import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer } from 'node:net';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from './helpers/cli.js';
import { createTestDatabase, ROOT, seed, type TestDatabase } from './helpers/database.js';
import { driftedIds } from './helpers/snapshot.js';

/**
 * A report written to a pipe (src/cli/pieces.ts writePieces), with the real process.stdout of a
 * process of its own: it stops when the reader goes away, and Ctrl-C while it waits for a slow
 * reader stops the printing and ends the run as interrupted.
 */

const DIST = (path: string): string => new URL(`dist/${path}`, `file://${ROOT}`).href;

/** Resolves when the child has exited, with its code or signal; undefined if it has not within `ms`. */
function exitWithin(child: ReturnType<typeof spawn>, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('report_output');
  // 5000 settings that each claim a code they do not have: a JSON report of about 1.5 MB.
  await db.conn.query("INSERT INTO g_coupon_settings (id, status, issuedCount, usedCount) SELECT seq, 'ACTIVE', 1, 0 FROM seq_1_to_5000");
});

afterAll(async () => {
  await db?.drop();
});

describe('a report written to a pipe', () => {
  it('stops making and writing pieces once the reader has gone (EPIPE), though process.stdout undestroys itself', async () => {
    const script = `
      const { writePieces } = await import(${JSON.stringify(DIST('cli/pieces.js'))});
      const { jsonText } = await import(${JSON.stringify(DIST('cli/json-output.js'))});
      process.stdout.on('error', (error) => { if (error.code !== 'EPIPE') throw error; }); // as bin/ does
      let drawn = 0;
      const value = { list: Array.from({ length: 200000 }, (_, i) => ({ i, text: 'x'.repeat(20) })) };
      function* counted() { for (const piece of jsonText(value)) { drawn += 1; yield piece; } }
      await writePieces(process.stdout, counted());
      process.stderr.write(JSON.stringify({ drawn, destroyed: process.stdout.destroyed }));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // The reader takes the first chunk and goes away, as `| head -c 100` does.
    child.stdout.once('data', () => child.stdout.destroy());
    const exit = await exitWithin(child, 30_000);
    expect(exit).toEqual({ code: 0, signal: null });
    const said = JSON.parse(stderr) as { drawn: number; destroyed: boolean };
    expect(said.destroyed).toBe(false); // why `destroyed` cannot tell
    expect(said.drawn).toBeLessThan(10); // of about 170 pieces
  });

  it('Ctrl-C while check waits for a slow reader stops the printing: interrupted, 130 through main (with the metrics file), not the whole report', async () => {
    const metrics = `${ROOT}.report-output-${process.pid}.prom`;
    const child = spawn(process.execPath, [BIN, 'check', '--url', db.url, '--format', 'json', '--metrics-file', metrics], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Read the first chunk, then stop reading: the pipe fills and the report waits for room.
    await new Promise<void>((resolve) =>
      child.stdout.once('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        resolve();
      }),
    );
    child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 200));
    child.kill('SIGINT');
    // Said while the reader still holds the pipe: the printing stopped, the run ended as interrupted.
    const deadline = Date.now() + 10_000;
    while (!stderr.includes('interrupted by SIGINT') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stdout.resume(); // the piece already in the pipe is read; then the process can exit
    const exit = await exitWithin(child, 30_000);
    try {
      expect(stderr).toMatch(/^coupon-audit: interrupted by SIGINT$/m);
      expect(exit).toEqual({ code: 130, signal: null });
      expect(() => JSON.parse(stdout) as unknown).toThrow(); // cut: not the whole report
      expect(stdout.length).toBeLessThan(1_000_000); // of about 1.5 MB
      expect(readFileSync(metrics, 'utf8')).toMatch(/^coupon_audit_last_run_exit_code(\{[^}]*\})? 130$/m);
    } finally {
      rmSync(metrics, { force: true });
    }
  });
});

describe('a report written to a full disk', () => {
  /** The CLI with its stdout on /dev/full (every write fails with ENOSPC), stderr collected. */
  async function onFullDisk(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
    const full = openSync('/dev/full', 'w');
    try {
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', full, 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exit = await exitWithin(child, 30_000);
      return { code: exit?.code ?? null, stderr };
    } finally {
      closeSync(full);
    }
  }

  it.skipIf(!existsSync('/dev/full'))('exits 74 with one sentence (not 1 with a stack, which reads as drift), and the metrics file says the run failed', async () => {
    const metrics = `${ROOT}.report-output-full-${process.pid}.prom`;
    try {
      for (const format of ['json', 'table']) {
        const result = await onFullDisk(['check', '--url', db.url, '--format', format, '--metrics-file', metrics]);
        expect(result.code, result.stderr).toBe(74);
        expect(result.stderr).toMatch(/^coupon-audit: could not write to stdout \(ENOSPC: no space left on device, write\): the output is cut short\.$/m);
        expect(result.stderr).not.toMatch(/^\s+at /m); // no stack trace
        const text = readFileSync(metrics, 'utf8');
        expect(text).toMatch(/^coupon_audit_last_run_exit_code\{command="check",[^}]*\} 74$/m);
        expect(text).toMatch(/^coupon_audit_last_run_success\{command="check",[^}]*\} 0$/m);
      }
      // Commands that print without a run: the same.
      for (const args of [['sql'], ['--help'], ['--version']]) {
        const result = await onFullDisk(args);
        expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(74);
      }
    } finally {
      rmSync(metrics, { force: true });
    }
  });

  it.skipIf(!existsSync('/dev/full'))('a repair that committed says so: its summary went where the rest did', async () => {
    const small = await createTestDatabase('report_output_full');
    try {
      await seed(small.conn, [{ id: 1, issuedCount: 3, usedCount: 0, coupons: 1 }]);
      const result = await onFullDisk(['repair', '--url', small.url, '--yes']);
      expect(result.code, result.stderr).toBe(74);
      expect(result.stderr).toContain('the output is cut short. The repair itself committed: 1 setting repaired (the audit table has them).');
      expect(await driftedIds(small.conn)).toEqual([]);
    } finally {
      await small.drop();
    }
  });
});

describe('a report written to a socket whose reader resets it', () => {
  it("is the reader's going away, as a pipe's: the run keeps its own exit code (1: drift), not 74", async () => {
    // The reader takes the first chunk, then resets the connection (RST): the writer gets ECONNRESET or EPIPE.
    const server = createServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    try {
      const child = spawn(process.execPath, [BIN, 'check', '--url', db.url, '--format', 'json'], { stdio: ['ignore', client, 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exit = await exitWithin(child, 30_000);
      expect(exit, stderr).toEqual({ code: 1, signal: null });
      expect(stderr).not.toContain('could not write to stdout');
    } finally {
      client.destroy();
      server.close();
    }
  });
});
