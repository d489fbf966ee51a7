import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay in front of the test server that picks a moment for a real fault: the first time a
 * client sends a statement containing `trigger`, the relay holds that statement back, has the
 * server KILL that client's connection from another session (`kill`, with the connection id the
 * server gave it in its handshake, as a DBA or a watchdog would), waits until the server has
 * closed it, and only then lets the client see its connection go. Everything else passes through
 * unchanged. The server, the driver and the socket are real; only the timing is chosen.
 *
 * It reads the classic protocol in the clear (no TLS, no compression: what the tests use).
 */
export interface KillRelay {
  port: number;
  /** The connection ids killed so far, in order. */
  killed: number[];
  close(): Promise<void>;
}

const COM_QUERY = 0x03;

export async function startKillRelay(
  target: { host: string; port: number },
  trigger: string,
  kill: (connectionId: number) => Promise<void>,
): Promise<KillRelay> {
  const killed: number[] = [];
  let fired = false;
  const sockets = new Set<Socket>();

  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    let connectionId: number | null = null;
    let greeting = Buffer.alloc(0);
    let pending = Buffer.alloc(0);
    let holding = false;

    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', () => (sockets.delete(client), upstream.destroy()));
    upstream.on('close', () => (sockets.delete(upstream), client.destroy()));
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);

    // Server to client: passed through; the first packet (the handshake) carries the connection id.
    upstream.on('data', (chunk: Buffer) => {
      if (connectionId === null) {
        greeting = Buffer.concat([greeting, chunk]);
        connectionId = handshakeConnectionId(greeting);
      }
      client.write(chunk);
    });

    // Client to server: packet by packet, so the trigger statement can be held back whole.
    client.on('data', (chunk: Buffer) => {
      if (holding) return;
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const length = pending.readUIntLE(0, 3);
        if (pending.length < 4 + length) break;
        const packet = pending.subarray(0, 4 + length);
        pending = pending.subarray(4 + length);
        const sequence = packet[3];
        const isTrigger =
          !fired && sequence === 0 && packet[4] === COM_QUERY && packet.subarray(5).toString('utf8').includes(trigger) && connectionId !== null;
        if (!isTrigger) {
          upstream.write(packet);
          continue;
        }
        fired = true;
        holding = true;
        const id = connectionId!;
        void (async () => {
          const serverClosed = once(upstream, 'close');
          await kill(id);
          killed.push(id);
          // The server closes the killed connection; the client then loses it with its statement unanswered.
          await Promise.race([serverClosed, new Promise((resolve) => setTimeout(resolve, 5000))]);
          closeBoth();
        })().catch(closeBoth);
        return;
      }
    });
  });

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    port,
    killed,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** HandshakeV10: protocol version, the server version (NUL-terminated), then the connection id (4 bytes LE). */
function handshakeConnectionId(buffer: Buffer): number | null {
  if (buffer.length < 4) return null;
  const length = buffer.readUIntLE(0, 3);
  if (buffer.length < 4 + length) return null;
  const payload = buffer.subarray(4, 4 + length);
  const end = payload.indexOf(0, 1);
  if (payload[0] !== 10 || end < 0 || payload.length < end + 5) throw new Error('kill relay: not a protocol 10 handshake');
  return payload.readUInt32LE(end + 1);
}
