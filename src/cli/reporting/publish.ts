import type { Terminal } from '../terminal.js';
import { metricsLabels, readPreviousMetrics, renderMetrics, writeMetricsFile } from './metrics-file.js';
import { describeWebhook, notificationPayload, postNotification, shouldNotify } from './notify.js';
import type { RunOutcome } from './run-outcome.js';

export interface ReportingOptions {
  metricsFile?: string;
  notifyUrl?: string;
}

export const NOTIFY_TIMEOUT_MS = 5000;

/**
 * After a run, however it ended: the metrics file and the webhook. Their own failures are warnings
 * on stderr (even under --quiet: cron should mail them) and never change the exit code.
 */
export async function publishOutcome(
  terminal: Terminal,
  options: ReportingOptions,
  outcome: RunOutcome,
  result: { exitCode: number; error: string | null; startedAt: number },
): Promise<void> {
  const warn = (line: string) => terminal.io.stderr.write(`${terminal.err.yellow('warning:')} ${line}\n`);
  if (options.metricsFile !== undefined) {
    const finishedAt = new Date();
    const previous = await readPreviousMetrics(options.metricsFile, metricsLabels(outcome));
    // Only where the run could not tell (the metrics' labels; the webhook posts nothing then).
    if (outcome.database === null && previous.database !== '') outcome.database = previous.database;
    const text = renderMetrics({
      outcome,
      exitCode: result.exitCode,
      finishedAt,
      durationSeconds: (finishedAt.getTime() - result.startedAt) / 1000,
      previousSuccess: previous.success,
      previousScan: previous.scan,
    });
    try {
      await writeMetricsFile(options.metricsFile, text);
    } catch (error) {
      warn(`could not write the metrics file ${options.metricsFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
    }
  }
  if (options.notifyUrl !== undefined && shouldNotify(outcome, result.exitCode)) {
    try {
      await postNotification(options.notifyUrl, notificationPayload(outcome, result.exitCode, result.error), NOTIFY_TIMEOUT_MS);
      terminal.debug(`notified ${describeWebhook(options.notifyUrl)}`);
    } catch (error) {
      warn(`could not notify ${describeWebhook(options.notifyUrl)}: ${(error as Error).message}.`);
    }
  }
}
