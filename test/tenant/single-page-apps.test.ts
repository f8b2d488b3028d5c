import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { isTenantError } from '../../src/tenant/tenant-errors.ts';
import { testDatabases } from '../helpers/databases.ts';
import { browser, type Browser, csrfOf, followToCallback, RP_REDIRECT_URI, tenantPerSuite } from '../helpers/login-flow.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { api, enc, STRONG_PASSWORD, TEST_ACTOR } from '../helpers/management.ts';
import { TEST_AUDIENCE, testConfig, type TestTenant } from '../helpers/tenant.ts';
import { createTenant } from '../../src/tenant/tenant.ts';
import { createLogger } from '../../src/platform/logger.ts';

const CONNECTION = 'Username-Password-Authentication';
/** The single-page app's pages: where its callback is, and its one Allowed Web Origin. */
const SPA_ORIGIN = new URL(RP_REDIRECT_URI).origin;

/** The Management API scopes Auth0's SPA samples ask for: the signed-in person's own. */
const SPA_API_SCOPES = 'read:current_user update:current_user_identities';

/** The answer of a `response_mode=web_message` page: what it posts to the opener or parent. */
function webMessageOf(html: string): { response: Record<string, string>; redirect_uri: string } {
  const data = /var data = (\{.*\});/.exec(html)?.[1];
  assert.ok(data, `a web_message page: ${html.slice(0, 300)}`);
  assert.match(html, /postMessage\(authorization_response, origin\)/);
  return JSON.parse(data) as { response: Record<string, string>; redirect_uri: string };
}

/** The `name` cookie's attributes from a response's Set-Cookie headers. */
function cookieAttributes(res: { headers: Record<string, unknown> }, name: string): string[] {
  const cookies = (res.headers['set-cookie'] as string[] | undefined) ?? [];
  const cookie = cookies.find((c) => c.startsWith(`${name}=`) && !/expires=Thu, 01 Jan 1970/i.test(c));
  assert.ok(cookie, `${name} in ${JSON.stringify(cookies)}`);
  return cookie
    .split(';')
    .slice(1)
    .map((a) => a.trim().toLowerCase());
}

interface SpaTokens {
  access_token: string;
  id_token: string;
  refresh_token?: string;
  scope?: string;
}

