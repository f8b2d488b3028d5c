import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { SYSTEM_ACTOR } from '../../src/tenant/directory/audit.ts';
import { testDatabases } from '../helpers/databases.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { browser, type Browser, csrfOf, registerRelyingParty, tenantPerSuite } from '../helpers/login-flow.ts';
import type { TestTenant } from '../helpers/tenant.ts';

const CONNECTION = 'Username-Password-Authentication';
const PASSWORD = 'Correct-horse-9';
/** Where Auth0's samples live: plain http on localhost, which Auth0 accepts for the implicit flow. */
const CALLBACK = 'http://localhost:3000/callback';

interface Answer {
  /** The callback's parameters, from the query, the fragment or the form_post form. */
  params: URLSearchParams;
  /** Where they came: `query`, `fragment` or `form_post`. */
  mode: 'query' | 'fragment' | 'form_post';
}

/** Follows the tenant's redirects (signing in on its password page when shown) to the callback. */
async function answerOf(agent: Browser, query: Record<string, string>, email: string): Promise<Answer> {
  let res = await agent.get('/authorize').query(query);
  for (let hops = 0; hops < 10; hops++) {
    if (res.status === 200 && /<form[^>]+action="http:\/\/localhost:3000\/callback"/.test(res.text)) {
      const fields = [...res.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]);
      return { params: new URLSearchParams(fields), mode: 'form_post' };
    }
    assert.ok([302, 303].includes(res.status), `expected a redirect, got ${res.status} ${res.text.slice(0, 300)}`);
    const location = res.headers.location!;
    if (location.startsWith(CALLBACK)) {
      const url = new URL(location);
      return url.hash ? { params: new URLSearchParams(url.hash.slice(1)), mode: 'fragment' } : { params: url.searchParams, mode: 'query' };
    }
    const url = new URL(location, 'http://tenant');
    if (/^\/login\/[^/]+$/.test(url.pathname)) {
      const page = await agent.get(`${url.pathname}/${CONNECTION}`);
      assert.equal(page.status, 200, page.text.slice(0, 300));
      res = await agent
        .post(`${url.pathname}/${CONNECTION}`)
        .type('form')
        .send({ _csrf: csrfOf(page.text), email, password: PASSWORD });
    } else {
      res = await agent.get(url.pathname + url.search);
    }
  }
  throw new Error('too many redirects');
}

