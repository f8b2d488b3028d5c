import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { formEncode, ManagementClient, type ManagementClientOptions } from '../../src/app/management/management-client.ts';
import { AccordError } from '../../src/platform/errors.ts';
import type { AppErrorCode } from '../../src/app/app-errors.ts';

// A stub that imitates Auth0 over real HTTP, so the client's fetch, headers, encoding and
// timeouts are exercised as they are against a tenant. Error bodies are Auth0's own.

const CLIENT_ID = 'app-backend-client';
const SECRET = 'S3cr3t-never-shown-0f9a';

interface Recorded {
  method: string;
  /** Raw request target as sent, e.g. /api/v2/users/auth0%7C1 */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Handler = (req: Recorded, res: ServerResponse) => void | Promise<void>;

interface Stub {
  url: string;
  requests: Recorded[];
  tokenRequests(): Recorded[];
  apiRequests(): Recorded[];
  close(): Promise<void>;
}

async function stub(handler: Handler): Promise<Stub> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(recorded);
      Promise.resolve(handler(recorded, res)).catch((err: unknown) => {
        res.statusCode = 599;
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    tokenRequests: () => requests.filter((r) => r.url === '/oauth/token'),
    apiRequests: () => requests.filter((r) => r.url.startsWith('/api/v2/')),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

/** Auth0's error body. */
function auth0Error(statusCode: number, error: string, message: string, errorCode: string) {
  return { statusCode, error, message, errorCode };
}

const TOO_MANY = auth0Error(429, 'Too Many Requests', 'Global limit has been reached', 'too_many_requests');
const UNAVAILABLE = auth0Error(503, 'Service Unavailable', 'The service is temporarily unavailable.', 'service_unavailable');
const INVALID_TOKEN = auth0Error(401, 'Unauthorized', 'Invalid token', 'invalid_token');

/** Answers /oauth/token with tok-1, tok-2, … */
function issueToken(res: ServerResponse, n: number, expiresIn = 86_400): void {
  send(res, 200, { access_token: `tok-${n}`, token_type: 'Bearer', expires_in: expiresIn, scope: 'read:users update:users' });
}

function user(id: string, extra: Record<string, unknown> = {}) {
  const [provider, ...rest] = id.split('|');
  return {
    user_id: id,
    email: 'jane@example.com',
    email_verified: true,
    name: 'Jane',
    nickname: 'jane',
    picture: 'https://x/p.png',
    created_at: '2024-01-01T00:00:00.000Z',
    updated_at: '2024-01-02T00:00:00.000Z',
    logins_count: 1,
    blocked: false,
    identities: [{ provider, user_id: rest.join('|'), connection: 'Username-Password-Authentication', isSocial: false }],
    user_metadata: {},
    app_metadata: {},
    ...extra,
  };
}

/** A stub whose token endpoint always succeeds and whose API runs `api` (n = 1-based API request count). */
async function tenant(api: (req: Recorded, res: ServerResponse, n: number) => void | Promise<void>, expiresIn?: number): Promise<Stub> {
  let tokens = 0;
  let calls = 0;
  return stub((req, res) => {
    if (req.url === '/oauth/token') return issueToken(res, ++tokens, expiresIn);
    return api(req, res, ++calls);
  });
}

function client(s: Stub, options: Partial<ManagementClientOptions> = {}): ManagementClient {
  return new ManagementClient({ issuer: s.url, clientId: CLIENT_ID, clientSecret: SECRET, baseDelayMs: 1, maxDelayMs: 50, ...options });
}

/** Asserts the promise rejects with an AccordError of that code, checks it leaks nothing, and returns it. */
async function rejectsWith(promise: Promise<unknown>, code: AppErrorCode): Promise<AccordError> {
  const err = await promise.then(
    () => assert.fail(`expected ${code}, got success`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AccordError, `expected AccordError, got ${String(err)}`);
  assert.equal(err.code, code, `${err.code}: ${err.message} ${JSON.stringify(err.details)}`);
  assertNoSecrets(err);
  return err;
}

function assertNoSecrets(err: AccordError): void {
  const shown = `${err.message} ${JSON.stringify(err.details ?? {})} ${err.stack ?? ''}`;
  assert.ok(!shown.includes(SECRET), 'client secret leaked into the error');
  assert.ok(!/tok-\d/.test(shown), 'access token leaked into the error');
}

const bearer = (r: Recorded) => r.headers.authorization;

describe('ManagementClient: token', () => {
  it('requests a client-credentials token with a form body and caches it across calls', async () => {
    const s = await tenant((req, res) => {
      if (req.url === '/api/v2/connections') return send(res, 200, [{ id: 'con_1', name: 'email', strategy: 'email' }]);
      return send(res, 200, user('auth0|1'));
    });
    try {
      const c = client(s);
      const u = await c.getUser('auth0|1');
      assert.equal(u.user_id, 'auth0|1');
      assert.deepEqual(await c.connections(), [{ id: 'con_1', name: 'email', strategy: 'email' }]);
      await c.getUser('auth0|1');

      assert.equal(s.tokenRequests().length, 1);
      const [tokenReq] = s.tokenRequests();
      assert.equal(tokenReq!.method, 'POST');
      // openid-client's client-credentials grant: a form body (RFC 6749), the secret in it (client_secret_post).
      assert.match(String(tokenReq!.headers['content-type']), /^application\/x-www-form-urlencoded/);
      assert.deepEqual(Object.fromEntries(new URLSearchParams(tokenReq!.body)), {
        grant_type: 'client_credentials',
        client_id: CLIENT_ID,
        client_secret: SECRET,
        audience: `${s.url}/api/v2/`,
      });
      assert.equal(s.apiRequests().length, 3);
      for (const r of s.apiRequests()) assert.equal(bearer(r), 'Bearer tok-1');
    } finally {
      await s.close();
    }
  });

  it('honours audience and tokenEndpoint overrides', async () => {
    let tokens = 0;
    const s = await stub((req, res) => {
      if (req.url === '/custom/token') return issueToken(res, ++tokens);
      return send(res, 200, user('auth0|1'));
    });
    try {
      await client(s, { audience: 'https://tenant.example/api/v2/', tokenEndpoint: `${s.url}/custom/token` }).getUser('auth0|1');
      assert.equal(new URLSearchParams(s.requests[0]!.body).get('audience'), 'https://tenant.example/api/v2/');
      assert.equal(s.requests[0]!.url, '/custom/token');
    } finally {
      await s.close();
    }
  });

  it('refreshes the token refreshSkewSeconds before it expires', async () => {
    // expires_in 61 with a 60 s skew: fresh for one second, then refreshed.
    const s = await tenant((_req, res) => send(res, 200, user('auth0|1')), 61);
    try {
      const c = client(s, { refreshSkewSeconds: 60 });
      await c.getUser('auth0|1');
      await c.getUser('auth0|1');
      assert.equal(s.tokenRequests().length, 1, 'still fresh: cached');
      await new Promise((r) => setTimeout(r, 1100));
      await c.getUser('auth0|1');
      assert.equal(s.tokenRequests().length, 2, 'refreshed after the skewed expiry');
      assert.deepEqual(s.apiRequests().map(bearer), ['Bearer tok-1', 'Bearer tok-1', 'Bearer tok-2']);
    } finally {
      await s.close();
    }
  });

  it('shares one in-flight token request between concurrent callers', async () => {
    let tokens = 0;
    const s = await stub(async (req, res) => {
      if (req.url === '/oauth/token') {
        await new Promise((r) => setTimeout(r, 100));
        return issueToken(res, ++tokens);
      }
      return send(res, 200, user('auth0|1'));
    });
    try {
      const c = client(s);
      const users = await Promise.all(Array.from({ length: 5 }, () => c.getUser('auth0|1')));
      assert.equal(users.length, 5);
      assert.equal(s.tokenRequests().length, 1);
      assert.equal(s.apiRequests().length, 5);
      for (const r of s.apiRequests()) assert.equal(bearer(r), 'Bearer tok-1');
    } finally {
      await s.close();
    }
  });

  it('after a failed token request, the next call asks again (no cached failure)', async () => {
    let tokens = 0;
    const s = await stub((req, res) => {
      if (req.url === '/oauth/token') return ++tokens === 1 ? send(res, 503, UNAVAILABLE) : issueToken(res, tokens);
      return send(res, 200, user('auth0|1'));
    });
    try {
      const c = client(s, { retries: 0 });
      await rejectsWith(c.getUser('auth0|1'), 'management_unavailable');
      assert.equal((await c.getUser('auth0|1')).user_id, 'auth0|1');
      assert.equal(s.tokenRequests().length, 2);
    } finally {
      await s.close();
    }
  });

  it('a 401 from the API drops the token, fetches one new token and retries once', async () => {
    const s = await tenant((req, res) => (bearer(req) === 'Bearer tok-1' ? send(res, 401, INVALID_TOKEN) : send(res, 200, user('auth0|1'))));
    try {
      const c = client(s);
      assert.equal((await c.getUser('auth0|1')).user_id, 'auth0|1');
      assert.equal(s.tokenRequests().length, 2);
      assert.deepEqual(s.apiRequests().map(bearer), ['Bearer tok-1', 'Bearer tok-2']);
      // The new token is the cached one now.
      await c.getUser('auth0|1');
      assert.equal(s.tokenRequests().length, 2);
    } finally {
      await s.close();
    }
  });

  it('a 401 that persists after the new token is management_unauthorized, without looping', async () => {
    const s = await tenant((_req, res) => send(res, 401, INVALID_TOKEN));
    try {
      const err = await rejectsWith(client(s).getUser('auth0|1'), 'management_unauthorized');
      assert.equal(s.tokenRequests().length, 2);
      assert.equal(s.apiRequests().length, 2);
      assert.deepEqual(err.details, { status: 401, errorCode: 'invalid_token', apiMessage: 'Invalid token' });
    } finally {
      await s.close();
    }
  });

  it('a refused token request (401 on /oauth/token) is management_unauthorized and never reaches the API', async () => {
    const s = await stub((req, res) => {
      if (req.url === '/oauth/token') return send(res, 401, { error: 'access_denied', error_description: 'Unauthorized' });
      return send(res, 200, user('auth0|1'));
    });
    try {
      const err = await rejectsWith(client(s).getUser('auth0|1'), 'management_unauthorized');
      assert.match(err.message, /MANAGEMENT_CLIENT_ID/);
      assert.deepEqual(err.details, { status: 401, errorCode: 'access_denied', apiMessage: 'Unauthorized' });
      assert.equal(s.tokenRequests().length, 1, 'a refusal is not retried');
      assert.equal(s.apiRequests().length, 0);
    } finally {
      await s.close();
    }
  });

  it('a 403 from the API (missing scope) is management_unauthorized and not retried', async () => {
    const s = await tenant((_req, res) =>
      send(res, 403, auth0Error(403, 'Forbidden', 'Insufficient scope, expected any of: read:users', 'insufficient_scope')),
    );
    try {
      const err = await rejectsWith(client(s).getUser('auth0|1'), 'management_unauthorized');
      assert.match(err.message, /scope/);
      assert.equal(err.details?.errorCode, 'insufficient_scope');
      assert.equal(s.apiRequests().length, 1);
      assert.equal(s.tokenRequests().length, 1);
    } finally {
      await s.close();
    }
  });

  it('a token endpoint answering 200 with a body that is not a token is management_error', async () => {
    const s = await stub((req, res) => (req.url === '/oauth/token' ? send(res, 200, { token_type: 'Bearer' }) : send(res, 200, user('auth0|1'))));
    try {
      const err = await rejectsWith(client(s).getUser('auth0|1'), 'management_error');
      assert.equal(err.details?.status, 200);
      assert.equal(s.apiRequests().length, 0);
    } finally {
      await s.close();
    }
  });
});

describe('ManagementClient: retries', () => {
  it('retries a 429 after retry-after seconds, then succeeds', async () => {
    const s = await tenant((_req, res, n) => (n === 1 ? send(res, 429, TOO_MANY, { 'retry-after': '1' }) : send(res, 200, user('auth0|1'))));
    try {
      const started = Date.now();
      // maxDelayMs above one second so the header is honoured in full.
      assert.equal((await client(s, { maxDelayMs: 5000 }).getUser('auth0|1')).user_id, 'auth0|1');
      assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms, expected retry-after: 1`);
      assert.equal(s.apiRequests().length, 2);
    } finally {
      await s.close();
    }
  });

  it("honours Auth0's x-ratelimit-reset, capped at maxDelayMs", async () => {
    const s = await tenant((_req, res, n) =>
      n === 1
        ? send(res, 429, TOO_MANY, { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 60) })
        : send(res, 200, user('auth0|1')),
    );
    try {
      const started = Date.now();
      await client(s, { baseDelayMs: 1, maxDelayMs: 300 }).getUser('auth0|1');
      const waited = Date.now() - started;
      assert.ok(waited >= 280 && waited < 2000, `waited ${waited} ms, expected the 300 ms cap (base delay is 1 ms)`);
      assert.equal(s.apiRequests().length, 2);
    } finally {
      await s.close();
    }
  });

  it('429 on every attempt: retries, then too_many_requests with the details of the last answer', async () => {
    const s = await tenant((_req, res) => send(res, 429, TOO_MANY, { 'retry-after': '30' }));
    try {
      const started = Date.now();
      const err = await rejectsWith(client(s, { retries: 2, maxDelayMs: 20 }).getUser('auth0|1'), 'too_many_requests');
      assert.ok(Date.now() - started < 1000, 'retry-after: 30 is capped at maxDelayMs');
      assert.equal(s.apiRequests().length, 3, 'retries: 2 means three attempts');
      assert.deepEqual(err.details, { status: 429, errorCode: 'too_many_requests', apiMessage: 'Global limit has been reached' });
    } finally {
      await s.close();
    }
  });

  it('the default is three retries (four attempts)', async () => {
    const s = await tenant((_req, res) => send(res, 503, UNAVAILABLE));
    try {
      await rejectsWith(client(s).getUser('auth0|1'), 'management_unavailable');
      assert.equal(s.apiRequests().length, 4);
    } finally {
      await s.close();
    }
  });

  it('retries a 503, then succeeds', async () => {
    const s = await tenant((_req, res, n) => (n <= 2 ? send(res, 503, UNAVAILABLE) : send(res, 200, [user('auth0|1')])));
    try {
      const users = await client(s).usersByEmail('jane@example.com');
      assert.equal(users.length, 1);
      assert.equal(s.apiRequests().length, 3);
      assert.equal(s.tokenRequests().length, 1);
    } finally {
      await s.close();
    }
  });

  it('5xx after all retries is management_unavailable with the status', async () => {
    const s = await tenant((_req, res) => send(res, 500, '<html>Internal Server Error</html>', { 'content-type': 'text/html' }));
    try {
      const err = await rejectsWith(client(s, { retries: 1 }).getUser('auth0|1'), 'management_unavailable');
      assert.equal(s.apiRequests().length, 2);
      assert.deepEqual(err.details, { status: 500, errorCode: undefined, apiMessage: undefined });
    } finally {
      await s.close();
    }
  });

  it('a link (POST) is not retried on 5xx, which may come after the link happened, but is retried on 429', async () => {
    const s = await tenant((_req, res, n) => {
      if (n === 1) return send(res, 429, TOO_MANY, { 'retry-after': '0' });
      return send(res, 503, UNAVAILABLE);
    });
    try {
      await rejectsWith(client(s).linkIdentity('auth0|1', { provider: 'google-oauth2', user_id: '115' }), 'management_unavailable');
      assert.equal(s.apiRequests().length, 2, 'one retry for the 429, none for the 503');
    } finally {
      await s.close();
    }
  });

  it('a closed port is management_unavailable after the retries', async () => {
    const probe = await stub(() => undefined);
    const issuer = probe.url;
    await probe.close();
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const c = new ManagementClient({ issuer, clientId: CLIENT_ID, clientSecret: SECRET, retries: 2, baseDelayMs: 1, fetch: counting });
    const err = await rejectsWith(c.getUser('auth0|1'), 'management_unavailable');
    assert.equal(calls, 3, 'the token request was retried');
    assert.equal(err.details?.cause, 'ECONNREFUSED');
    assert.equal(err.details?.status, undefined);
  });

  it('timeoutMs bounds the whole exchange: a request that outlives it is management_unavailable (cause: timeout), not retried past it', async () => {
    const s = await stub((req, res) => {
      if (req.url === '/oauth/token') return issueToken(res, 1);
      // Never answers; close() destroys the socket.
    });
    try {
      const started = Date.now();
      const err = await rejectsWith(client(s, { timeoutMs: 100, retries: 1 }).getUser('auth0|1'), 'management_unavailable');
      assert.equal(err.details?.cause, 'timeout');
      assert.equal(s.apiRequests().length, 1, 'no time was left for a retry');
      assert.ok(Date.now() - started < 2000);
    } finally {
      await s.close();
    }
  });

  it('a tenant answering 503 with Retry-After longer than what timeoutMs leaves: answered at once, not waited for', async () => {
    const s = await tenant((_req, res) =>
      send(
        res,
        503,
        { statusCode: 503, error: 'Service Unavailable', message: 'Try again in a minute.', errorCode: 'temporarily_unavailable' },
        { 'retry-after': '30' },
      ),
    );
    try {
      const started = Date.now();
      const err = await rejectsWith(client(s, { timeoutMs: 1_000, retries: 3, maxDelayMs: 5_000 }).getUser('auth0|1'), 'management_unavailable');
      assert.equal(err.details?.status, 503);
      assert.equal(s.apiRequests().length, 1, 'a retry 5 s later would not fit in 1 s');
      assert.ok(Date.now() - started < 1_000, `answered after ${Date.now() - started} ms`);
    } finally {
      await s.close();
    }
  });
});

describe('ManagementClient: requests and errors', () => {
  it('encodes path segments: `|` and `/` in user ids, provider and identity id on unlink', async () => {
    const s = await tenant((req, res) => {
      if (req.method === 'DELETE')
        return send(res, 200, [{ provider: 'auth0', user_id: 'a/b', connection: 'Username-Password-Authentication', isSocial: false }]);
      return send(res, 200, user('auth0|a/b'));
    });
    try {
      const c = client(s);
      await c.getUser('auth0|a/b');
      await c.unlinkIdentity('auth0|a/b', 'oidc|x', 'sub|1?x=1');
      assert.deepEqual(
        s.apiRequests().map((r) => `${r.method} ${r.url}`),
        ['GET /api/v2/users/auth0%7Ca%2Fb', 'DELETE /api/v2/users/auth0%7Ca%2Fb/identities/oidc%7Cx/sub%7C1%3Fx%3D1'],
      );
    } finally {
      await s.close();
    }
  });

  it('writes an email into a users-by-email path as URLSearchParams does, without building one', () => {
    const samples = ['jane@example.com', 'Jane+tag@Example.com', "a b!'()~*-._@x", 'é@ü.de', '😀@x', '%20&=?#/\\', '\uD800x', 'x\uDC00', ''];
    for (let c = 0; c < 0x180; c++) samples.push(`a${String.fromCharCode(c)}b`);
    for (const sample of samples)
      assert.equal(formEncode(sample), new URLSearchParams({ email: sample }).toString().slice('email='.length), JSON.stringify(sample));
    const Original = globalThis.URLSearchParams;
    let built = 0;
    globalThis.URLSearchParams = class extends Original {
      constructor(...args: ConstructorParameters<typeof URLSearchParams>) {
        super(...args);
        built++;
      }
    };
    try {
      assert.equal(
        new ManagementClient({ issuer: 'http://127.0.0.1:1', audience: 'a', clientId: 'c', clientSecret: 's' }).cachedUsersByEmail('jane+1@example.com'),
        undefined,
      );
      assert.equal(formEncode('jane+1@example.com'), 'jane%2B1%40example.com');
    } finally {
      globalThis.URLSearchParams = Original;
    }
    assert.equal(built, 0);
  });

  it('usersByEmail and userLogs send their query strings', async () => {
    const s = await tenant((req, res) => {
      if (req.url.startsWith('/api/v2/users-by-email')) return send(res, 200, [user('auth0|1'), user('email|2')]);
      return send(res, 200, [
        { log_id: 'l2', date: '2024-01-02T00:00:00.000Z', type: 'sapi', description: 'Link', user_id: 'auth0|1', details: { op: 'link' } },
        // Accord's tenant sends null for an absent user_id; Auth0 omits it.
        { log_id: 'l1', date: '2024-01-01T00:00:00.000Z', type: 'sapi', description: 'Create', user_id: null, actor: null, details: {} },
      ]);
    });
    try {
      const c = client(s);
      const users = await c.usersByEmail('Jane+tag@Example.com');
      assert.deepEqual(
        users.map((u) => u.user_id),
        ['auth0|1', 'email|2'],
      );
      const logs = await c.userLogs('auth0|1', { perPage: 5 });
      assert.deepEqual(
        logs.map((l) => l.log_id),
        ['l2', 'l1'],
      );
      assert.equal(logs[1]!.user_id, undefined);
      assert.equal(logs[1]!.actor, null, 'unknown fields pass through');
      await c.userLogs('auth0|1');

      const urls = s.apiRequests().map((r) => new URL(r.url, s.url));
      assert.equal(urls[0]!.pathname, '/api/v2/users-by-email');
      assert.equal(urls[0]!.searchParams.get('email'), 'Jane+tag@Example.com', 'the + survives encoding');
      assert.equal(urls[1]!.pathname, '/api/v2/users/auth0%7C1/logs');
      assert.equal(urls[1]!.searchParams.get('per_page'), '5');
      assert.equal(urls[1]!.searchParams.get('sort'), 'date:-1');
      assert.equal(urls[2]!.searchParams.get('per_page'), '50');
      await assert.rejects(
        () => c.userLogs('auth0|1', { perPage: 101 }),
        (e: unknown) => e instanceof AccordError && e.code === 'invalid_query_string',
      );
    } finally {
      await s.close();
    }
  });

  it('updateUser sends a PATCH with only the metadata fields, null included', async () => {
    const s = await tenant((req, res) => send(res, 200, user('auth0|1', { user_metadata: JSON.parse(req.body).user_metadata })));
    try {
      const body = { user_metadata: { theme: 'dark', old: null }, app_metadata: null, email: 'evil@x.com' } as never;
      const u = await client(s).updateUser('auth0|1', body);
      const [r] = s.apiRequests();
      assert.equal(r!.method, 'PATCH');
      assert.equal(r!.url, '/api/v2/users/auth0%7C1');
      assert.match(String(r!.headers['content-type']), /^application\/json/);
      assert.deepEqual(JSON.parse(r!.body), { user_metadata: { theme: 'dark', old: null }, app_metadata: null });
      assert.deepEqual(u.user_metadata, { theme: 'dark', old: null });
    } finally {
      await s.close();
    }
  });

  it('linkIdentity posts provider/user_id/connection_id and returns the identities (numeric ids as strings)', async () => {
    const s = await tenant((_req, res) =>
      send(res, 201, [
        { provider: 'auth0', user_id: '1', connection: 'Username-Password-Authentication', isSocial: false },
        { provider: 'github', user_id: 4242, connection: 'github', isSocial: true, profileData: { email: 'jane@example.com' } },
      ]),
    );
    try {
      const identities = await client(s).linkIdentity('auth0|1', { provider: 'github', user_id: '4242', connection_id: 'con_abc' });
      assert.equal(identities[1]!.user_id, '4242');
      assert.deepEqual(identities[1]!.profileData, { email: 'jane@example.com' });
      const [r] = s.apiRequests();
      assert.equal(`${r!.method} ${r!.url}`, 'POST /api/v2/users/auth0%7C1/identities');
      assert.deepEqual(JSON.parse(r!.body), { provider: 'github', user_id: '4242', connection_id: 'con_abc' });
    } finally {
      await s.close();
    }
  });

  it('409 on link is link_identity_in_use with the details', async () => {
    const body = auth0Error(409, 'Conflict', 'Specified identity already exists.', 'identity_conflict');
    const s = await tenant((_req, res) => send(res, 409, body));
    try {
      const err = await rejectsWith(client(s).linkIdentity('auth0|1', { provider: 'google-oauth2', user_id: '115' }), 'link_identity_in_use');
      assert.deepEqual(err.details, { status: 409, errorCode: 'identity_conflict', apiMessage: 'Specified identity already exists.' });
      assert.equal(s.apiRequests().length, 1);
    } finally {
      await s.close();
    }
  });

  it("409 `conflict` (Accord's tenant: a concurrent change collided) stays conflict", async () => {
    const s = await tenant((_req, res) => send(res, 409, auth0Error(409, 'Conflict', 'The change collided with a concurrent change.', 'conflict')));
    try {
      await rejectsWith(client(s).linkIdentity('auth0|1', { provider: 'google-oauth2', user_id: '115' }), 'conflict');
    } finally {
      await s.close();
    }
  });

  it('400 is invalid_body with the details', async () => {
    const body = auth0Error(
      400,
      'Bad Request',
      "Payload validation error: 'Expected type object but found type string' on property user_metadata.",
      'invalid_body',
    );
    const s = await tenant((_req, res) => send(res, 400, body));
    try {
      const err = await rejectsWith(client(s).updateUser('auth0|1', { user_metadata: {} }), 'invalid_body');
      assert.deepEqual(err.details, { status: 400, errorCode: 'invalid_body', apiMessage: body.message });
      assert.equal(s.apiRequests().length, 1, 'a 400 is not retried');
    } finally {
      await s.close();
    }
  });

  it('404 is inexistent_user, or inexistent_identity on unlink / when errorCode says so', async () => {
    const s = await tenant((req, res) => {
      if (req.url.includes('/identities/')) {
        if (req.url.includes('/users/auth0%7Cgone/')) return send(res, 404, auth0Error(404, 'Not Found', 'The user does not exist.', 'inexistent_user'));
        return send(res, 404, auth0Error(404, 'Not Found', 'The identity does not exist on this user.', 'inexistent_identity'));
      }
      return send(res, 404, auth0Error(404, 'Not Found', 'The user does not exist.', 'inexistent_user'));
    });
    try {
      const c = client(s);
      const missingUser = await rejectsWith(c.getUser('auth0|nobody'), 'inexistent_user');
      assert.deepEqual(missingUser.details, { status: 404, errorCode: 'inexistent_user', apiMessage: 'The user does not exist.' });
      await rejectsWith(c.unlinkIdentity('auth0|1', 'google-oauth2', '115'), 'inexistent_identity');
      await rejectsWith(c.unlinkIdentity('auth0|gone', 'google-oauth2', '115'), 'inexistent_user');
      assert.equal(s.apiRequests().length, 3);
    } finally {
      await s.close();
    }
  });

  it('404 without an Auth0 body on unlink is inexistent_identity', async () => {
    const s = await tenant((_req, res) => send(res, 404, 'Not Found', { 'content-type': 'text/plain' }));
    try {
      const err = await rejectsWith(client(s).unlinkIdentity('auth0|1', 'google-oauth2', '115'), 'inexistent_identity');
      assert.deepEqual(err.details, { status: 404, errorCode: undefined, apiMessage: undefined });
    } finally {
      await s.close();
    }
  });

  it('another status is management_error', async () => {
    const s = await tenant((_req, res) => send(res, 418, auth0Error(418, "I'm a teapot", 'Short and stout.', 'teapot')));
    try {
      const err = await rejectsWith(client(s).getUser('auth0|1'), 'management_error');
      assert.match(err.message, /418/);
      assert.equal(s.apiRequests().length, 1);
    } finally {
      await s.close();
    }
  });

  it('an answer nested more than 32 levels is refused before it is parsed: management_error, never a RangeError (docs/security.md case 35)', async () => {
    const deep = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
    const withMetadata = (inner: string) => JSON.stringify([user('auth0|1', { user_metadata: { deep: '@' } })]).replace('"@"', inner);
    for (const levels of [29, 30, 5000, 200_000]) {
      const s = await tenant((req, res) =>
        req.url.startsWith('/api/v2/users-by-email')
          ? send(res, 200, withMetadata(deep(levels)))
          : send(res, 400, `{"statusCode":400,"error":"Bad Request","message":${deep(levels)},"errorCode":"invalid_body"}`),
      );
      try {
        const c = client(s);
        if (levels === 29) {
          // The array, a user, its user_metadata, then 29 more: 32 levels in all, the most accepted.
          const [found] = await c.usersByEmail('jane@example.com');
          assert.equal(JSON.stringify(found!.user_metadata), `{"deep":${deep(29)}}`);
          continue;
        }
        const err = await rejectsWith(c.usersByEmail('jane@example.com'), 'management_error');
        assert.deepEqual(err.details?.issues, ['the body nests more than 32 levels deep']);
        // An error body nested as deeply is not read; the status alone decides.
        await rejectsWith(c.updateUser('auth0|1', { user_metadata: { a: 1 } }), 'invalid_body');
      } finally {
        await s.close();
      }
    }
  });

  it('a success body of the wrong shape is management_error, not a TypeError', async () => {
    const bodies: Array<[string, unknown]> = [
      ['not JSON', '<html>oops</html>'],
      ['a user without identities', { user_id: 'auth0|1', created_at: 'x', updated_at: 'y' }],
      ['a numeric user_id', user('auth0|1', { user_id: 5 })],
      ['null', 'null'],
    ];
    for (const [label, body] of bodies) {
      const s = await tenant((_req, res) => send(res, 200, body));
      try {
        const err = await rejectsWith(client(s).getUser('auth0|1'), 'management_error');
        assert.equal(err.details?.status, 200, label);
        assert.ok(Array.isArray(err.details?.issues), label);
      } finally {
        await s.close();
      }
    }
    // An object where an array is expected.
    const s = await tenant((_req, res) => send(res, 200, user('auth0|1')));
    try {
      await rejectsWith(client(s).usersByEmail('jane@example.com'), 'management_error');
      await rejectsWith(client(s).connections(), 'management_error');
    } finally {
      await s.close();
    }
  });

  it('never puts the client secret or the token in errors, even when the server echoes them', async () => {
    const s = await stub((req, res) => {
      if (req.url === '/oauth/token') {
        const sent = new URLSearchParams(req.body).get('client_secret');
        return send(res, 401, { error: 'access_denied', error_description: `Wrong secret ${sent} for ${CLIENT_ID}` });
      }
      return send(res, 500, {});
    });
    const echoApi = await tenant((req, res) =>
      send(res, 400, auth0Error(400, 'Bad Request', `Bad header ${String(req.headers.authorization)}`, 'invalid_body')),
    );
    try {
      const refused = await rejectsWith(client(s).getUser('auth0|1'), 'management_unauthorized');
      assert.equal(refused.details?.apiMessage, `Wrong secret [redacted] for ${CLIENT_ID}`);
      const invalid = await rejectsWith(client(echoApi).getUser('auth0|1'), 'invalid_body');
      assert.equal(invalid.details?.apiMessage, 'Bad header Bearer [redacted]');
    } finally {
      await s.close();
      await echoApi.close();
    }
  });

  it('does not show the secret when the client itself is inspected or serialised', async () => {
    const { inspect } = await import('node:util');
    const c = new ManagementClient({ issuer: 'http://127.0.0.1:1', clientId: CLIENT_ID, clientSecret: SECRET });
    assert.ok(!inspect(c, { depth: 5 }).includes(SECRET));
    assert.ok(!JSON.stringify(c).includes(SECRET));
  });
});

describe('ManagementClient: read cache', () => {
  it('reuses a read within readCacheTtlMs, shares one in-flight read, and expires it after', async (t) => {
    // The cache's clock stands still but for the test's ticks: a slow machine's reads take no time of the TTL.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const s = await tenant((_req, res) => send(res, 200, user('auth0|1')));
    try {
      const c = client(s, { readCacheTtlMs: 60 });
      const [a, b] = await Promise.all([c.getUser('auth0|1'), c.getUser('auth0|1')]);
      assert.equal(a, b);
      t.mock.timers.tick(59);
      await c.getUser('auth0|1');
      assert.equal(s.apiRequests().length, 1, 'one request for three reads');
      t.mock.timers.tick(1);
      await c.getUser('auth0|1');
      assert.equal(s.apiRequests().length, 2, 'read again after the TTL');
    } finally {
      await s.close();
    }
  });

  it('fresh reads skip the cache; any write forgets every cached read', async () => {
    const s = await tenant((req, res) => {
      if (req.method === 'PATCH') return send(res, 200, user('auth0|1'));
      if (req.url.startsWith('/api/v2/users-by-email')) return send(res, 200, [user('auth0|1')]);
      return send(res, 200, user('auth0|1'));
    });
    try {
      const c = client(s, { readCacheTtlMs: 60_000 });
      await c.getUser('auth0|1');
      await c.usersByEmail('jane@example.com');
      await c.getUser('auth0|1', { fresh: true });
      assert.equal(s.apiRequests().length, 3, 'fresh went to the API');
      await c.getUser('auth0|1');
      assert.equal(s.apiRequests().length, 3, 'the cached read is still used');
      await c.updateUser('auth0|1', { user_metadata: { a: 1 } });
      await c.getUser('auth0|1');
      await c.usersByEmail('jane@example.com');
      assert.equal(s.apiRequests().length, 6, 'after the write both reads went to the API again');
    } finally {
      await s.close();
    }
  });

  it('a fresh read refreshes the cache: the next cached read returns what it saw', async () => {
    const s = await tenant((_req, res, n) => send(res, 200, { ...user('auth0|1'), email_verified: n >= 2 }));
    try {
      const c = client(s, { readCacheTtlMs: 60_000 });
      assert.equal((await c.getUser('auth0|1')).email_verified, false);
      assert.equal((await c.getUser('auth0|1', { fresh: true })).email_verified, true);
      assert.equal((await c.getUser('auth0|1')).email_verified, true, 'the cached read is the fresh one');
      assert.equal(s.apiRequests().length, 2);
    } finally {
      await s.close();
    }
  });

  it('hands a read at hand without a promise only once it has arrived, and never where a read would load', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const s = await tenant((req, res) => {
      if (req.method === 'PATCH') return send(res, 200, user('auth0|1'));
      if (req.url.startsWith('/api/v2/users-by-email')) return send(res, 200, [user('auth0|1')]);
      if (req.url.includes('/logs')) return send(res, 200, []);
      return send(res, 200, user('auth0|1'));
    });
    try {
      const c = client(s, { readCacheTtlMs: 60 });
      const reading = c.getUser('auth0|1');
      assert.equal(c.cachedUser('auth0|1'), undefined, 'not while the read is under way');
      const read = await reading;
      assert.equal(c.cachedUser('auth0|1'), read);
      const logs = await c.userLogs('auth0|1', { perPage: 50 });
      assert.equal(c.cachedUserLogs('auth0|1', 50), logs);
      assert.equal(c.cachedUserLogs('auth0|1', 20), undefined);
      assert.deepEqual(
        s.apiRequests().map((r) => r.url),
        ['/api/v2/users/auth0%7C1', '/api/v2/users/auth0%7C1/logs?per_page=50&sort=date%3A-1'],
      );
      const byEmail = await c.usersByEmail('jane+1@example.com');
      assert.equal(c.cachedUsersByEmail('jane+1@example.com'), byEmail);
      await c.updateUser('auth0|1', { user_metadata: { a: 1 } });
      assert.equal(c.cachedUser('auth0|1'), undefined, 'a write forgets it');
      await c.getUser('auth0|1');
      t.mock.timers.tick(60);
      assert.equal(c.cachedUser('auth0|1'), undefined, 'past the TTL');
      assert.equal(client(s, {}).cachedUser('auth0|1'), undefined, 'without a read cache');
    } finally {
      await s.close();
    }
  });

  it('a failed read is not remembered', async () => {
    const s = await tenant((_req, res, n) =>
      n === 1 ? send(res, 404, auth0Error(404, 'Not Found', 'The user does not exist.', 'inexistent_user')) : send(res, 200, user('auth0|1')),
    );
    try {
      const c = client(s, { readCacheTtlMs: 60_000 });
      await rejectsWith(c.getUser('auth0|1'), 'inexistent_user');
      assert.equal((await c.getUser('auth0|1')).user_id, 'auth0|1');
    } finally {
      await s.close();
    }
  });
});
