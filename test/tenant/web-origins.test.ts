import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type supertest from 'supertest';
import { isTenantError } from '../../src/tenant/tenant-errors.ts';
import { testDatabases } from '../helpers/databases.ts';
import { authorize, browser, csrfOf, exchangeCode, followToCallback, RP_REDIRECT_URI, tenantPerSuite, type RelyingParty } from '../helpers/login-flow.ts';
import { STRONG_PASSWORD, TEST_ACTOR } from '../helpers/management.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { TEST_AUDIENCE, type TestTenant } from '../helpers/tenant.ts';

const APP_ORIGIN = 'https://app.example.com';
const EVIL_ORIGIN = 'https://evil.example';
/** The origin of the client's redirect URI: where browsers are sent, not a page allowed to read tokens. */
const REDIRECT_ORIGIN = new URL(RP_REDIRECT_URI).origin;
const CONNECTION = 'Username-Password-Authentication';

function preflight(t: TestTenant, path: string, origin: string): supertest.Test {
  return t.request.options(path).set('Origin', origin).set('Access-Control-Request-Method', 'POST').set('Access-Control-Request-Headers', 'content-type');
}

function assertNoCorsGrant(res: supertest.Response, what: string): void {
  assert.equal(res.headers['access-control-allow-origin'], undefined, `${what}: ${res.status} ${JSON.stringify(res.headers)}`);
  assert.equal(res.headers['access-control-allow-methods'], undefined, what);
}