for (const db of testDatabases()) {
  describe(`response types and modes as Auth0 lists them [${db.label}]`, () => {
    let t: TestTenant;
    tenantPerSuite(db, (started) => {
      ({ t } = started);
    });

    /** A regular web app created with Auth0's `implicit` grant beside the code grant, on http://localhost. */
    async function implicitClient(webOrigins: string[] = []) {
      return t.tenant.clients.create({
        name: `implicit-${randomBytes(3).toString('hex')}`,
        grantTypes: ['authorization_code', 'implicit'],
        scopes: [],
        redirectUris: [CALLBACK],
        webOrigins,
      });
    }

    async function signedInUser() {
      const email = uniqueEmail('implicit');
      const user = await t.tenant.directory.createUser({ connection: CONNECTION, email, password: PASSWORD, email_verified: true }, SYSTEM_ACTOR);
      return { email, user };
    }

    const request = (clientId: string, responseType: string, extra: Record<string, string> = {}) => ({
      client_id: clientId,
      response_type: responseType,
      redirect_uri: CALLBACK,
      scope: 'openid profile email',
      state: randomBytes(8).toString('base64url'),
      nonce: randomBytes(8).toString('base64url'),
      ...extra,
    });

    it('publishes every served type and the query, fragment, form_post and web_message modes', async () => {
      const res = await t.request.get('/.well-known/openid-configuration');
      assert.deepEqual([...res.body.response_types_supported].sort(), [
        'code',
        'code id_token',
        'code id_token token',
        'code token',
        'id_token',
        'id_token token',
      ]);
      for (const mode of ['query', 'fragment', 'form_post', 'web_message']) assert.ok(res.body.response_modes_supported.includes(mode), mode);
    });

    it('answers each implicit and hybrid type in the fragment, with a nonce-bound id_token, for a client on http://localhost', async () => {
      const client = await implicitClient();
      const { email, user } = await signedInUser();
      const agent = browser(t.tenant);
      for (const responseType of ['id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token']) {
        const query = request(client.client_id, responseType);
        const { params, mode } = await answerOf(agent, query, email);
        assert.equal(mode, 'fragment', responseType);
        assert.equal(params.get('error'), null, `${responseType}: ${params.get('error_description')}`);
        assert.equal(params.get('state'), query.state);
        const words = responseType.split(' ');
        assert.equal(params.has('code'), words.includes('code'), responseType);
        assert.equal(params.has('access_token'), words.includes('token'), responseType);
        assert.equal(params.has('id_token'), words.includes('id_token'), responseType);
        if (words.includes('id_token')) {
          const claims = decodeJwt(params.get('id_token')!);
          assert.equal(claims.nonce, query.nonce);
          assert.equal(claims.sub, user.user_id);
          assert.equal(claims.aud, client.client_id);
          assert.equal(claims.email, email);
          assert.equal(words.includes('code'), typeof claims.c_hash === 'string', `${responseType}: c_hash`);
        }
      }
    });

    it('answers code in the query (with PKCE), and a hybrid code at the token endpoint without PKCE for a confidential client', async () => {
      const client = await implicitClient();
      const { email } = await signedInUser();
      const agent = browser(t.tenant);
      const verifier = randomBytes(32).toString('base64url');
      const plain = await answerOf(
        agent,
        request(client.client_id, 'code', {
          code_challenge: createHash('sha256').update(verifier).digest('base64url'),
          code_challenge_method: 'S256',
        }),
        email,
      );
      assert.equal(plain.mode, 'query');
      assert.ok(plain.params.get('code'));

      const hybrid = await answerOf(agent, request(client.client_id, 'code id_token'), email);
      const token = await t.request
        .post('/oauth/token')
        .type('form')
        .auth(client.client_id, client.client_secret)
        .send({ grant_type: 'authorization_code', code: hybrid.params.get('code'), redirect_uri: CALLBACK });
      assert.equal(token.status, 200, JSON.stringify(token.body));
      assert.ok(token.body.id_token);
    });

    it("requires PKCE for a confidential client's plain code flow unless it is an OpenID request with a nonce (as passport-auth0 sends)", async () => {
      const client = await implicitClient();
      const { email } = await signedInUser();
      const agent = browser(t.tenant);
      for (const extra of [{ nonce: '' }, { scope: 'profile email', nonce: '' }]) {
        const { params } = await answerOf(agent, { ...request(client.client_id, 'code'), ...extra }, email);
        assert.equal(params.get('error'), 'invalid_request', JSON.stringify(extra));
        assert.match(params.get('error_description')!, /PKCE/);
      }
      const { params } = await answerOf(agent, request(client.client_id, 'code'), email);
      assert.ok(params.get('code'), params.get('error_description') ?? '');
      const exchange = (code: string, more: Record<string, string> = {}) =>
        t.request
          .post('/oauth/token')
          .type('form')
          .send({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, client_id: client.client_id, client_secret: client.client_secret, ...more });
      // A verifier for a code that was issued without a challenge is a downgrade: refused.
      const downgraded = await exchange(params.get('code')!, { code_verifier: randomBytes(32).toString('base64url') });
      assert.equal(downgraded.status, 400, JSON.stringify(downgraded.body));
      const second = request(client.client_id, 'code');
      const again = await answerOf(agent, second, email);
      const token = await exchange(again.params.get('code')!);
      assert.equal(token.status, 200, JSON.stringify(token.body));
      assert.equal(decodeJwt(token.body.id_token).nonce, second.nonce, 'the id_token carries the nonce the client checks');
    });

    it('posts the answer to the callback with response_mode=form_post, as express-openid-connect 1.x asks', async () => {
      const client = await implicitClient();
      const { email } = await signedInUser();
      const query = request(client.client_id, 'id_token', { response_mode: 'form_post' });
      const { params, mode } = await answerOf(browser(t.tenant), query, email);
      assert.equal(mode, 'form_post');
      assert.equal(params.get('state'), query.state);
      assert.equal(decodeJwt(params.get('id_token')!).nonce, query.nonce);
    });

    it("answers by postMessage with response_mode=web_message, only to the client's Allowed Web Origins", async () => {
      const client = await implicitClient([new URL(CALLBACK).origin]);
      const { email } = await signedInUser();
      const agent = browser(t.tenant);
      await answerOf(agent, request(client.client_id, 'id_token'), email);
      const res = await agent.get('/authorize').query(request(client.client_id, 'id_token', { response_mode: 'web_message', prompt: 'none' }));
      assert.equal(res.status, 200, res.text.slice(0, 300));
      assert.match(res.text, /authorization_response/);
      assert.match(res.text, /postMessage/);
      assert.ok(res.text.includes(JSON.stringify(CALLBACK)));

      // The same callback, registered, but its origin is not a web origin of this client: a page says why, nothing is posted.
      const other = await implicitClient(['https://elsewhere.example']);
      await answerOf(agent, request(other.client_id, 'id_token'), email);
      for (const extra of [{ prompt: 'none' }, {}] as Record<string, string>[]) {
        const refused = await agent.get('/authorize').query(request(other.client_id, 'id_token', { response_mode: 'web_message', ...extra }));
        assert.equal(refused.status, 400, refused.text.slice(0, 300));
        assert.doesNotMatch(refused.text, /postMessage/);
        assert.match(refused.text, /Allowed Web Origins/);
      }
    });

    it('refuses a bare token with unsupported_response_type and says why', async () => {
      const client = await implicitClient();
      const res = await t.request.get('/authorize').query(request(client.client_id, 'token'));
      assert.equal(res.status, 400);
      assert.match(res.text, /unsupported_response_type/);
      assert.match(res.text, /OpenID Connect does not define a bare/);
    });

    it('refuses an id_token from /authorize without a nonce', async () => {
      const client = await implicitClient();
      const { email } = await signedInUser();
      for (const responseType of ['id_token', 'code id_token']) {
        const { nonce: _omitted, ...query } = request(client.client_id, responseType);
        const { params } = await answerOf(browser(t.tenant), query, email);
        assert.equal(params.get('error'), 'invalid_request', responseType);
        assert.match(params.get('error_description')!, /nonce/);
      }
    });

    it('refuses the implicit types to a client created without the implicit grant', async () => {
      const rp = await registerRelyingParty(t.tenant);
      const res = await t.request.get('/authorize').query({ ...request(rp.clientId, 'id_token'), redirect_uri: 'http://127.0.0.1:3999/callback' });
      assert.equal(res.status, 303);
      const callback = new URL(res.headers.location!);
      assert.equal(
        new URLSearchParams(callback.hash.slice(1) || callback.search.slice(1)).get('error_description'),
        'requested response_type is not allowed for this client',
      );
    });

    it('accepts loopback http callbacks for implicit clients, and still refuses other http ones', async () => {
      const loopback = await t.tenant.clients.create({
        name: 'loopback',
        grantTypes: ['implicit'],
        scopes: [],
        redirectUris: ['http://127.0.0.1:3000/callback', CALLBACK],
      });
      const accepted = await t.request.get('/authorize').query({ ...request(loopback.client_id, 'id_token'), redirect_uri: 'http://127.0.0.1:3000/callback' });
      assert.equal(accepted.status, 303);
      assert.match(accepted.headers.location!, /^\/login\//);

      const remote = await t.tenant.clients.create({
        name: 'remote-http',
        grantTypes: ['implicit'],
        scopes: [],
        redirectUris: ['http://app.example.com/callback'],
      });
      const refused = await t.request.get('/authorize').query({ ...request(remote.client_id, 'id_token'), redirect_uri: 'http://app.example.com/callback' });
      assert.equal(refused.status, 400);
      assert.match(refused.text, /https scheme/);
    });
  });
}
