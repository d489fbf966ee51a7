import { expect, it } from 'vitest';
import { ThrowawayServer } from '../src/server/throwaway-server.js';

/**
 * Test files start throwaway servers at the same moment. A server deletes every #sql* file in its
 * tmpdir at start-up, so with a shared /tmp one start removed another's bootstrap tables and
 * mariadb-install-db failed ("Unknown table 'mysql.tmp_…'", about one start in four here): each
 * server has a tmpdir of its own.
 */
it('four throwaway servers started at once all start (twice over), and each leaves nothing behind', async () => {
  for (let round = 0; round < 2; round += 1) {
    const started = await Promise.allSettled(Array.from({ length: 4 }, () => ThrowawayServer.start()));
    const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    await Promise.all(servers.map((server) => server.stop()));
    expect(started.filter((result) => result.status === 'rejected').map((result) => String((result as PromiseRejectedResult).reason))).toEqual([]);
  }
}, 180_000);