for (const db of testDatabases()) {
  describe(`CORS only for a client's registered web origins, /api/v2 included (docs/security.md case 37) [${db.label}]`, () => {
    let t: TestTenant;
    let spa: RelyingParty;
    let other: RelyingParty;
    let accessToken: string;
    tenantPerSuite(db, (started) => {
      t = started.t;
    });

    const ready = async () => {
      if (spa) return;
      const created = await t.tenant.clients.create({
        name: 'browser app',
        grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
        scopes: ['read:users'],
        redirectUris: [RP_REDIRECT_URI],
        webOrigins: [APP_ORIGIN],
      });
      spa = { clientId: created.client_id, clientSecret: created.client_secret };
      const second = await t.tenant.clients.create({ name: 'another', grantTypes: ['client_credentials'], scopes: ['read:users'] });
      other = { clientId: second.client_id, clientSecret: second.client_secret };
      const person = await t.tenant.directory.createUser(
        { connection: CONNECTION, email: uniqueEmail('cors'), email_verified: true, password: STRONG_PASSWORD },
        TEST_ACTOR,
      );
      const agent = browser(t.tenant);
      const auth = await authorize(agent, spa);
      const page = await agent.get(`/login/${auth.uid}/${CONNECTION}`);
      const signedIn = await agent
        .post(`/login/${auth.uid}/${CONNECTION}`)
        .type('form')
        .send({ _csrf: csrfOf(page.text), email: person.email, password: STRONG_PASSWORD });
      accessToken = (await exchangeCode(t.tenant, spa, auth, await followToCallback(agent, signedIn.headers.location!))).access_token;
    };

    const clientCredentials = (client: RelyingParty, origin: string) =>
      t.request
        .post('/oauth/token')
        .type('form')
        .set('Origin', origin)
        .send({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret, audience: TEST_AUDIENCE });

    it('the registry stores web origins and refuses what is not an origin', async () => {
      await ready();
      assert.deepEqual((await t.tenant.clients.get(spa.clientId))?.web_origins, [APP_ORIGIN]);
      assert.deepEqual((await t.tenant.clients.get(other.clientId))?.web_origins, []);
      for (const bad of ['https://app.example.com/', 'https://app.example.com/path', 'https://app.example.com:443', 'javascript:alert(1)', '*', 'null']) {
        await assert.rejects(
          t.tenant.clients.create({ name: 'bad', grantTypes: ['client_credentials'], scopes: [], webOrigins: [bad] }),
          (err: unknown) => isTenantError(err, 'invalid_body') && err.message.includes(`"${bad}"`),
          bad,
        );
      }
    });

    it('refuses the preflight of an origin no client registered, at the token, userinfo and revocation endpoints', async () => {
      await ready();
      for (const path of ['/oauth/token', '/userinfo', '/oauth/revoke']) {
        for (const origin of [EVIL_ORIGIN, REDIRECT_ORIGIN, 'null', `${APP_ORIGIN}.evil.example`]) {
          const res = await preflight(t, path, origin);
          assert.equal(res.status, 403, `${path} from ${origin}`);
          assertNoCorsGrant(res, `${path} from ${origin}`);
        }
        const allowed = await preflight(t, path, APP_ORIGIN);
        assert.equal(allowed.status, 204, path);
        assert.equal(allowed.headers['access-control-allow-origin'], APP_ORIGIN, path);
      }
    });

    it("answers a token request with CORS only from the client's own web origins", async () => {
      await ready();
      const allowed = await clientCredentials(spa, APP_ORIGIN);
      assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
      assert.equal(allowed.headers['access-control-allow-origin'], APP_ORIGIN);
      // Another origin, or the origin of another client: refused, and no CORS grant to read the refusal either.
      for (const [client, origin] of [
        [spa, EVIL_ORIGIN],
        [spa, REDIRECT_ORIGIN],
        [other, APP_ORIGIN],
      ] as const) {
        const refused = await clientCredentials(client, origin);
        assert.equal(refused.status, 400, `${origin}: ${JSON.stringify(refused.body)}`);
        assert.equal(refused.body.error, 'invalid_request');
        assertNoCorsGrant(refused, origin);
      }
      // Server-side callers send no Origin: unaffected.
      const serverSide = await t.request
        .post('/oauth/token')
        .type('form')
        .send({ grant_type: 'client_credentials', client_id: other.clientId, client_secret: other.clientSecret, audience: TEST_AUDIENCE });
      assert.equal(serverSide.status, 200);
    });

    it("answers userinfo with CORS only from the token's client's web origins, not its redirect URIs' origin", async () => {
      await ready();
      const allowed = await t.request.get('/userinfo').set('Authorization', `Bearer ${accessToken}`).set('Origin', APP_ORIGIN);
      assert.equal(allowed.status, 200);
      assert.equal(allowed.headers['access-control-allow-origin'], APP_ORIGIN);
      for (const origin of [EVIL_ORIGIN, REDIRECT_ORIGIN]) {
        const refused = await t.request.get('/userinfo').set('Authorization', `Bearer ${accessToken}`).set('Origin', origin);
        assert.notEqual(refused.status, 200, origin);
        assert.equal(refused.body.sub, undefined, origin);
        assertNoCorsGrant(refused, origin);
      }
    });

    it("answers /api/v2 with CORS only for registered web origins: preflights for any client's, calls for the token's client's", async () => {
      await ready();
      const refused = await preflight(t, '/api/v2/users', EVIL_ORIGIN).set('Access-Control-Request-Method', 'PATCH');
      assert.equal(refused.status, 403);
      assertNoCorsGrant(refused, 'preflight from an unregistered origin');
      const granted = await preflight(t, '/api/v2/users/x/identities', APP_ORIGIN).set('Access-Control-Request-Headers', 'authorization, content-type');
      assert.equal(granted.status, 204);
      assert.equal(granted.headers['access-control-allow-origin'], APP_ORIGIN);
      assert.match(granted.headers['access-control-allow-methods'] ?? '', /PATCH/);
      assert.match(granted.headers['access-control-allow-headers'] ?? '', /Authorization/);
      assert.match(granted.headers.vary ?? '', /Origin/);

      const ownToken = (await clientCredentials(spa, APP_ORIGIN)).body.access_token as string;
      const otherToken = (
        await t.request
          .post('/oauth/token')
          .type('form')
          .send({ grant_type: 'client_credentials', client_id: other.clientId, client_secret: other.clientSecret, audience: TEST_AUDIENCE })
      ).body.access_token as string;
      const call = (token: string, origin: string) => t.request.get('/api/v2/users').set('Authorization', `Bearer ${token}`).set('Origin', origin);
      const allowed = await call(ownToken, APP_ORIGIN);
      assert.equal(allowed.status, 200);
      assert.equal(allowed.headers['access-control-allow-origin'], APP_ORIGIN);
      assert.match(allowed.headers['access-control-expose-headers'] ?? '', /x-ratelimit-remaining/);
      // Another origin, or a token of a client that did not register this origin: answered (the
      // token is valid) but not readable by the page.
      for (const [token, origin, what] of [
        [ownToken, EVIL_ORIGIN, 'unregistered origin'],
        [ownToken, REDIRECT_ORIGIN, "the redirect URI's origin"],
        [otherToken, APP_ORIGIN, "another client's token"],
      ] as const) {
        assertNoCorsGrant(await call(token, origin), what);
      }
      // No token, no client: nothing to grant.
      assertNoCorsGrant(await t.request.get('/api/v2/users').set('Origin', APP_ORIGIN), 'no token');
    });
  });
}
