/**
 * What a run found and did, filled in by the command as it goes, so that the metrics file and the
 * webhook can describe it whether the run ended well or not.
 */
export interface RunOutcome {
  command: string;
  /** user@host:port/db (no password), once the connection settings are known. */
  target: string | null;
  database: string | null;
  scanned: number | null;
  drifted: number | null;
  repaired: number | null;
  failed: number | null;
  dryRun: boolean;
  /**
   * The JSON report the command printed (or would have printed with --format json), built when
   * asked for (the webhook): with a million drifted settings it is hundreds of megabytes.
   */
  report: (() => Record<string, unknown>) | null;
}

export function newRunOutcome(command: string): RunOutcome {
  return {
    command,
    target: null,
    database: null,
    scanned: null,
    drifted: null,
    repaired: null,
    failed: null,
    dryRun: false,
    report: null,
  };
}
