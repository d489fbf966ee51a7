import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderMetrics } from '../src/cli/reporting/metrics-file.js';
import { newRunOutcome } from '../src/cli/reporting/run-outcome.js';

const ROOT = new URL('../', import.meta.url).pathname;
const RULES = 'monitoring/coupon-audit.rules.yml';
const RULE_TESTS = 'monitoring/coupon-audit.rules.test.yml';
const rulesText = readFileSync(`${ROOT}${RULES}`, 'utf8');
const testsText = readFileSync(`${ROOT}${RULE_TESTS}`, 'utf8');
const alertNames = [...rulesText.matchAll(/^\s*- alert: (\S+)$/gm)].map((match) => match[1] ?? '');

/** Runs promtool from PATH; a missing promtool is a failure (CI installs it), never a skip. */
function promtool(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error(
      'promtool is not installed (not on PATH): install the prometheus package, e.g. ' +
        '`apt-get install -y prometheus` on Debian/Ubuntu (.ci/run does this in CI), then rerun the tests.',
    );
  }
  if (result.error !== undefined) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('monitoring/coupon-audit.rules.yml', () => {
  it('has the alerts the README names', () => {
    expect(alertNames).toEqual([
      'CouponAuditDriftFound',
      'CouponAuditRepairIncomplete',
      'CouponAuditRunFailed',
      'CouponAuditNoRecentSuccess',
      'CouponAuditMetricsAbsent',
      'CouponAuditMetricsVanished',
    ]);
    const readme = readFileSync(`${ROOT}README.md`, 'utf8');
    for (const name of alertNames) expect(readme, `README does not name ${name}`).toContain(`\`${name}\``);
  });

  it('passes promtool check rules', () => {
    const result = promtool(['check', 'rules', RULES]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`SUCCESS: ${alertNames.length} rules found`);
    expect(result.code).toBe(0);
  });

  it('passes its unit tests (promtool test rules)', () => {
    const result = promtool(['test', 'rules', RULE_TESTS]);
    expect(result.stdout + result.stderr).not.toContain('FAILED');
    expect(result.stdout).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('unit-tests every alert both firing and not firing', () => {
    for (const name of alertNames) {
      const notFiring = new RegExp(`alertname: ${name}\\n\\s+exp_alerts: \\[\\]\\n`);
      const firing = new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels:`);
      expect(testsText, `${name} never tested as not firing`).toMatch(notFiring);
      expect(testsText, `${name} never tested as firing`).toMatch(firing);
    }
  });

  it('uses only metric names and labels that --metrics-file writes', () => {
    // A repair that wrote exports every metric; a check exports all but coupon_audit_failed_settings.
    const outcome = { ...newRunOutcome('repair'), database: 'coupons', scanned: 10, drifted: 3, repaired: 2, failed: 1 };
    const text = renderMetrics({ outcome, exitCode: 4, finishedAt: new Date(), durationSeconds: 1, previousSuccess: 1 });
    const written = new Set([...text.matchAll(/^(coupon_audit_\w+)\{/gm)].map((match) => match[1]));
    expect(written.size).toBeGreaterThan(0);
    // Every label set written is {command, database}; the scrape adds {instance, job}.
    for (const [, labels] of text.matchAll(/^coupon_audit_\w+\{([^}]*)\}/gm)) {
      expect([...(labels ?? '').matchAll(/(\w+)="/g)].map((match) => match[1])).toEqual(['command', 'database']);
    }

    // Every coupon_audit_* name anywhere in the rules and their tests (expressions, comments, annotations).
    const used = new Set([...`${rulesText}\n${testsText}`.matchAll(/\bcoupon_audit_\w+/g)].map((match) => match[0]));
    expect(used.size).toBeGreaterThan(0);
    for (const name of used) expect(written, `${name} is not written by renderMetrics`).toContain(name);

    // The labels the expressions match or group on exist.
    const exprs = [...rulesText.matchAll(/^\s*expr: (?:\|\n)?((?:.+\n)+?)\s*for:/gm)].map((match) => match[1] ?? '');
    expect(exprs).toHaveLength(alertNames.length);
    const labelNames = new Set<string>();
    for (const expr of exprs) {
      for (const [, selector] of expr.matchAll(/\{([^}]*)\}/g)) {
        for (const [, label] of (selector ?? '').matchAll(/(\w+)\s*!?=~?/g)) labelNames.add(label ?? '');
      }
      for (const [, grouping] of expr.matchAll(/\b(?:on|ignoring|by|without)\s*\(([^)]*)\)/g)) {
        for (const label of (grouping ?? '').split(',')) labelNames.add(label.trim());
      }
    }
    expect(labelNames.size).toBeGreaterThan(0);
    for (const label of labelNames) expect(['command', 'database', 'instance', 'job']).toContain(label);
  });
});