for (const db of testDatabases()) {
  describe(`single-page apps: public clients, PKCE, rotated refresh tokens (Auth0's client kinds) [${db.label}]`, () => {
    let t: TestTenant;
    let spaId: string;
    let email: string;
    tenantPerSuite(db, (started) => {
      t = started.t;
    });

    const ready = async () => {
      if (spaId) return;
      const spa = await t.tenant.clients.create({
        name: 'spa',
        spa: true,
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: [],
        redirectUris: [RP_REDIRECT_URI],
        webOrigins: [SPA_ORIGIN],
      });
      spaId = spa.client_id;
      email = uniqueEmail('spa');
      await t.tenant.directory.createUser({ connection: CONNECTION, email, email_verified: true, password: STRONG_PASSWORD }, TEST_ACTOR);
    };

    /** The SPA's authorization request, with PKCE unless `pkce` is false. */
    function authorizationQuery(extra: Record<string, string> = {}, pkce = true) {
      const verifier = randomBytes(32).toString('base64url');
      const query: Record<string, string> = {
        client_id: spaId,
        response_type: 'code',
        redirect_uri: RP_REDIRECT_URI,
        scope: 'openid profile email',
        state: randomBytes(8).toString('base64url'),
        nonce: randomBytes(8).toString('base64url'),
        ...(pkce ? { code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' } : {}),
        ...extra,
      };
      return { query, verifier };
    }

    /** Signs in through the SPA (the browser's first sign-in) and returns the code's callback. */
    async function signIn(agent: Browser, extra: Record<string, string> = {}) {
      const { query, verifier } = authorizationQuery(extra);
      const start = await agent.get('/authorize').query(query);
      assert.equal(start.status, 303, start.text.slice(0, 300));
      const loginPath = new URL(start.headers.location!, 'http://tenant').pathname;
      const page = await agent.get(`${loginPath}/${CONNECTION}`);
      // A popup sign-in (loginWithPopup) answers its opener: these pages must not cut it off.
      assert.equal(page.headers['cross-origin-opener-policy'], undefined);
      const posted = await agent
        .post(`${loginPath}/${CONNECTION}`)
        .type('form')
        .send({ _csrf: csrfOf(page.text), email, password: STRONG_PASSWORD });
      assert.equal(posted.status, 303, posted.text.slice(0, 300));
      const callback = await followToCallback(agent, posted.headers.location!);
      assert.equal(callback.get('error'), null, `${callback.get('error')}: ${callback.get('error_description')}`);
      assert.equal(callback.get('state'), query.state);
      return { code: callback.get('code')!, verifier };
    }

    /** A token request as the SPA's page sends it: no secret, from its origin. */
    const tokenRequest = (body: Record<string, string>, origin = SPA_ORIGIN) =>
      t.request
        .post('/oauth/token')
        .type('form')
        .set('Origin', origin)
        .send({ client_id: spaId, ...body });

    async function exchange(code: string, verifier: string, extra: Record<string, string> = {}): Promise<SpaTokens> {
      const res = await tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: RP_REDIRECT_URI, code_verifier: verifier, ...extra });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.headers['access-control-allow-origin'], SPA_ORIGIN);
      return res.body as SpaTokens;
    }

    it('a single-page app is a public client: no secret, app_type spa; the other kinds are unchanged', async () => {
      await ready();
      const spa = await t.tenant.clients.get(spaId);
      assert.equal(spa?.app_type, 'spa');
      assert.equal(spa?.token_endpoint_auth_method, 'none');
      const web = await t.tenant.clients.create({ name: 'web', grantTypes: ['authorization_code'], scopes: [], redirectUris: [RP_REDIRECT_URI] });
      assert.ok(web.client_secret.length >= 40);
      assert.equal(web.app_type, 'regular_web');
      assert.equal(web.token_endpoint_auth_method, 'client_secret_basic');
      const machine = await t.tenant.clients.create({ name: 'm2m', grantTypes: ['client_credentials'], scopes: ['read:users'] });
      assert.equal(machine.app_type, 'non_interactive');
      const refusals: [Parameters<typeof t.tenant.clients.create>[0], RegExp][] = [
        [{ name: 'x', spa: true, grantTypes: ['authorization_code', 'client_credentials'], scopes: [], redirectUris: [RP_REDIRECT_URI] }, /client_credentials/],
        [{ name: 'x', spa: true, grantTypes: ['authorization_code'], scopes: ['read:users'], redirectUris: [RP_REDIRECT_URI] }, /Management API scopes/],
        [{ name: 'x', spa: true, grantTypes: ['authorization_code'], scopes: [] }, /callback URL/],
        [{ name: 'x', spa: true, grantTypes: ['refresh_token'], scopes: [], redirectUris: [RP_REDIRECT_URI] }, /authorization_code grant/],
      ];
      for (const [input, message] of refusals) {
        await assert.rejects(
          t.tenant.clients.create(input),
          (err: unknown) => isTenantError(err, 'invalid_body') && message.test(err.message),
          String(message),
        );
      }
    });

    it('requires PKCE, and exchanges a code without a secret, with CORS for its web origin only', async () => {
      await ready();
      const withoutPkce = await browser(t.tenant).get('/authorize').query(authorizationQuery({}, false).query);
      const location = new URL(withoutPkce.headers.location ?? 'http://x/', 'http://tenant');
      assert.equal(location.searchParams.get('error'), 'invalid_request', withoutPkce.text.slice(0, 300));
      assert.match(location.searchParams.get('error_description') ?? '', /PKCE/);

      const agent = browser(t.tenant);
      const first = await signIn(agent);
      const elsewhere = await tokenRequest(
        { grant_type: 'authorization_code', code: first.code, redirect_uri: RP_REDIRECT_URI, code_verifier: first.verifier },
        'https://evil.example',
      );
      assert.equal(elsewhere.status, 400);
      assert.equal(elsewhere.headers['access-control-allow-origin'], undefined);
      const wrongVerifier = await tokenRequest({
        grant_type: 'authorization_code',
        code: first.code,
        redirect_uri: RP_REDIRECT_URI,
        code_verifier: randomBytes(32).toString('base64url'),
      });
      assert.equal(wrongVerifier.body.error, 'invalid_grant');

      const second = await signIn(browser(t.tenant));
      const tokens = await exchange(second.code, second.verifier);
      assert.equal(decodeJwt(tokens.id_token).aud, spaId);
      assert.equal(decodeJwt(tokens.id_token).email, email);
    });

    it('offline_access yields a refresh token without prompt=consent; each refresh rotates it, and a reused one revokes the whole family', async () => {
      await ready();
      const { code, verifier } = await signIn(browser(t.tenant), { scope: 'openid profile email offline_access' });
      const tokens = await exchange(code, verifier);
      assert.ok(tokens.refresh_token, JSON.stringify(tokens));

      const refresh = (token: string) => tokenRequest({ grant_type: 'refresh_token', refresh_token: token });
      const second = await refresh(tokens.refresh_token);
      assert.equal(second.status, 200, JSON.stringify(second.body));
      assert.equal(second.headers['access-control-allow-origin'], SPA_ORIGIN);
      assert.ok(second.body.refresh_token && second.body.refresh_token !== tokens.refresh_token, 'rotated');
      const third = await refresh(second.body.refresh_token);
      assert.equal(third.status, 200, JSON.stringify(third.body));

      // The first token again (stolen and replayed, say): refused, and the family it belongs to ends.
      const replayed = await refresh(tokens.refresh_token);
      assert.equal(replayed.status, 400);
      assert.equal(replayed.body.error, 'invalid_grant');
      const latest = await refresh(third.body.refresh_token);
      assert.equal(latest.status, 400, 'the newest token of the family is revoked too');
      assert.equal(latest.body.error, 'invalid_grant');
    });

    it("audience at /authorize selects the user's token's API: the person's own scopes on /api/v2/, no consent step, CORS for the SPA", async () => {
      await ready();
      const agent = browser(t.tenant);
      const { code, verifier } = await signIn(agent, { scope: `openid profile email ${SPA_API_SCOPES} update:users`, audience: TEST_AUDIENCE });
      // auth0-spa-js exchanges the code without naming the audience again.
      const tokens = await exchange(code, verifier);
      const claims = decodeJwt(tokens.access_token);
      assert.equal(claims.aud, TEST_AUDIENCE);
      assert.equal(claims.azp, spaId);
      assert.deepEqual(String(claims.scope).split(' ').sort(), SPA_API_SCOPES.split(' ').sort(), 'no machine scope for a person');
      const me = String(decodeJwt(tokens.id_token).sub);
      const own = await t.request
        .get(`/api/v2/users/${enc(me)}`)
        .set('Authorization', `Bearer ${tokens.access_token}`)
        .set('Origin', SPA_ORIGIN);
      assert.equal(own.status, 200, JSON.stringify(own.body));
      assert.equal(own.headers['access-control-allow-origin'], SPA_ORIGIN);
      assert.equal((await api(t, tokens.access_token).get('/users')).status, 403);

      const unknown = await browser(t.tenant)
        .get('/authorize')
        .query(authorizationQuery({ audience: 'https://api.example.com/' }).query);
      assert.equal(new URL(unknown.headers.location!, 'http://tenant').searchParams.get('error'), 'invalid_target');
    });

    it('silent authentication (prompt=none): login_required without a session, a code with one, by web_message or query as Auth0 answers', async () => {
      await ready();
      const silent = (extra: Record<string, string>) =>
        authorizationQuery({ prompt: 'none', scope: `openid profile email offline_access ${SPA_API_SCOPES}`, audience: TEST_AUDIENCE, ...extra });

      const stranger = browser(t.tenant);
      const byMessage = silent({ response_mode: 'web_message' });
      const page = await stranger.get('/authorize').query(byMessage.query);
      assert.equal(page.status, 400);
      const refusal = webMessageOf(page.text);
      assert.equal(refusal.redirect_uri, RP_REDIRECT_URI);
      assert.equal(refusal.response.error, 'login_required');
      assert.equal(refusal.response.error_description, 'Login required', "Auth0's words");
      assert.equal(refusal.response.state, byMessage.query.state);
      assert.equal(refusal.response.code, undefined);
      // The page may be framed (it answers a hidden iframe) but names no frame-ancestors.
      assert.equal(page.headers['x-frame-options'], undefined);
      assert.doesNotMatch(page.headers['content-security-policy'] ?? '', /frame-ancestors/);
      const byQuery = silent({});
      const redirect = await stranger.get('/authorize').query(byQuery.query);
      const answer = new URL(redirect.headers.location!).searchParams;
      assert.equal(answer.get('error'), 'login_required');
      assert.equal(answer.get('error_description'), 'Login required');
      assert.equal(answer.get('state'), byQuery.query.state);

      const person = browser(t.tenant);
      await signIn(person);
      const renewal = silent({ response_mode: 'web_message' });
      const renewed = await person.get('/authorize').query(renewal.query);
      assert.equal(renewed.status, 200, renewed.text.slice(0, 300));
      const message = webMessageOf(renewed.text);
      assert.equal(message.response.error, undefined, JSON.stringify(message.response));
      assert.equal(message.response.state, renewal.query.state);
      const tokens = await exchange(message.response.code!, renewal.verifier);
      assert.ok(tokens.refresh_token, 'offline_access without prompt=consent, silently too');
      assert.deepEqual(String(decodeJwt(tokens.access_token).scope).split(' ').sort(), SPA_API_SCOPES.split(' ').sort());

      const again = silent({});
      const code = new URL((await person.get('/authorize').query(again.query)).headers.location!).searchParams;
      assert.equal(code.get('error'), null, String(code.get('error_description')));
      assert.equal(code.get('state'), again.query.state);
      assert.ok((await exchange(code.get('code')!, again.verifier)).access_token);
    });

    it('over plain http the session cookie stays SameSite=Lax, without Secure', async () => {
      await ready();
      const start = await browser(t.tenant).get('/authorize').query(authorizationQuery().query);
      const attributes = cookieAttributes(start, '_interaction');
      assert.ok(attributes.includes('samesite=lax'), attributes.join('; '));
      assert.ok(!attributes.includes('secure'));
    });
  });
}

