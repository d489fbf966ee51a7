import { execFileSync } from 'node:child_process';
import { chownSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSuccessfulRun, previousScanFor, previousSuccessTimestamp, readPreviousMetrics, renderMetrics, writeMetricsFile } from '../../src/cli/reporting/metrics-file.js';
import { notificationPayload, notificationText, shouldNotify } from '../../src/cli/reporting/notify.js';
import { newRunOutcome } from '../../src/cli/reporting/run-outcome.js';

const finishedAt = new Date('2026-11-24T10:00:00Z');

describe('renderMetrics', () => {
  it('renders every known value with HELP and TYPE, labels escaped', () => {
    const outcome = { ...newRunOutcome('check'), database: 'we"ird\\db', scanned: 10, drifted: 2 };
    const text = renderMetrics({ outcome, exitCode: 1, finishedAt, durationSeconds: 1.5, previousSuccess: null });
    const labels = '{command="check",database="we\\"ird\\\\db"}';
    expect(text).toContain(`coupon_audit_drifted_settings${labels} 2\n`);
    expect(text).toContain(`coupon_audit_scanned_settings${labels} 10\n`);
    expect(text).toContain(`coupon_audit_repaired_settings${labels} 0\n`);
    expect(text).toContain(`coupon_audit_last_run_success${labels} 1\n`);
    expect(text).toContain(`coupon_audit_last_run_timestamp_seconds${labels} 1795514400\n`);
    expect(text).toContain(`coupon_audit_last_success_timestamp_seconds${labels} 1795514400\n`);
    expect(text).toContain(`coupon_audit_run_duration_seconds${labels} 1.500\n`);
    expect(text).toContain('# TYPE coupon_audit_drifted_settings gauge\n');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('leaves out what a failed run never learnt, and carries the previous success time', () => {
    const outcome = newRunOutcome('repair');
    const text = renderMetrics({ outcome, exitCode: 3, finishedAt, durationSeconds: 0.2, previousSuccess: 1700000000 });
    expect(text).not.toContain('coupon_audit_drifted_settings{');
    expect(text).not.toContain('coupon_audit_repaired_settings{');
    expect(text).toContain('coupon_audit_last_run_success{command="repair",database=""} 0\n');
    expect(text).toContain('coupon_audit_last_success_timestamp_seconds{command="repair",database=""} 1700000000\n');
    expect(previousSuccessTimestamp(text)).toBe(1700000000);
  });

  it('a run is successful when it finished its scan: exit 0, or 1 with drift counted', () => {
    const scanned = { ...newRunOutcome('check'), drifted: 1, scanned: 1 };
    expect(isSuccessfulRun(scanned, 0)).toBe(true);
    expect(isSuccessfulRun(scanned, 1)).toBe(true);
    expect(isSuccessfulRun(newRunOutcome('check'), 1)).toBe(false);
    expect(isSuccessfulRun(scanned, 4)).toBe(false);
  });
});

describe('notifications', () => {
  it('go out on drift and on failures, not on a clean run or a lock conflict', () => {
    const clean = { ...newRunOutcome('check'), drifted: 0, scanned: 5 };
    expect(shouldNotify(clean, 0)).toBe(false);
    expect(shouldNotify({ ...clean, drifted: 3 }, 1)).toBe(true);
    expect(shouldNotify(newRunOutcome('repair'), 3)).toBe(true);
    expect(shouldNotify(newRunOutcome('repair'), 5)).toBe(false);
  });

  it('say in one line where, how many, and what went wrong', () => {
    const outcome = { ...newRunOutcome('repair'), target: 'ops@db1:3306/coupons', scanned: 50, drifted: 3, repaired: 2, failed: 1 };
    expect(notificationText(outcome, 4, null)).toBe(
      'coupon-audit repair on ops@db1:3306/coupons: 3 drifted settings of 50 scanned, 2 repaired, 1 not repaired (exit 4)',
    );
    expect(notificationText({ ...newRunOutcome('check'), target: 'ops@db1:3306/coupons' }, 3, 'Cannot connect.')).toBe(
      'coupon-audit check on ops@db1:3306/coupons: failed (exit 3): Cannot connect.',
    );
    // Counts, then the failure as a clause of its own (it read "141 not repaired failed (exit 143)").
    expect(notificationText({ ...outcome, drifted: 200, scanned: 1000, repaired: 59, failed: 141 }, 143, 'Interrupted by SIGTERM.')).toBe(
      'coupon-audit repair on ops@db1:3306/coupons: 200 drifted settings of 1000 scanned, 59 repaired, 141 not repaired; failed (exit 143): Interrupted by SIGTERM.',
    );
  });

  it('truncate a long drift list', () => {
    const drifted = Array.from({ length: 250 }, (_, i) => ({ id: String(i) }));
    const payload = notificationPayload({ ...newRunOutcome('check'), drifted: 250, report: () => ({ drifted }) }, 1, null);
    const report = payload['report'] as { drifted: unknown[]; truncated: boolean };
    expect(report.drifted).toHaveLength(100);
    expect(report.truncated).toBe(true);
  });
});

describe('writeMetricsFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coupon-audit-metrics-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('replaces a regular file whole, and a symlink by a file (as mv does): never writes through the link', async () => {
    const file = join(dir, 'a.prom');
    await writeMetricsFile(file, 'one\n');
    await writeMetricsFile(file, 'two\n');
    expect(readFileSync(file, 'utf8')).toBe('two\n');
    // A link planted in a shared textfile directory, to a file root's cron job must not overwrite.
    mkdirSync(join(dir, 'elsewhere'));
    writeFileSync(join(dir, 'elsewhere', 'victim.conf'), 'keep\n');
    symlinkSync(join('elsewhere', 'victim.conf'), join(dir, 'link.prom'));
    await writeMetricsFile(join(dir, 'link.prom'), 'three\n');
    expect(lstatSync(join(dir, 'link.prom')).isFile()).toBe(true);
    expect(readFileSync(join(dir, 'link.prom'), 'utf8')).toBe('three\n');
    expect(readFileSync(join(dir, 'elsewhere', 'victim.conf'), 'utf8')).toBe('keep\n');
    expect(readdirSync(dir).sort()).toEqual(['a.prom', 'elsewhere', 'link.prom']);
  });

  it('writes its temporary file under a name no one can plant a link at, and reads a previous file through a symlink', async () => {
    writeFileSync(join(dir, 'victim.conf'), 'keep\n');
    // The name it used to write first, PATH.<pid>.tmp, was predictable.
    symlinkSync('victim.conf', join(dir, `m.prom.${process.pid}.tmp`));
    await writeMetricsFile(join(dir, 'm.prom'), 'x\n');
    expect(readFileSync(join(dir, 'victim.conf'), 'utf8')).toBe('keep\n');
    expect(readFileSync(join(dir, 'm.prom'), 'utf8')).toBe('x\n');
    // A metrics file that is a link to one: its previous values are read (the run then replaces the link).
    writeFileSync(join(dir, 'real.prom'), renderMetrics({ outcome: { ...newRunOutcome('check'), database: 'coupons', scanned: 4, drifted: 2 }, exitCode: 1, finishedAt, durationSeconds: 1, previousSuccess: null }));
    symlinkSync('real.prom', join(dir, 'link.prom'));
    const previous = await readPreviousMetrics(join(dir, 'link.prom'), { command: 'check', database: 'coupons' });
    expect(previous.success).toBe(finishedAt.getTime() / 1000);
    expect(previous.scan.get('coupon_audit_drifted_settings')).toBe(2);
  });

  it('writes a file whose name is as long as the file system allows (its temporary name is not built on it)', async () => {
    const file = join(dir, `${'m'.repeat(250)}.prom`); // 255 bytes: the usual limit of one name
    await writeMetricsFile(file, 'x\n');
    expect(readFileSync(file, 'utf8')).toBe('x\n');
    expect(readdirSync(dir)).toEqual([`${'m'.repeat(250)}.prom`]);
  });

  it('keeps the permissions of the file it replaces (0600 stayed 0644 after a run), and refuses a FIFO at once (EINVAL)', async () => {
    const file = join(dir, 'private.prom');
    writeFileSync(file, 'old\n', { mode: 0o600 });
    await writeMetricsFile(file, 'new\n');
    expect(readFileSync(file, 'utf8')).toBe('new\n');
    expect(lstatSync(file).mode & 0o777).toBe(0o600);
    // A cron job's run had waited for a reader of a FIFO, for ever.
    execFileSync('mkfifo', [join(dir, 'fifo.prom')]);
    await expect(writeMetricsFile(join(dir, 'fifo.prom'), 'x\n')).rejects.toMatchObject({ code: 'EINVAL' });
    expect(readdirSync(dir).sort()).toEqual(['fifo.prom', 'private.prom']);
  });

  it('writes through a link to a device (it stays a link) and, as root, keeps the owner of the file it replaces', async () => {
    symlinkSync('/dev/null', join(dir, 'null.prom'));
    await writeMetricsFile(join(dir, 'null.prom'), 'x\n');
    expect(lstatSync(join(dir, 'null.prom')).isSymbolicLink()).toBe(true);
    if (process.getuid?.() !== 0) return;
    // One another user made is replaced (a review's link to a terminal had root write the text there).
    symlinkSync('/dev/null', join(dir, 'planted.prom'));
    lchownSync(join(dir, 'planted.prom'), 65534, 65534);
    await writeMetricsFile(join(dir, 'planted.prom'), 'x\n');
    expect(lstatSync(join(dir, 'planted.prom')).isFile()).toBe(true);
    // Root's run had made another user's 0600 file root's, unreadable to them.
    const file = join(dir, 'theirs.prom');
    writeFileSync(file, 'old\n', { mode: 0o600 });
    chownSync(file, 65534, 65534);
    await writeMetricsFile(file, 'new\n');
    expect(lstatSync(file)).toMatchObject({ uid: 65534, gid: 65534 });
    expect(lstatSync(file).mode & 0o7777).toBe(0o600);
  });

  it('refuses a directory (EISDIR), and leaves nothing behind', async () => {
    mkdirSync(join(dir, 'textfile'));
    await expect(writeMetricsFile(join(dir, 'textfile'), 'x\n')).rejects.toMatchObject({ code: 'EISDIR' });
    expect(readdirSync(dir)).toEqual(['textfile']);
  });

  // A device node is made with mknod, which needs root; CI runs as root. The node here is a copy of
  // /dev/null's (1, 3): a root cron job's `--metrics-file /dev/null` had replaced the real one.
  it.skipIf(process.getuid?.() !== 0)('writes into a device in place: it stays a device', async () => {
    const device = join(dir, 'null');
    execFileSync('mknod', [device, 'c', '1', '3']);
    await writeMetricsFile(device, 'x\n');
    expect(lstatSync(device).isCharacterDevice()).toBe(true);
    expect(readdirSync(dir)).toEqual(['null']);
  });
});

