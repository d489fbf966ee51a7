import { createInterface } from 'node:readline';
import { InterruptedError } from '../errors.js';
import type { Io } from './terminal.js';

const AT_PROMPT = 'at the prompt: nothing was written';

/**
 * `question [y/N]` on stderr; true only for y/yes. EOF answers no; Ctrl-C is an interrupt (130).
 * The caller makes sure stdin and stderr are a terminal: a prompt on a pipe would wait forever.
 * `signal` (the run's interrupts) ends the question too: a SIGTERM from a service manager or a
 * `timeout` reaches the process, not the terminal, and readline hears only a typed Ctrl-C.
 */
export function confirm(io: Io, question: string, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: io.stdin, output: io.stderr as NodeJS.WritableStream, terminal: true });
    let settled = false;
    const atPrompt = (reason: unknown): unknown => (reason instanceof InterruptedError ? new InterruptedError(reason.signal, AT_PROMPT) : reason);
    const onAbort = (): void => finish(() => reject(atPrompt(signal!.reason)));
    const finish = (action: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      rl.close();
      action();
    };
    if (signal?.aborted === true) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    rl.on('SIGINT', () => finish(() => {
      io.stderr.write('\n');
      reject(new InterruptedError('SIGINT', AT_PROMPT));
    }));
    rl.on('close', () => finish(() => resolve(false)));
    rl.question(`${question} [y/N] `, (answer) => finish(() => resolve(/^y(es)?$/i.test(answer.trim()))));
  });
}

/** Reads a password without echoing it. */
export function promptPassword(io: Io, question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = io.stdin;
    // Echo off before the prompt shows: a password typed (or pasted) the moment it appears is not echoed.
    stdin.setRawMode?.(true);
    io.stderr.write(question);
    stdin.resume();
    let value = '';
    const done = (action: () => void): void => {
      stdin.removeListener('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      io.stderr.write('\n');
      action();
    };
    const onData = (chunk: Buffer | string): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\u0003') return done(() => reject(new InterruptedError('SIGINT')));
        if (char === '\r' || char === '\n' || char === '\u0004') return done(() => resolve(value));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.on('data', onData);
  });
}
