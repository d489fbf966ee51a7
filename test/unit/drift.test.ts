import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { BatchSizer } from '../../src/core/batch-sizer.js';
import { comparePage, compareSetting, DEFAULT_POLICY, type AuditPolicy } from '../../src/core/drift.js';
import { driftReportJson, renderDriftTable } from '../../src/cli/drift-report.js';
import type { SettingRow } from '../../src/db/rows.js';

const setting = (id: bigint, issuedCount: bigint | null, usedCount: bigint | null, status = 'ACTIVE'): SettingRow => ({
  id,
  status,
  issuedCount,
  usedCount,
});

describe('compareSetting', () => {
  const actual = { issuedCount: 3n, usedCount: 1n };
  it('is null when both caches equal the counts', () => {
    expect(compareSetting(setting(1n, 3n, 1n), actual, DEFAULT_POLICY)).toBeNull();
  });
  it.each([
    ['too high', 4n, 1n],
    ['too low', 2n, 1n],
    ['NULL', null, 1n],
    ['negative', -3n, 1n],
    ['used off', 3n, 0n],
  ])('reports a cache that is %s', (_label, issued, used) => {
    expect(compareSetting(setting(1n, issued, used), actual, DEFAULT_POLICY)).not.toBeNull();
  });
  it('treats a NULL cache on a setting with no children as drift', () => {
    expect(compareSetting(setting(1n, null, 0n), { issuedCount: 0n, usedCount: 0n }, DEFAULT_POLICY)).not.toBeNull();
  });
  it('expects zero for DELETED settings under --deleted zero', () => {
    const zero: AuditPolicy = { ...DEFAULT_POLICY, deleted: 'zero' };
    const deleted = setting(1n, 3n, 1n, 'DELETED');
    expect(compareSetting(deleted, actual, DEFAULT_POLICY)).toBeNull();
    expect(compareSetting(deleted, actual, zero)?.counters.issuedCount).toEqual({ cached: 3n, actual: 3n, expected: 0n });
    expect(compareSetting(setting(1n, 0n, 0n, 'DELETED'), actual, zero)).toBeNull();
  });
  it('audits only the counters asked for', () => {
    const usedOnly: AuditPolicy = { ...DEFAULT_POLICY, counters: ['usedCount'] };
    expect(compareSetting(setting(1n, 99n, 1n), actual, usedOnly)).toBeNull();
    expect(compareSetting(setting(1n, 99n, 2n), actual, usedOnly)?.counters).toEqual({
      usedCount: { cached: 2n, actual: 1n, expected: 1n },
    });
  });
});

describe('comparePage', () => {
  it('counts children of unknown ids (and NULL settingIds) as orphans, missing counts as zero', () => {
    const page = comparePage(
      [setting(2n, 1n, 0n), setting(5n, 0n, 0n), setting(7n, 1n, 1n)],
      [
        { settingId: 2n, count: 1n },
        { settingId: 3n, count: 4n },
        { settingId: null, count: 2n },
      ],
      [{ settingId: 6n, count: 1n }],
      DEFAULT_POLICY,
    );
    expect(page.scanned).toBe(3);
    expect(page.orphanCoupons).toBe(6n);
    expect(page.orphanUses).toBe(1n);
    expect(page.drifted.map((s) => s.id)).toEqual([7n]);
  });
  it('leaves DELETED settings out under --deleted skip, without making their children orphans', () => {
    const page = comparePage(
      [setting(1n, 9n, 9n, 'DELETED'), setting(2n, 0n, 0n)],
      [{ settingId: 1n, count: 1n }],
      [],
      { ...DEFAULT_POLICY, deleted: 'skip' },
    );
    expect(page).toEqual({ scanned: 1, drifted: [], orphanCoupons: 0n, orphanUses: 0n });
  });
});

describe('BatchSizer', () => {
  it('moves toward the target time, at most doubling or halving per step, within limits', () => {
    const sizer = new BatchSizer({ initial: 1000, min: 100, max: 5000, targetMs: 500, adaptive: true });
    sizer.observe(1000, 100); // 10/ms → wants 5000, capped at ×2
    expect(sizer.size).toBe(2000);
    sizer.observe(2000, 200);
    expect(sizer.size).toBe(4000);
    sizer.observe(4000, 400);
    expect(sizer.size).toBe(5000); // max
    const slow = new BatchSizer({ initial: 1000, min: 100, max: 5000, targetMs: 500, adaptive: true });
    slow.observe(1000, 10_000); // 0.1/ms → wants 50, halved at most, floored at min
    expect(slow.size).toBe(500);
    slow.observe(500, 10_000);
    expect(slow.size).toBe(250);
  });
  it('never changes a fixed size', () => {
    const sizer = new BatchSizer({ initial: 300, min: 100, max: 5000, targetMs: 500, adaptive: false });
    sizer.observe(300, 1);
    expect(sizer.size).toBe(300);
  });
});

describe('reports', () => {
  const drifted = [
    { id: 9007199254740993n, status: 'ACTIVE', counters: { issuedCount: { cached: null, actual: 3n, expected: 3n }, usedCount: { cached: 1n, actual: 1n, expected: 1n } } },
  ];
  const report = { scanned: 10, drifted, orphans: { coupons: 2n, uses: 0n }, missingIds: [], transient: 0 };

  it('JSON keeps ids exact as strings and NULL caches as null', () => {
    const json = JSON.parse(JSON.stringify(driftReportJson(report)));
    expect(json).toEqual({
      version: 1,
      summary: { scanned: 10, drifted: 1, orphans: { coupons: 2, uses: 0 } },
      drifted: [
        {
          id: '9007199254740993',
          status: 'ACTIVE',
          counters: { issuedCount: { cached: null, actual: 3, expected: 3 }, usedCount: { cached: 1, actual: 1, expected: 1 } },
        },
      ],
    });
  });

  it('the table has no ANSI codes without colour, and marks the drifted cell with colour when on', () => {
    const plain = renderDriftTable(drifted, DEFAULT_POLICY.counters, new Chalk({ level: 0 }));
    expect(plain).not.toMatch(/\x1b\[/);
    expect(plain).toContain('9007199254740993');
    expect(plain).toMatch(/NULL/);
    const coloured = renderDriftTable(drifted, DEFAULT_POLICY.counters, new Chalk({ level: 1 }));
    expect(coloured).toContain('\x1b[31m'); // red: the drifted cached value
  });
});
