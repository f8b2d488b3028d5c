import { createServer, request, type RequestListener } from 'node:http';
import { Duplex } from 'node:stream';

/** A Fetch-compatible function, as openid-client's `customFetch` takes it. */
export type InProcessFetch = (
  url: string,
  options: { method: string; headers: Record<string, string>; body?: unknown; signal?: AbortSignal | undefined },
) => Promise<Response>;

/** Two connected in-memory streams: what one side writes, the other reads. */
function duplexPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const side = (other: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk, _encoding, callback) {
        other().push(chunk);
        callback();
      },
      final(callback) {
        other().push(null);
        callback();
      },
    });
  sides.push(
    side(() => sides[1]!),
    side(() => sides[0]!),
  );
  return [sides[0]!, sides[1]!];
}

function bodyOf(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(new Uint8Array(body));
  throw new TypeError('in-process fetch: unsupported request body');
}

function responseHeaders(raw: string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}

/**
 * A `fetch` that serves requests for `origin + pathPrefix` by handing them to `handler` over an
 * in-memory stream instead of the network: real HTTP/1.1 on both sides (Node's own parser and
 * client), but no socket, no port and no DNS. The tenant uses it to reach the demo IdP it hosts,
 * so the back channel works whatever address the tenant is published at (behind a proxy, in a
 * container, or in tests where nothing listens on `config.url` at all).
 */
export function inProcessFetch(handler: RequestListener, allowed: URL): InProcessFetch {
  const server = createServer(handler);
  const prefix = allowed.href.replace(/\/+$/, '');
  return async (url, options) => {
    const target = new URL(url);
    if (target.href !== prefix && !target.href.startsWith(`${prefix}/`)) {
      throw new TypeError(`in-process fetch only serves ${prefix}`);
    }
    const body = bodyOf(options.body);
    const [clientSide, serverSide] = duplexPair();
    server.emit('connection', serverSide);
    const headers: Record<string, string> = {
      ...options.headers,
      host: target.host,
      // oidc-provider runs with `proxy = true`: this is how it knows the public scheme.
      'x-forwarded-proto': target.protocol.slice(0, -1),
      connection: 'close',
      ...(body ? { 'content-length': String(body.length) } : {}),
    };
    try {
      return await new Promise<Response>((resolve, reject) => {
        const req = request(
          {
            method: options.method,
            path: target.pathname + target.search,
            headers,
            createConnection: () => clientSide as never,
            ...(options.signal ? { signal: options.signal } : {}),
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('error', reject);
            res.on('end', () => {
              const status = res.statusCode ?? 500;
              const payload = [204, 205, 304].includes(status) || options.method === 'HEAD' ? null : Buffer.concat(chunks);
              resolve(new Response(payload, { status, statusText: res.statusMessage, headers: responseHeaders(res.rawHeaders) }));
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    } finally {
      clientSide.destroy();
      serverSide.destroy();
    }
  };
}
