import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { previousSuccessFor, readPreviousMetrics, renderMetrics } from '../../src/cli/reporting/metrics-file.js';
import { publishOutcome } from '../../src/cli/reporting/publish.js';
import { newRunOutcome, type RunOutcome } from '../../src/cli/reporting/run-outcome.js';
import { Chalk } from 'chalk';
import { createTerminal } from '../../src/cli/terminal.js';

const LAST_SUCCESS = 'coupon_audit_last_success_timestamp_seconds';
const finishedAt = new Date('2026-11-24T10:00:00Z');
const T = finishedAt.getTime() / 1000;

function outcome(command: string, database: string | null, drifted: number | null): RunOutcome {
  return { ...newRunOutcome(command), database, scanned: drifted === null ? null : 10, drifted };
}

/** A previous file: a successful run of `command` on `database`. */
function previousFile(command: string, database: string | null): string {
  return renderMetrics({ outcome: outcome(command, database, 0), exitCode: 0, finishedAt, durationSeconds: 1, previousSuccess: null });
}

describe('the previous last-success is kept only for the same command and database', () => {
  it('same labels: kept', () => {
    expect(previousSuccessFor(previousFile('check', 'coupons_a'), { command: 'check', database: 'coupons_a' })).toBe(T);
    expect(previousSuccessFor(previousFile('repair', null), { command: 'repair', database: '' })).toBe(T);
  });
  it('another database, another command, a database whose name only starts the same: dropped', () => {
    const text = previousFile('check', 'coupons_a');
    expect(previousSuccessFor(text, { command: 'check', database: 'coupons_b' })).toBeNull();
    expect(previousSuccessFor(text, { command: 'check', database: 'coupons' })).toBeNull();
    expect(previousSuccessFor(text, { command: 'check', database: '' })).toBeNull();
    expect(previousSuccessFor(text, { command: 'repair', database: 'coupons_a' })).toBeNull();
  });
  it('labels with quotes, backslashes and commas round-trip', () => {
    const odd = 'we"ird\\db,x="y"';
    expect(previousSuccessFor(previousFile('check', odd), { command: 'check', database: odd })).toBe(T);
    expect(previousSuccessFor(previousFile('check', odd), { command: 'check', database: 'we"ird\\db' })).toBeNull();
  });
  it('a file without labels, or not ours, lends nothing', () => {
    expect(previousSuccessFor(`${LAST_SUCCESS} 1700000000\n`, { command: 'check', database: 'coupons_a' })).toBeNull();
    expect(previousSuccessFor('garbage\n', { command: 'check', database: 'coupons_a' })).toBeNull();
  });
});

describe('--metrics-file reused for another database (publishOutcome, a real file)', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ca-metrics-'));
    file = join(dir, 'coupon_audit.prom');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const terminal = () => {
    const stderr = new PassThrough();
    return createTerminal({ stdout: new PassThrough(), stderr, stdin: new PassThrough(), env: {} }, {}, Chalk);
  };
  const publish = (run: RunOutcome, exitCode: number) =>
    publishOutcome(terminal(), { metricsFile: file }, run, { exitCode, error: exitCode === 3 ? 'boom' : null, startedAt: Date.now() });

  it("a failed run on database B does not carry A's last success", async () => {
    await writeFile(file, previousFile('check', 'coupons_a'));
    await publish(outcome('check', 'coupons_b', null), 3);
    const text = await readFile(file, 'utf8');
    expect(text).toContain('coupon_audit_last_run_success{command="check",database="coupons_b"} 0\n');
    expect(text).not.toContain(LAST_SUCCESS + '{');
    expect(text).not.toContain('coupons_a');
  });

  it("a failed run on the same database keeps that database's last success", async () => {
    await writeFile(file, previousFile('check', 'coupons_b'));
    expect((await readPreviousMetrics(file, { command: 'check', database: 'coupons_b' })).success).toBe(T);
    await publish(outcome('check', 'coupons_b', null), 3);
    expect(await readFile(file, 'utf8')).toContain(`${LAST_SUCCESS}{command="check",database="coupons_b"} ${T}\n`);
  });
});