describe("over https the tenant's session cookies are SameSite=None; Secure, as Auth0's (a silent sign-in runs in a cross-site iframe)", () => {
  it('sets _interaction and _session with SameSite=None and Secure', async () => {
    const tenant = await createTenant({ config: testConfig({ url: 'https://127.0.0.1:4998' }), logger: createLogger('silent') });
    try {
      const spa = await tenant.clients.create({ name: 'spa', spa: true, grantTypes: ['authorization_code'], scopes: [], redirectUris: [RP_REDIRECT_URI] });
      const email = uniqueEmail('https');
      await tenant.directory.createUser({ connection: CONNECTION, email, email_verified: true, password: STRONG_PASSWORD }, TEST_ACTOR);
      const agent = browser(tenant);
      const verifier = randomBytes(32).toString('base64url');
      const start = await agent.get('/authorize').query({
        client_id: spa.client_id,
        response_type: 'code',
        redirect_uri: RP_REDIRECT_URI,
        scope: 'openid',
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      });
      const interaction = cookieAttributes(start, '_interaction');
      assert.ok(interaction.includes('samesite=none') && interaction.includes('secure'), interaction.join('; '));
      // The agent is not https, so it would not send Secure cookies back: they go by hand.
      const cookies = ((start.headers['set-cookie'] as unknown as string[]) ?? []).map((c) => c.split(';')[0]).join('; ');
      const loginPath = new URL(start.headers.location!, 'https://tenant').pathname;
      const page = await agent.get(`${loginPath}/${CONNECTION}`).set('Cookie', cookies);
      const posted = await agent
        .post(`${loginPath}/${CONNECTION}`)
        .set('Cookie', cookies)
        .type('form')
        .send({ _csrf: csrfOf(page.text), email, password: STRONG_PASSWORD });
      assert.equal(posted.status, 303, posted.text.slice(0, 300));
      const resumed = await agent.get(new URL(posted.headers.location!, 'https://tenant').pathname).set('Cookie', cookies);
      const session = cookieAttributes(resumed, '_session');
      assert.ok(session.includes('samesite=none') && session.includes('secure'), session.join('; '));
    } finally {
      await tenant.close();
    }
  });
});
