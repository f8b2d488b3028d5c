/**
 * The soak's load balancer (bench/soak.ts), in its own process: a TCP proxy on PROXY_PORT of
 * 127.0.0.1 that hands each new connection to the next of PROXY_BACKENDS (ports of 127.0.0.1),
 * round robin. Connection-level, so HTTP passes untouched (X-Forwarded-For included, which
 * the tenant trusts from loopback). Prints `READY <port>`.
 */
import { connect, createServer, type Socket } from 'node:net';

const backends = (process.env.PROXY_BACKENDS ?? '')
  .split(',')
  .map(Number)
  .filter((p) => p > 0);
const port = Number(process.env.PROXY_PORT);
if (backends.length === 0 || !(port > 0)) throw new Error('PROXY_PORT and PROXY_BACKENDS are required');

let next = 0;
const sockets = new Set<Socket>();
const server = createServer((client) => {
  const upstream = connect(backends[next++ % backends.length]!, '127.0.0.1');
  for (const socket of [client, upstream]) {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.once('close', () => {
      sockets.delete(socket);
      client.destroy();
      upstream.destroy();
    });
    socket.on('error', () => {
      client.destroy();
      upstream.destroy();
    });
  }
  client.pipe(upstream).pipe(client);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${port}\n`);
});

const stop = () => {
  server.close();
  for (const socket of sockets) socket.destroy();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
