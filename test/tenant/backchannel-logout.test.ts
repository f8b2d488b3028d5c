/**
 * OpenID Connect Back-Channel Logout at the tenant (docs/security.md case 28): whenever the
 * tenant ends a user's sessions — sign-out, password reset, block, deletion, a secondary linked
 * away — it posts a signed logout token to the back-channel URI of the clients that registered
 * one. A relying party on a real port receives them and verifies each as an app would.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { pino } from 'pino';
import { SYSTEM_ACTOR } from '../../src/tenant/directory/audit.ts';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/tenant/oidc/backchannel-logout.ts';
import { testDatabases } from '../helpers/databases.ts';
import { api } from '../helpers/management.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import {
  authorize,
  browser,
  type Browser,
  csrfOf,
  exchangeCode,
  followToCallback,
  RP_REDIRECT_URI,
  type RelyingParty,
  type Tokens,
} from '../helpers/login-flow.ts';
import { startTestTenant, TEST_ISSUER, type TestTenant } from '../helpers/tenant.ts';

const CONNECTION = 'Username-Password-Authentication';
const PASSWORD = 'Correct-horse-9';
const NEW_PASSWORD = 'Battery-staple-8';

interface Received {
  clientId: string;
  typ: string | undefined;
  claims: JWTPayload;
}

/**
 * A relying party's back-channel endpoint: it verifies every logout token against the tenant's
 * JWKS (signature, issuer, its own client id as audience) and records what it was told. It
 * answers 200, or what `answers` says for the next requests; `hold` keeps requests waiting.
 */
class RelyingPartyEndpoint {
  readonly received: Received[] = [];
  readonly refused: string[] = [];
  answers: number[] = [];
  hold = false;
  readonly #held: ServerResponse[] = [];
  #server!: Server;
  url = '';

