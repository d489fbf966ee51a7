/**
 * Secrets on a command line, masked: bin/coupon-audit rewrites the process's command line with
 * maskedCommandLine first thing (a password is visible to every user in `ps` and
 * /proc/PID/cmdline), and cli/main.ts shows a refused URL option's value with urlHost. CommonJS, so
 * that the bin loads it before the bundle, from dist/build.
 */

/**
 * A URL shown with its scheme and host only, where it parses (a webhook's path is its secret, as
 * Slack's are); nothing of it where it does not: its host cannot be told from a secret then (a
 * password with '#', '?' or '/' in it, an '@' in a path).
 */
export function urlHost(value: string): string {
  try {
    const url = new URL(value.trim());
    const shown = `${url.protocol}//${url.host}`;
    return value.trim().length > shown.length ? `${shown}/***` : shown;
  } catch {
    return '***';
  }
}

/**
 * scheme://user:password@host with the password masked: all from the first ':' after the user (who
 * may have an '@': Azure's user@server) to the last '@' before the path (a password may hold '@' or
 * a space; not a '/', which the URL parser refuses anyway).
 */
function withoutPassword(arg: string): string {
  return arg.replace(/(^|=)(\s*[a-z][a-z0-9+.-]*:\/\/[^:/\s]*:)[^/]*@/i, '$1$2***@');
}

/** The words of a command line with the passwords (--url, --replica-url, --password VALUE) and --notify-url's path masked. */
export function maskedCommandLine(args: readonly string[]): string[] {
  return args.map((arg, i) => {
    if (args[i - 1] === '--password' && !arg.startsWith('-')) return '***';
    if (args[i - 1] === '--notify-url') return urlHost(arg);
    if (arg.startsWith('--notify-url=')) return `--notify-url=${urlHost(arg.slice('--notify-url='.length))}`;
    if (arg.startsWith('--password=')) return '--password=***';
    return withoutPassword(arg);
  });
}
