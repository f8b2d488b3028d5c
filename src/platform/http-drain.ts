import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Server as NetServer, type Socket } from 'node:net';
import type { TlsCredentials } from './tls.ts';

/**
 * How long a keep-alive connection must stay idle, once draining, before it is closed. A client
 * may be sending its next request on it right now; closing at once would reset that request,
 * which then answers nothing. A request that comes in time is served, with `Connection: close`.
 */
const IDLE_GRACE_MS = 1_000;

/** Until the process has started, every request is told to come back in a moment. */
const starting: RequestListener = (_req, res) => {
  res.writeHead(503, { 'Retry-After': '1', 'Cache-Control': 'no-store', 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
  res.end('Starting: try again in a moment.\n');
};

/**
 * An HTTP server that can stop without dropping a request. `drain()` stops accepting
 * connections; every response from then on says `Connection: close` (so a client does not send
 * another on that connection), a connection is closed once it has been idle for IDLE_GRACE_MS,
 * and requests under way finish. Resolves when the last connection has closed.
 */
export class DrainableServer {
  readonly server: Server;
  #draining = false;
  /** Requests under way, per connection. */
  readonly #busy = new Map<Socket, number>();
  readonly #open = new Set<ServerResponse>();
  /** https: every TCP connection, for drain() to close those on which the client has sent nothing. */
  readonly #tcp = new Set<Socket>();
  #handler: RequestListener;

  /**
   * With `tls`, an https server (requests arrive on the TLS socket, which is what is tracked).
   * Without `handler`, requests are answered 503 until serve() gives one.
   */
  constructor(handler: RequestListener = starting, tls?: TlsCredentials) {
    this.#handler = handler;
    const serve = (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket;
      this.#busy.set(socket, (this.#busy.get(socket) ?? 0) + 1);
      this.#open.add(res);
      if (this.#draining) res.setHeader('Connection', 'close');
      res.once('close', () => {
        this.#open.delete(res);
        const left = (this.#busy.get(socket) ?? 1) - 1;
        this.#busy.set(socket, left);
        if (left === 0 && this.#draining) this.#closeWhenIdle(socket);
      });
      this.#handler(req, res);
    };
    this.server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, serve) : createServer(serve);
    this.server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.#busy.set(socket, 0);
      socket.once('close', () => this.#busy.delete(socket));
    });
    if (tls) {
      // The TCP connections under the TLS ones: the tracking above sees none before its handshake.
      this.server.on('connection', (socket: Socket) => {
        this.#tcp.add(socket);
        socket.once('close', () => this.#tcp.delete(socket));
      });
    }
  }

  /** Listens; a failure (the port in use, an address that is not this machine's) rejects. */
  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Hands the requests from now on to `handler` (the process has started). */
  serve(handler: RequestListener): void {
    this.#handler = handler;
  }

  drain(): Promise<void> {
    this.#draining = true;
    for (const res of this.#open) if (!res.headersSent) res.setHeader('Connection', 'close');
    for (const [socket, busy] of this.#busy) if (busy === 0) this.#closeWhenIdle(socket);
    // A TCP connection that has not begun its TLS handshake (a load balancer's port check, a
    // browser's preconnect) would hold the drain until the handshake times out (two minutes):
    // like an idle connection, it is closed after the grace period. Once a byte has come, the
    // handshake is under way and the connection is left to finish as any other.
    for (const socket of this.#tcp) {
      setTimeout(() => {
        if (socket.bytesRead === 0) socket.destroy();
      }, IDLE_GRACE_MS).unref();
    }
    // net.Server's close: http.Server's would also close idle keep-alive connections at once.
    return new Promise((resolve) => NetServer.prototype.close.call(this.server, () => resolve()));
  }

  #closeWhenIdle(socket: Socket): void {
    setTimeout(() => {
      if (this.#busy.get(socket) === 0) socket.end();
    }, IDLE_GRACE_MS).unref();
  }
}
