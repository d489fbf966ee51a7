/**
 * Every failure the tool knows about is one of these, and each carries its exit code.
 * The CLI maps anything else to EXIT.INTERNAL (70), never to 1, so a crash is not read as drift.
 */
export const EXIT = {
  OK: 0,
  DRIFT: 1,
  USAGE: 2,
  DATABASE: 3,
  PARTIAL: 4,
  LOCKED: 5,
  INTERNAL: 70,
  OUTPUT: 74,
  SIGINT: 130,
  SIGTERM: 143,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export abstract class CouponAuditError extends Error {
  abstract readonly exitCode: ExitCode;
  /**
   * The library's repair() sets it on the error when the run had committed transactions before it
   * failed or was stopped: the audit table's runId of what it wrote (README "As a library").
   */
  runId?: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad flag, bad value, no URL: exit 2. */
export class UsageError extends CouponAuditError {
  readonly exitCode = EXIT.USAGE;
}

/**
 * A condition the code relies on did not hold: a bug (exit 70), thrown as one so that the database
 * error mapper around a statement (db/database-error.ts toDatabaseError) passes it on untouched
 * instead of calling it the server's (exit 3).
 */
export class InternalError extends CouponAuditError {
  readonly exitCode = EXIT.INTERNAL;
}

/** Cannot connect, authentication, missing table/column/privilege, connection lost: exit 3. */
export class DatabaseError extends CouponAuditError {
  readonly exitCode = EXIT.DATABASE;
}

/** Another repair holds the run lock: exit 5. */
export class RunLockedError extends CouponAuditError {
  readonly exitCode = EXIT.LOCKED;
}

/**
 * The report could not be written (stdout on a full disk): exit 74 (sysexits' EX_IOERR), so that
 * `check > drift.json` on a full disk is not read as "no drift" or "drift" with a cut file.
 */
export class OutputError extends CouponAuditError {
  readonly exitCode = EXIT.OUTPUT;
}

/** SIGINT (130) or SIGTERM (143) stopped the run. */
export class InterruptedError extends CouponAuditError {
  readonly exitCode: ExitCode;
  /** `where`: what the run was doing, said after the signal ("at the prompt: nothing was written"). */
  constructor(
    readonly signal: 'SIGINT' | 'SIGTERM',
    where?: string,
  ) {
    super(`interrupted by ${signal}${where === undefined ? '' : ` ${where}`}`);
    this.exitCode = signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
  }
}

/** A library caller's signal was aborted: the run stopped after the statement or transaction in flight. */
export class AbortedError extends CouponAuditError {
  readonly exitCode = EXIT.SIGINT;
  /** `cause`: the signal's reason (`controller.abort(reason)`, a TimeoutError from AbortSignal.timeout()). */
  constructor(options?: { cause?: unknown }) {
    super('aborted: stopped after the statement or transaction in flight; a rerun finishes whatever is left', options);
  }
}

/** What an aborted signal rejects with: its reason when that is one of ours (a signal, a lost lock), else AbortedError. */
export function abortReason(signal: AbortSignal): CouponAuditError {
  const reason: unknown = signal.reason;
  return reason instanceof CouponAuditError ? reason : new AbortedError({ cause: reason });
}

/** Rejects with abortReason where the signal is aborted: a run checks it before it connects, and after its scan. */
export function stopIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw abortReason(signal);
}

/**
 * The exit code the CLI exits with for this error (main's mapper): a CouponAuditError's own, and 70
 * for anything else, which is a bug (a TypeError from inside a repair transaction included), never
 * 3 or 1. For a program that runs the library and exits as the CLI would.
 */
export function exitCodeOf(error: unknown): ExitCode {
  return error instanceof CouponAuditError ? error.exitCode : EXIT.INTERNAL;
}
