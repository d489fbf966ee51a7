import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { ROOT } from './database.js';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export const BIN = `${ROOT}bin/coupon-audit`;

/** A clean environment for a child: PATH and HOME, plus `env` (undefined values left out). */
function cleanEnv(env: Record<string, string | undefined> = {}, base: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...base };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

/** Collects a spawned child's stdout and stderr until it closes; SIGKILL after `timeoutMs`. */
export function watchChild(child: ChildProcessByStdio<Writable | null, Readable, Readable>, timeoutMs: number) {
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { done, exited: () => exited, stdout: () => stdout, stderr: () => stderr };
}

/** Runs the built CLI as a process, with no terminal and a clean environment (plus `env`). */
export function runCli(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], { env: cleanEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd });
  const { done } = watchChild(child, options.timeoutMs ?? 60_000);
  child.stdin.end(options.input ?? '');
  return done;
}

export function parseJson(result: CliResult): JsonReport {
  try {
    return JSON.parse(result.stdout) as JsonReport;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
}

export interface JsonCounter {
  cached: number | string | null;
  actual: number | string;
  expected: number | string;
}

export interface JsonReport {
  version: number;
  summary: { scanned: number; drifted: number; orphans?: { coupons: number; uses: number }; [key: string]: unknown };
  drifted: { id: string; status: string; counters: { issuedCount?: JsonCounter; usedCount?: JsonCounter } }[];
  [key: string]: unknown;
}

/** Runs the built CLI on a pseudo-terminal (test/helpers/pty-run.py), typing `answers` at its prompts. */
export function runCliOnTerminal(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; answers?: readonly string[]; signalAtPrompt?: 'TERM' | 'INT'; stdoutTo?: string } = {},
): Promise<CliResult> {
  const answers = [...(options.answers ?? []).flatMap((answer) => ['--answer', answer]), ...(options.signalAtPrompt === undefined ? [] : ['--signal-at-prompt', options.signalAtPrompt])];
  const helper = new URL('./pty-run.py', import.meta.url).pathname;
  const env = cleanEnv(options.env, { TERM: 'xterm-256color' });
  // `stdoutTo`: stdout to that file, stderr and the prompt on the terminal (`repair --format json > plan.json`).
  const command = options.stdoutTo === undefined ? [process.execPath, BIN, ...args] : ['sh', '-c', 'out="$1"; shift; exec "$@" > "$out"', 'sh', options.stdoutTo, process.execPath, BIN, ...args];
  const child = spawn('python3', [helper, ...answers, '--', ...command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return watchChild(child, 60_000).done;
}

/** Starts the built CLI as a process and returns at once, for tests that act while it runs. */
export function startCli(args: readonly string[], options: { env?: Record<string, string | undefined> } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: cleanEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  return { child, ...watchChild(child, 120_000) };
}
