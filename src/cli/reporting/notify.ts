import { EXIT } from '../../errors.js';
import type { RunOutcome } from './run-outcome.js';

/** How much of the drift list a message carries; a webhook is no place for 100k rows. */
export const MAX_NOTIFIED_SETTINGS = 100;

/** Drift was found, or the run failed in a way someone should look at. */
export function shouldNotify(outcome: RunOutcome, exitCode: number): boolean {
  if ((outcome.drifted ?? 0) > 0) return true;
  return exitCode === EXIT.DATABASE || exitCode === EXIT.PARTIAL || exitCode === EXIT.INTERNAL || exitCode === EXIT.OUTPUT;
}

/** One line a human reads in a chat channel. */
export function notificationText(outcome: RunOutcome, exitCode: number, error: string | null): string {
  const where = outcome.target ?? 'the database';
  const parts = [`coupon-audit ${outcome.command}${outcome.dryRun ? ' --dry-run' : ''} on ${where}:`];
  if (outcome.drifted !== null) {
    parts.push(`${outcome.drifted} drifted ${outcome.drifted === 1 ? 'setting' : 'settings'} of ${outcome.scanned ?? '?'} scanned`);
    if (outcome.repaired !== null) parts[parts.length - 1] += `, ${outcome.repaired} repaired`;
    // Locked past every retry as a rule, a count past its column otherwise (the output names which).
    if ((outcome.failed ?? 0) > 0) parts[parts.length - 1] += `, ${outcome.failed} not repaired`;
  }
  if (error !== null) parts.push(`failed (exit ${exitCode}): ${error}`);
  else parts.push(`(exit ${exitCode})`);
  return parts.join(' ');
}

export function notificationPayload(outcome: RunOutcome, exitCode: number, error: string | null): Record<string, unknown> {
  return {
    text: notificationText(outcome, exitCode, error),
    command: outcome.command,
    target: outcome.target,
    exitCode,
    error,
    report: truncateReport(outcome.report?.() ?? null),
  };
}

function truncateReport(report: Record<string, unknown> | null): Record<string, unknown> | null {
  if (report === null) return null;
  const result = { ...report };
  for (const key of ['drifted', 'changes']) {
    const list = result[key];
    if (Array.isArray(list) && list.length > MAX_NOTIFIED_SETTINGS) {
      result[key] = list.slice(0, MAX_NOTIFIED_SETTINGS);
      result['truncated'] = true;
    }
  }
  return result;
}

/** POSTs the message; rejects with a one-line reason (never the URL: webhook URLs carry secrets). */
export async function postNotification(url: string, payload: unknown, timeoutMs: number): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'coupon-audit' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const cause = error as Error & { cause?: { code?: string; message?: string } };
    if (cause.name === 'TimeoutError') throw new Error(`no answer within ${timeoutMs / 1000} s`);
    throw new Error(cause.cause?.code ?? cause.cause?.message ?? cause.message);
  }
  await response.body?.cancel();
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
}

/** The webhook named without its path and query, which often hold the token. */
export function describeWebhook(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'the webhook';
  }
}
