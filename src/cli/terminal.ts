import type { ChalkInstance } from 'chalk';
import type { Ora } from 'ora';

export interface OutputStream {
  /** false: the stream's buffer is full; it emits 'drain' when it has room again (pieces.ts writePieces). */
  write(chunk: string): boolean;
  isTTY?: boolean;
  destroyed?: boolean;
  errored?: unknown;
  writableEnded?: boolean;
  on?(event: 'drain' | 'close' | 'error' | 'finish', listener: (error?: unknown) => void): unknown;
  removeListener?(event: 'drain' | 'close' | 'error' | 'finish', listener: (error?: unknown) => void): unknown;
  columns?: number;
  getColorDepth?: (env?: NodeJS.ProcessEnv) => number;
}

export interface InputStream extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?: (mode: boolean) => unknown;
}

/** Everything the CLI touches of the outside world, so tests can run it in-process. */
export interface Io {
  stdout: OutputStream;
  stderr: OutputStream;
  stdin: InputStream;
  env: NodeJS.ProcessEnv;
}

export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    // Read only by a prompt or a password question: Node builds process.stdin on first access, and
    // for a file or /dev/null that loads its file-stream and readline modules (3-5 ms of a run that
    // never reads it, such as --version).
    get stdin(): InputStream {
      return process.stdin;
    },
    env: process.env,
  };
}

/**
 * chalk level for a stream: NO_COLOR (non-empty) wins, then FORCE_COLOR, then "is it a terminal".
 * chalk's own detection looks at stdout only and ignores NO_COLOR, hence this.
 */
export function colorLevel(stream: OutputStream, env: NodeJS.ProcessEnv): 0 | 1 | 2 | 3 {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return 0;
  const force = env['FORCE_COLOR'];
  if (force !== undefined) {
    if (force === '0' || force === 'false') return 0;
    if (force === '2') return 2;
    if (force === '3') return 3;
    return 1;
  }
  if (stream.isTTY !== true) return 0;
  if (env['TERM'] === 'dumb') return 0;
  // Node's own reading takes an empty NO_COLOR as set (no-color.org: only a non-empty one counts).
  const { NO_COLOR: _empty, ...rest } = env;
  const depth = stream.getColorDepth?.(rest) ?? 4;
  return depth >= 24 ? 3 : depth >= 8 ? 2 : depth >= 4 ? 1 : 0;
}

/** The part of an ora spinner the commands use; off a terminal, one that does nothing. */
export type Spinner = Pick<Ora, 'start' | 'stop' | 'clear' | 'text'>;

type OraFactory = typeof import('ora').default;

/**
 * Whether spinners may run: stderr is a terminal with a size, not --quiet, not under CI. A terminal
 * that reports 0 columns (some pseudo-terminals do) sends ora into an endless loop of "clear line"
 * codes when the spinner stops: no spinner there.
 */
export function spinnersWanted(io: Io, flags: { quiet?: boolean }): boolean {
  return io.stderr.isTTY === true && (io.stderr.columns ?? 0) > 0 && flags.quiet !== true && io.env['CI'] === undefined;
}

/** ora only when spinners will run: loading it costs a noticeable share of a cron run's start-up. */
async function loadSpinners(io: Io, flags: { quiet?: boolean }): Promise<OraFactory | undefined> {
  return spinnersWanted(io, flags) ? (await import('ora')).default : undefined;
}

function silentSpinner(text: string): Spinner {
  const spinner: Spinner = {
    text,
    start: () => spinner as Ora,
    stop: () => spinner as Ora,
    clear: () => spinner as Ora,
  };
  return spinner;
}

export interface Terminal {
  io: Io;
  /** Colours for stdout (data) and stderr (diagnostics), each off unless that stream may have them. */
  out: ChalkInstance;
  err: ChalkInstance;
  quiet: boolean;
  verbose: boolean;
  /** A spinner on stderr; silent off a terminal and under --quiet, so cron mails nothing. */
  spinner(text: string): Spinner;
  /** A diagnostic line on stderr (not under --quiet). */
  info(line: string): void;
  warn(line: string): void;
  /** A warning that needs a human (a counter that will be zeroed): on stderr even under --quiet. */
  alert(line: string): void;
  /** Only with --verbose. */
  debug(line: string): void;
}

/** chalk's constructor: loaded by loadTerminal, when a command runs (--version and --help never need it). */
export type ChalkClass = typeof import('chalk').Chalk;

/**
 * The terminal of a command's run, its modules loaded now: chalk's import alone was about a third of
 * the CLI's start-up (it probes the terminal as it loads), so the entry point does not import it.
 */
export async function loadTerminal(io: Io, flags: { quiet?: boolean; verbose?: boolean } = {}): Promise<Terminal> {
  const [{ Chalk }, ora] = await Promise.all([import('chalk'), loadSpinners(io, flags)]);
  return createTerminal(io, flags, Chalk, ora);
}

export function createTerminal(io: Io, flags: { quiet?: boolean; verbose?: boolean }, Chalk: ChalkClass, ora?: OraFactory): Terminal {
  const quiet = flags.quiet === true;
  const verbose = flags.verbose === true;
  const out = new Chalk({ level: colorLevel(io.stdout, io.env) });
  const err = new Chalk({ level: colorLevel(io.stderr, io.env) });
  const interactive = ora !== undefined && spinnersWanted(io, flags);
  return {
    io,
    out,
    err,
    quiet,
    verbose,
    spinner: (text) =>
      !interactive
        ? silentSpinner(text)
        : ora({
            text,
            stream: io.stderr as NodeJS.WritableStream,
            discardStdin: false,
            color: err.level > 0 ? 'cyan' : false,
          }),
    info: (line) => {
      if (!quiet) io.stderr.write(`${line}\n`);
    },
    warn: (line) => {
      if (!quiet) io.stderr.write(`${err.yellow("warning:")} ${line}\n`);
    },
    alert: (line) => {
      io.stderr.write(`${err.yellow("warning:")} ${line}\n`);
    },
    debug: (line) => {
      if (verbose) io.stderr.write(`${err.dim(line)}\n`);
    },
  };
}
