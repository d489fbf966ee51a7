import { NoServerBinaryError, ThrowawayServer } from '../src/server/throwaway-server.js';

/**
 * The server the integration tests use. With TEST_DATABASE_URL set, that server, and nothing is
 * started. Without it, a throwaway MariaDB/MySQL server of our own (src/server/throwaway-server.ts:
 * a temporary directory, a free port on 127.0.0.1, root with an empty password), so `npm test`
 * needs only the server package installed, not a running or configured server.
 *
 * The URL reaches the test files through TEST_DATABASE_URL: this runs in vitest's main process
 * before the worker processes (pool 'forks') are started, and they inherit its environment;
 * test/helpers/database.ts reads it into SERVER_URL.
 *
 * The server is stopped and its directory removed at the end of the run, failed tests or not. On
 * Ctrl-C (or SIGTERM) vitest exits the process, and ThrowawayServer's exit hook kills the server
 * and removes the directory; SIGHUP (a closed terminal) is turned into the same exit here.
 */

/** Three test files at a time, each with a few connections and CLI processes holding their own. */
const SERVER_ARGS = [
  '--max-connections=300',
  // What Debian's packaged my.cnf sets, so the tests see the same defaults as on a configured server.
  '--character-set-server=utf8mb4',
  '--collation-server=utf8mb4_general_ci',
  // MariaDB's default pool; the throwaway server's own 64M is meant for the demo.
  '--innodb-buffer-pool-size=128M',
];

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env['TEST_DATABASE_URL'] !== undefined && process.env['TEST_DATABASE_URL'] !== '') return undefined;

  let server: ThrowawayServer;
  try {
    server = await ThrowawayServer.start({ args: SERVER_ARGS });
  } catch (error) {
    if (error instanceof NoServerBinaryError) {
      throw new Error(`The tests start a MariaDB/MySQL server of their own. ${error.message} Or set TEST_DATABASE_URL to use a running server.`);
    }
    throw error;
  }
  process.env['TEST_DATABASE_URL'] = `mysql://root@${server.host}:${server.port}`;

  const onHangup = (): void => process.exit(129); // the exit hook stops the server
  if (process.listenerCount('SIGHUP') === 0) process.once('SIGHUP', onHangup);

  return async () => {
    process.off('SIGHUP', onHangup);
    delete process.env['TEST_DATABASE_URL'];
    await server.stop();
  };
}
