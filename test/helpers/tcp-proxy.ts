import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export type ProxyMode = 'forward' | 'refuse' | 'blackhole';

export interface TcpProxy {
  /** The port Accord is given instead of the dependency's. */
  port: number;
  /**
   * forward: pass bytes both ways. refuse: close every connection, open ones and new ones, at
   * once (a dependency that is down). blackhole: accept connections and forward nothing (a
   * network that swallows packets). Going back to forward drops the connections the black hole
   * swallowed bytes of, as a partition that ends leaves them broken; with `keepSwallowed` it
   * leaves them open and silent, as a proxy that discarded their bytes would, so only the
   * client's own timeouts can end them.
   */
  set(mode: ProxyMode, options?: { keepSwallowed?: boolean }): void;
  close(): Promise<void>;
}

/** A TCP proxy in front of a dependency (PostgreSQL, Redis), controlled by the test. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'forward';
  const pairs = new Set<{ client: Socket; upstream: Socket | undefined; swallowed: boolean }>();

  const server = createServer((client) => {
    const pair = { client, upstream: undefined as Socket | undefined, swallowed: false };
    pairs.add(pair);
    client.on('error', () => {});
    client.on('close', () => {
      pairs.delete(pair);
      pair.upstream?.destroy();
    });
    if (mode === 'refuse') return void client.destroy();
    if (mode === 'blackhole') {
      pair.swallowed = true;
      client.on('data', () => {});
      return;
    }
    const upstream = connect(target.port, target.host);
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    client.on('data', (chunk) => {
      if (mode === 'forward') upstream.write(chunk);
      else pair.swallowed = true;
    });
    upstream.on('data', (chunk) => {
      if (mode === 'forward') client.write(chunk);
      else pair.swallowed = true;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    port: (server.address() as AddressInfo).port,
    set(next, options = {}) {
      mode = next;
      for (const pair of pairs) {
        if (next === 'refuse' || (next === 'forward' && pair.swallowed && !options.keepSwallowed)) {
          pair.client.destroy();
          pair.upstream?.destroy();
        }
      }
    },
    close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
