import { afterAll } from 'vitest';
import { killAllNow } from '../src/server/throwaway-server.js';

/**
 * In each test worker: Ctrl-C (or SIGTERM, SIGHUP) reaches the workers too, and ends them without
 * the exit hook that stops the throwaway servers a test file started (faults-server.test.ts). So
 * on those signals, kill them and remove their directories first, then let the signal end the
 * worker as it would have. Registered per test file, for this file's copy of the server module.
 */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const onSignal = (signal: NodeJS.Signals): void => {
  for (const name of SIGNALS) process.off(name, onSignal);
  killAllNow();
  process.kill(process.pid, signal);
};

for (const name of SIGNALS) process.on(name, onSignal);
afterAll(() => {
  for (const name of SIGNALS) process.off(name, onSignal);
});