describe('a failed run keeps the scan gauges of the run before (same command and database)', () => {
  const previous = (database: string) =>
    renderMetrics({ outcome: { ...newRunOutcome('check'), database, scanned: 10, drifted: 3, repaired: 0 }, exitCode: 1, finishedAt, durationSeconds: 1, previousSuccess: null });

  it('keeps them when it learnt none of its own, replaces them when it did', () => {
    const failed = { ...newRunOutcome('check'), database: 'coupons' };
    const text = renderMetrics({ outcome: failed, exitCode: 3, finishedAt, durationSeconds: 1, previousSuccess: null, previousScan: previousScanFor(previous('coupons'), { command: 'check', database: 'coupons' }) });
    expect(text).toContain('coupon_audit_drifted_settings{command="check",database="coupons"} 3\n');
    expect(text).toContain('coupon_audit_scanned_settings{command="check",database="coupons"} 10\n');
    expect(text).toContain('coupon_audit_last_run_success{command="check",database="coupons"} 0\n');
    const scanned = { ...failed, scanned: 10, drifted: 0 };
    expect(renderMetrics({ outcome: scanned, exitCode: 0, finishedAt, durationSeconds: 1, previousSuccess: null, previousScan: previousScanFor(previous('coupons'), { command: 'check', database: 'coupons' }) })).toContain(
      'coupon_audit_drifted_settings{command="check",database="coupons"} 0\n',
    );
  });

  it('never from a file written for another database or command', () => {
    expect(previousScanFor(previous('other'), { command: 'check', database: 'coupons' }).size).toBe(0);
    expect(previousScanFor(previous('coupons'), { command: 'repair', database: 'coupons' }).size).toBe(0);
    expect([...previousScanFor(previous('coupons'), { command: 'check', database: 'coupons' }).keys()].sort()).toEqual([
      'coupon_audit_drifted_settings',
      'coupon_audit_repaired_settings',
      'coupon_audit_scanned_settings',
    ]);
  });
});
