import type { ChalkInstance } from 'chalk';
import type { CheckStatus, Diagnosis } from '../core/diagnose.js';

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', info: 'note', warn: 'WARN', fail: 'FAIL' };

/** doctor's checklist as text: one line per check, its fix indented below. */
export function renderDiagnosis(diagnosis: Diagnosis, c: ChalkInstance): string {
  const paint: Record<CheckStatus, (text: string) => string> = { ok: c.green, info: c.cyan, warn: c.yellow, fail: c.red };
  const width = Math.max(...diagnosis.checks.map((check) => check.name.length));
  const lines: string[] = [];
  for (const check of diagnosis.checks) {
    lines.push(`${paint[check.status](MARK[check.status])}  ${check.name.padEnd(width)}  ${check.detail}`);
    if (check.fix !== undefined) lines.push(`${' '.repeat(width + 8)}${c.dim('fix:')} ${check.fix}`);
  }
  const problems = diagnosis.checks.filter((check) => check.status === 'warn' || check.status === 'fail').length;
  lines.push(problems === 0 ? c.green('All is well.') : c.bold(`${problems} ${problems === 1 ? 'thing needs' : 'things need'} attention.`));
  return lines.join('\n');
}

export function diagnosisJson(diagnosis: Diagnosis): Record<string, unknown> {
  return { version: 1, healthy: diagnosis.healthy, checks: diagnosis.checks };
}
