import { CouponAuditError } from './errors.js';

/**
 * The library's words for the messages the run shares with the CLI: a program has options, not
 * flags ("pass --wait-lock SECONDS" reads "pass waitLock SECONDS"), and no terminal that shows
 * what was written before an error.
 */

/** Each option's flag (its name in kebab case: waitLock, --wait-lock) to the option's name. */
export function optionNames(options: readonly string[]): ReadonlyMap<string, string> {
  return new Map(options.map((name) => [`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, name]));
}

/**
 * A CouponAuditError of the run with the option names in its message (its class, exit code and
 * cause unchanged); anything else as it is. Text in quotes is left alone (a config's filter, a
 * server's message: '--ids%' in a LIKE); a quote opens and closes where no letter or digit touches
 * it, so the apostrophe of "the primary's" opens none.
 */
export function libraryError(error: unknown, names: ReadonlyMap<string, string>): unknown {
  if (!(error instanceof CouponAuditError)) return error;
  error.message = error.message
    .split(/("[^"]*"|(?<![\p{L}\d])'[^']*'(?![\p{L}\d]))/u)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/--[a-z][a-z-]*/g, (flag) => names.get(flag) ?? flag)))
    .join('')
    .replace(
      /\(what was written (before )?is above\)/,
      error.runId === undefined ? '(nothing was written)' : "(what was written is in the audit table under this error's runId)",
    );
  return error;
}