  constructor(
    private readonly jwks: ReturnType<typeof createLocalJWKSet>,
    private readonly clientIdOf: (path: string) => string,
  ) {}

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      void this.#handle(req, res);
    });
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    assert.equal(req.method, 'POST');
    assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
    const token = new URLSearchParams(body).get('logout_token') ?? '';
    const clientId = this.clientIdOf(req.url ?? '');
    try {
      const { payload } = await jwtVerify(token, this.jwks, { issuer: `${TEST_ISSUER}/`, audience: clientId, algorithms: ['RS256'] });
      this.received.push({ clientId, typ: decodeProtectedHeader(token).typ, claims: payload });
    } catch (err) {
      this.refused.push((err as Error).message);
    }
    if (this.hold) {
      this.#held.push(res);
      return;
    }
    res.statusCode = this.answers.shift() ?? 200;
    res.end();
  }

  release(): void {
    for (const res of this.#held.splice(0)) {
      res.statusCode = 200;
      res.end();
    }
  }

  async waitFor(count: number, what: string, timeoutMs = 5000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      assert.ok(Date.now() < deadline, `${what}: expected ${count} logout token(s), got ${this.received.length} (refused: ${this.refused.join('; ')})`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.received.slice(0, count);
  }

  held(): number {
    return this.#held.length;
  }

  clear(): void {
    this.received.length = 0;
    this.refused.length = 0;
  }

  close(): Promise<void> {
    this.release();
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}

/** Every claim a logout token must carry, and none it must not (spec section 2.4). */
function assertLogoutToken(received: Received, expected: { sub: string; sid?: string | undefined }): void {
  const { claims } = received;
  assert.equal(received.typ, 'logout+jwt');
  assert.equal(claims.iss, `${TEST_ISSUER}/`);
  assert.equal(claims.sub, expected.sub);
  assert.equal(claims.sid, expected.sid, expected.sid ? 'names the tenant session' : 'an account-wide token names no session');
  assert.deepEqual(claims.events, { [BACKCHANNEL_LOGOUT_EVENT]: {} });
  assert.equal(typeof claims.jti, 'string');
  assert.ok(claims.jti!.length >= 16);
  assert.equal('nonce' in claims, false);
  const now = Math.floor(Date.now() / 1000);
  assert.ok(claims.iat! <= now + 1 && claims.iat! >= now - 30, 'issued just now');
  assert.ok(claims.exp! > now && claims.exp! <= claims.iat! + 120, 'expires within two minutes');
}

/** Signs up through the password connection in `agent`, then in, leaving a tenant session behind. */
async function signUp(t: TestTenant, rp: RelyingParty, agent: Browser, email = uniqueEmail('bcl')): Promise<Tokens> {
  const auth = await authorize(agent, rp);
  const base = `/login/${auth.uid}/${CONNECTION}`;
  const page = await agent.get(`${base}/signup`);
  const signedUp = await agent
    .post(`${base}/signup`)
    .type('form')
    .send({ _csrf: csrfOf(page.text), email, password: PASSWORD });
  assert.equal(signedUp.status, 200, signedUp.text.slice(0, 400));
  const res = await agent
    .post(base)
    .type('form')
    .send({ _csrf: csrfOf(page.text), email, password: PASSWORD });
  assert.equal(res.status, 303, res.text.slice(0, 400));
  return exchangeCode(t.tenant, rp, auth, await followToCallback(agent, res.headers.location!));
}

for (const db of testDatabases()) {
  describe(`back-channel logout from the tenant (docs/security.md case 28) [${db.label}]`, () => {
    let t: TestTenant;
    let cleanup: () => Promise<void>;
    let endpoint: RelyingPartyEndpoint;
    /** A web client with a back-channel URI (the browser signs in through it). */
    let rp: RelyingParty;
    /** Another client with a back-channel URI, never used for a sign-in. */
    let idle: RelyingParty;
    /** A client without a back-channel URI: told nothing. */
    let silent: RelyingParty;
    let admin: string;
    const logs: Record<string, unknown>[] = [];

    before(async () => {
      const opened = await db.open();
      cleanup = opened.cleanup;
      const logger = pino(
        { level: 'debug' },
        {
          write: (line: string) => {
            logs.push(JSON.parse(line) as Record<string, unknown>);
          },
        },
      );
      t = await startTestTenant(opened.database, {}, { logger });
      const jwks = createLocalJWKSet((await t.request.get('/.well-known/jwks.json')).body);
      const clientIds = new Map<string, string>();
      endpoint = new RelyingPartyEndpoint(jwks, (path) => clientIds.get(path)!);
      await endpoint.start();
      const register = async (name: string, path: string | undefined) => {
        const client = await t.tenant.clients.create({
          name,
          grantTypes: ['authorization_code'],
          scopes: [],
          redirectUris: [RP_REDIRECT_URI],
          ...(path ? { backchannelLogoutUri: `${endpoint.url}${path}` } : {}),
        });
        if (path) clientIds.set(path, client.client_id);
        return { clientId: client.client_id, clientSecret: client.client_secret };
      };
      rp = await register('web', '/rp/backchannel-logout');
      idle = await register('idle', '/idle/backchannel-logout');
      silent = await register('silent', undefined);
      admin = await t.token();
    });
    after(async () => {
      await t.close();
      await endpoint.close();
      await cleanup();
    });

    /** Waits for the deliveries under way, then returns the tokens each client received. */
    const delivered = async () => {
      await t.tenant.backchannelLogout.settled();
      const byClient = new Map<string, Received[]>();
      for (const r of endpoint.received) byClient.set(r.clientId, [...(byClient.get(r.clientId) ?? []), r]);
      endpoint.clear();
      return byClient;
    };

    it("advertises back-channel logout and registers each client's URI; the id_token carries sid", async () => {
      const discovery = await t.request.get('/.well-known/openid-configuration');
      assert.equal(discovery.body.backchannel_logout_supported, true);
      assert.equal(discovery.body.backchannel_logout_session_supported, true);
      assert.equal((await t.tenant.clients.get(rp.clientId))!.backchannel_logout_uri, `${endpoint.url}/rp/backchannel-logout`);
      assert.equal((await t.tenant.clients.get(silent.clientId))!.backchannel_logout_uri, null);
      const tokens = await signUp(t, rp, browser(t.tenant));
      assert.equal(typeof tokens.claims.sid, 'string');
      await assert.rejects(
        t.tenant.clients.create({
          name: 'x',
          grantTypes: ['authorization_code'],
          scopes: [],
          redirectUris: [RP_REDIRECT_URI],
          backchannelLogoutUri: 'javascript:alert(1)',
        }),
        /back-channel logout URI/,
      );
      await assert.rejects(
        t.tenant.clients.create({
          name: 'x',
          grantTypes: ['authorization_code'],
          scopes: [],
          redirectUris: [RP_REDIRECT_URI],
          backchannelLogoutUri: 'https://app.example/bcl#x',
        }),
        /fragment/,
      );
    });

    it('sign-out: the client of the ended tenant session is told its user and session (sub and sid)', async () => {
      const agent = browser(t.tenant);
      const tokens = await signUp(t, rp, agent);
      await delivered();
      const page = await agent.get('/oidc/logout').query({ id_token_hint: tokens.id_token });
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)![1]!;
      const confirmed = await agent.post('/oidc/logout/confirm').type('form').send({ xsrf, logout: 'yes' });
      assert.equal(confirmed.status, 303);
      const byClient = await delivered();
      assert.deepEqual([...byClient.keys()], [rp.clientId], 'only the client of that session');
      assert.equal(byClient.get(rp.clientId)!.length, 1);
      assertLogoutToken(byClient.get(rp.clientId)![0]!, { sub: String(tokens.claims.sub), sid: String(tokens.claims.sid) });
    });

    it('password reset: every client with a back-channel URI is told the user, the idle one too, and never the others', async () => {
      const email = uniqueEmail('reset');
      const agent = browser(t.tenant);
      const tokens = await signUp(t, rp, agent, email);
      await delivered();
      const forgotBrowser = browser(t.tenant);
      const auth = await authorize(forgotBrowser, rp);
      const forgotPage = await forgotBrowser.get(`/login/${auth.uid}/${CONNECTION}/forgot`);
      await forgotBrowser
        .post(`/login/${auth.uid}/${CONNECTION}/forgot`)
        .type('form')
        .send({ _csrf: csrfOf(forgotPage.text), email });
      let link: string | undefined;
      for (let i = 0; i < 100 && !link; i++) {
        const mails = (await t.request.get('/dev/mail.json')).body as { to: string; text: string }[];
        link = mails.map((m) => (m.to === email ? /https?:\/\/\S+\/account\/reset-password\?token=[\w-]+/.exec(m.text)?.[0] : undefined)).find(Boolean);
        if (!link) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(link, 'a reset mail');
      const resetPath = new URL(link).pathname + new URL(link).search;
      const form = await forgotBrowser.get(resetPath);
      const done = await forgotBrowser
        .post('/account/reset-password')
        .type('form')
        .send({ _csrf: csrfOf(form.text), token: new URL(link).searchParams.get('token'), password: NEW_PASSWORD });
      assert.equal(done.status, 200, done.text.slice(0, 300));

      const byClient = await delivered();
      assert.deepEqual([...byClient.keys()].sort(), [rp.clientId, idle.clientId].sort());
      assert.equal(byClient.has(silent.clientId), false);
      for (const clientId of [rp.clientId, idle.clientId]) {
        assert.equal(byClient.get(clientId)!.length, 1);
        assertLogoutToken(byClient.get(clientId)![0]!, { sub: String(tokens.claims.sub) });
      }
    });

    it('block through the Management API: every client is told, the tenant session ends; unblocking tells nobody', async () => {
      const agent = browser(t.tenant);
      const tokens = await signUp(t, rp, agent);
      await delivered();
      const sub = String(tokens.claims.sub);
      assert.equal((await api(t, admin).patch(`/users/${encodeURIComponent(sub)}`, { blocked: true })).status, 200);
      const byClient = await delivered();
      assert.deepEqual([...byClient.keys()].sort(), [rp.clientId, idle.clientId].sort());
      assertLogoutToken(byClient.get(rp.clientId)![0]!, { sub });
      const rows = await t.tenant.database.db.selectFrom('oidc_payloads').select('id').where('account_id', '=', sub).execute();
      assert.equal(rows.length, 0, 'the tenant session and grants of the blocked user are gone');
      assert.equal((await api(t, admin).patch(`/users/${encodeURIComponent(sub)}`, { blocked: false })).status, 200);
      assert.equal((await api(t, admin).patch(`/users/${encodeURIComponent(sub)}`, { name: 'Renamed' })).status, 200);
      assert.equal((await delivered()).size, 0);
    });

    it('deletion through the Management API: every client is told', async () => {
      const tokens = await signUp(t, rp, browser(t.tenant));
      await delivered();
      const sub = String(tokens.claims.sub);
      assert.equal((await api(t, admin).delete(`/users/${encodeURIComponent(sub)}`)).status, 204);
      const byClient = await delivered();
      assert.deepEqual([...byClient.keys()].sort(), [rp.clientId, idle.clientId].sort());
      assertLogoutToken(byClient.get(idle.clientId)![0]!, { sub });
    });

    it('a secondary linked away: every client is told its id, and the link answers without waiting for them', async () => {
      const secondary = await signUp(t, rp, browser(t.tenant));
      const primary = await t.tenant.directory.createUser({ connection: CONNECTION, email: uniqueEmail('primary'), password: PASSWORD }, SYSTEM_ACTOR);
      await delivered();
      const secondaryId = String(secondary.claims.sub);
      const [provider, ...rest] = secondaryId.split('|');
      endpoint.hold = true;
      try {
        const linked = await api(t, admin).post(`/users/${encodeURIComponent(primary.user_id)}/identities`, { provider, user_id: rest.join('|') });
        assert.equal(linked.status, 201, JSON.stringify(linked.body));
        // The answer came while the clients' endpoints still hold their requests (or before they arrived).
        await endpoint.waitFor(2, 'linked secondary');
        assert.equal(endpoint.held(), 2);
      } finally {
        endpoint.hold = false;
        endpoint.release();
      }
      const byClient = await delivered();
      assert.deepEqual([...byClient.keys()].sort(), [rp.clientId, idle.clientId].sort());
      assertLogoutToken(byClient.get(rp.clientId)![0]!, { sub: secondaryId });
    });

    it('retries an endpoint that fails (a new token each time), gives up on a refusal, and logs no token', async () => {
      const user = await t.tenant.directory.createUser({ connection: CONNECTION, email: uniqueEmail('retry'), password: PASSWORD }, SYSTEM_ACTOR);
      await delivered();
      logs.length = 0;
      // The two clients share the endpoint: the first two answers are 503s, then 200s.
      endpoint.answers = [503, 503];
      assert.equal((await api(t, admin).patch(`/users/${encodeURIComponent(user.user_id)}`, { blocked: true })).status, 200);
      const retried = [...(await delivered()).values()].flat();
      assert.equal(retried.length, 4, 'two failed deliveries and two that succeeded');
      assert.equal(new Set(retried.map((r) => r.claims.jti)).size, 4, 'every attempt carries a new jti');
      assert.equal(logs.filter((l) => l.event === 'backchannel_logout_failed').length, 0);

      endpoint.answers = [400, 400];
      assert.equal((await api(t, admin).delete(`/users/${encodeURIComponent(user.user_id)}`)).status, 204);
      assert.equal([...(await delivered()).values()].flat().length, 2, 'a 400 is not retried');
      const failures = logs.filter((l) => l.event === 'backchannel_logout_failed');
      assert.equal(failures.length, 2);
      assert.match(String(failures[0]!.reason), /answered 400/);
      assert.match(String(failures[0]!.endpoint), /^http:\/\/127\.0\.0\.1:\d+\/(rp|idle)\/backchannel-logout$/);
      assert.doesNotMatch(JSON.stringify(logs), /eyJ[\w-]+\.eyJ/, 'no token in the logs');
    });
  });
}
