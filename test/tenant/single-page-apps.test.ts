import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { isTenantError } from '../../src/tenant/tenant-errors.ts';
import { testDatabases } from '../helpers/databases.ts';
import { browser, type Browser, csrfOf, followToCallback, RP_REDIRECT_URI, tenantPerSuite } from '../helpers/login-flow.ts';
import { STRONG_PASSWORD, TEST_ACTOR } from '../helpers/management.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import type { TestTenant } from '../helpers/tenant.ts';

const CONNECTION = 'Username-Password-Authentication';
/** The single-page app's pages: where its callback is, and its one Allowed Web Origin. */
const SPA_ORIGIN = new URL(RP_REDIRECT_URI).origin;

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
  });
}
