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
    // Locked past every retry, a count past its column, a write a trigger kept or refused: the report names which.
    if ((outcome.failed ?? 0) > 0) parts[parts.length - 1] += `, ${outcome.failed} not repaired`;
  }
  if (error === null) return [...parts, `(exit ${exitCode})`].join(' ');
  // After the counts, the failure is a sentence of its own ("…, 141 not repaired; failed (exit 143): …").
  return `${parts.join(' ')}${parts.length > 1 ? ';' : ''} failed (exit ${exitCode}): ${error}`;
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

/**
 * POSTs the message; rejects with a one-line reason (never the URL: webhook URLs carry secrets).
 * A user and password in the URL (https://user:token@host/…) go as HTTP Basic authentication, as
 * curl sends them: fetch refuses a URL that holds them, and its refusal quotes the whole URL.
 */
export async function postNotification(url: string, payload: unknown, timeoutMs: number): Promise<void> {
  let response: Response;
  const { target, authorization } = withoutCredentials(url);
  try {
    response = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'coupon-audit', ...(authorization === null ? {} : { authorization }) },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
      // A redirect is a failure (HTTP 3xx below): followed, a POST would go on to another host, or
      // turn into a GET that delivers nothing, with the credentials.
      redirect: 'manual',
    });
  } catch (error) {
    const cause = error as Error & { cause?: { code?: string; message?: string } };
    if (cause.name === 'TimeoutError') throw new Error(`no answer within ${timeoutMs / 1000} s`);
    // Whatever the reason quotes of the URL is cut out: its path and query are the secret.
    throw new Error((cause.cause?.code ?? cause.cause?.message ?? cause.message).split(url).join('the webhook URL').split(target).join('the webhook URL'));
  }
  await response.body?.cancel();
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
}

/** The URL without its user and password, and those as an Authorization header (null: none). */
function withoutCredentials(url: string): { target: string; authorization: string | null } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { target: url, authorization: null };
  }
  if (parsed.username === '' && parsed.password === '') return { target: url, authorization: null };
  // As curl: percent-escapes decoded, a malformed one ('%zz') kept as written.
  const decoded = (part: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  const credentials = `${decoded(parsed.username)}:${decoded(parsed.password)}`;
  parsed.username = '';
  parsed.password = '';
  return { target: parsed.toString(), authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}

/** The webhook named without its path and query, which often hold the token. */
export function describeWebhook(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'the webhook';
  }
}
