import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import supertest from 'supertest';
import { openTenantDatabase } from '../../src/tenant/tenant-database.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createTenant } from '../../src/tenant/tenant.ts';
import { testDatabases } from '../helpers/databases.ts';
import { startTestTenant, testConfig, TEST_AUDIENCE, TEST_ISSUER, type TestTenant } from '../helpers/tenant.ts';
import { SYSTEM_ACTOR } from '../../src/tenant/directory/audit.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { authorize, browser, csrfOf, exchangeCode, followToCallback, type RelyingParty, tenantPerSuite } from '../helpers/login-flow.ts';

for (const db of testDatabases()) {
  describe(`POST /oauth/token and discovery [${db.label}]`, () => {
    let t: TestTenant;
    let cleanup: () => Promise<void>;
    let client: { client_id: string; client_secret: string };

    before(async () => {
      const opened = await db.open();
      cleanup = opened.cleanup;
      t = await startTestTenant(opened.database);
      client = await t.tenant.clients.create({ name: 'backend', grantTypes: ['client_credentials'], scopes: ['read:users', 'update:users'] });
    });
    after(async () => {
      await t.close();
      await cleanup();
    });

    it('issues an RS256 JWT for the Management API from a form-urlencoded body (the SDK)', async () => {
      const res = await t.request
        .post('/oauth/token')
        .type('form')
        .send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret, audience: TEST_AUDIENCE });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.token_type, 'Bearer');
      assert.equal(res.body.expires_in, 3600);
      assert.equal(res.body.scope, 'read:users update:users');
      assert.equal(decodeProtectedHeader(res.body.access_token).alg, 'RS256');
      const claims = decodeJwt(res.body.access_token);
      assert.equal(claims.iss, `${TEST_ISSUER}/`, "Auth0's issuer form");
      assert.equal(claims.aud, TEST_AUDIENCE);
      assert.equal(claims.azp, client.client_id);
      assert.equal(claims.gty, 'client-credentials');
      assert.ok(typeof claims.exp === 'number' && claims.exp > Date.now() / 1000);
    });

    it('accepts a JSON body (Auth0 samples) and Basic client authentication', async () => {
      const json = await t.request
        .post('/oauth/token')
        .set('content-type', 'application/json')
        .send(JSON.stringify({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret, audience: TEST_AUDIENCE }));
      assert.equal(json.status, 200, JSON.stringify(json.body));
      const basic = await t.request
        .post('/oauth/token')
        .type('form')
        .auth(client.client_id, client.client_secret)
        .send({ grant_type: 'client_credentials', audience: TEST_AUDIENCE });
      assert.equal(basic.status, 200, JSON.stringify(basic.body));
      const me = await t.request.get('/api/v2/users').set('authorization', `Bearer ${json.body.access_token}`);
      assert.equal(me.status, 200);
    });

    it('narrows to the requested scopes and never grants scopes the client was not given', async () => {
      const narrow = await t.request.post('/oauth/token').type('form').send({
        grant_type: 'client_credentials',
        client_id: client.client_id,
        client_secret: client.client_secret,
        audience: TEST_AUDIENCE,
        scope: 'read:users',
      });
      assert.equal(narrow.body.scope, 'read:users');
      const wider = await t.request.post('/oauth/token').type('form').send({
        grant_type: 'client_credentials',
        client_id: client.client_id,
        client_secret: client.client_secret,
        audience: TEST_AUDIENCE,
        scope: 'read:users delete:users',
      });
      assert.equal(wider.status, 200);
      assert.equal(wider.body.scope, 'read:users');
      assert.doesNotMatch(String(decodeJwt(wider.body.access_token).scope), /delete:users/);
    });

    it('refuses a wrong secret, an unknown client, an unknown audience and malformed bodies', async () => {
      const wrong = await t.request
        .post('/oauth/token')
        .type('form')
        .send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: 'nope', audience: TEST_AUDIENCE });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error, 'invalid_client');
      const unknown = await t.request
        .post('/oauth/token')
        .type('form')
        .send({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x', audience: TEST_AUDIENCE });
      assert.equal(unknown.status, 401);
      const audience = await t.request
        .post('/oauth/token')
        .type('form')
        .send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret, audience: 'https://evil.example/api/' });
      assert.equal(audience.status, 400);
      assert.equal(audience.body.error, 'invalid_target');
      const malformed = await t.request.post('/oauth/token').set('content-type', 'application/json').send('{"grant_type":');
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error, 'invalid_request');
      const nested = await t.request
        .post('/oauth/token')
        .set('content-type', 'application/json')
        .send({ grant_type: ['client_credentials'] });
      assert.equal(nested.status, 400);
      const huge = await t.request
        .post('/oauth/token')
        .type('form')
        .send(`grant_type=client_credentials&x=${'a'.repeat(200_000)}`);
      assert.equal(huge.status, 413);
    });

    it('stores client secrets only as hashes', async () => {
      const rows = await t.tenant.database.db.selectFrom('clients').select(['secret_hash']).execute();
      for (const row of rows) {
        assert.match(row.secret_hash ?? '', /^sha256:/);
        assert.notEqual(row.secret_hash, client.client_secret);
      }
    });

    it('serves the OpenID configuration and the public JWKS (no private parts)', async () => {
      const discovery = await t.request.get('/.well-known/openid-configuration');
      assert.equal(discovery.status, 200);
      assert.equal(discovery.body.issuer, `${TEST_ISSUER}/`, "Auth0's issuer form: https://<domain>/");
      assert.equal(discovery.body.jwks_uri, `${TEST_ISSUER}/.well-known/jwks.json`);
      for (const [key, value] of Object.entries(discovery.body)) {
        if (typeof value === 'string' && /^https?:/.test(value)) assert.doesNotMatch(value.slice('http://'.length), /\/\//, `${key}: ${value}`);
      }
      // Endpoint URLs follow the host the request came to; their paths are Auth0's.
      assert.equal(new URL(discovery.body.token_endpoint).pathname, '/oauth/token');
      assert.equal(new URL(discovery.body.jwks_uri).pathname, '/.well-known/jwks.json');
      assert.equal(new URL(discovery.body.authorization_endpoint).pathname, '/authorize');
      assert.equal(new URL(discovery.body.userinfo_endpoint).pathname, '/userinfo');
      const jwks = await t.request.get('/.well-known/jwks.json');
      assert.equal(jwks.status, 200);
      assert.equal(jwks.body.keys[0].kid, t.tenant.keys.signing[0]!.kid);
      for (const key of jwks.body.keys) for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(key[secret], undefined);
    });
  });
}

describe('signing keys persist across restarts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-keys-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the same key, so tokens issued before a restart stay valid after it', async () => {
    const file = join(dir, 'tenant.sqlite');
    const config = testConfig({ sqliteFile: file });
    const first = await createTenant({ config, logger: createLogger('silent') });
    const client = await first.clients.create({ name: 'c', grantTypes: ['client_credentials'], scopes: ['read:users'] });
    const issued = await supertest(first.app)
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret, audience: TEST_AUDIENCE });
    const kid = first.keys.signing[0]!.kid;
    await first.close();

    const second = await createTenant({ config, logger: createLogger('silent') });
    try {
      assert.equal(second.keys.signing[0]!.kid, kid);
      const res = await supertest(second.app).get('/api/v2/users').set('authorization', `Bearer ${issued.body.access_token}`);
      assert.equal(res.status, 200);
    } finally {
      await second.close();
    }
    // The file really holds the keys (not a per-process cache).
    const reopened = openTenantDatabase({ sqliteFile: file });
    const stored = await reopened.db.selectFrom('tenant_secrets').select('name').execute();
    await reopened.close();
    assert.deepEqual(stored.map((r) => r.name).sort(), ['cookie_keys', 'demo_idp_keys', 'signing_keys']);
  });
});

for (const db of testDatabases()) {
  describe(`profile claims as Auth0 fills them [${db.label}]`, () => {
    let t: TestTenant;
    let rp: RelyingParty;
    tenantPerSuite(db, (started) => {
      ({ t, rp } = started);
    });

    it('gives a user with only an email a name, nickname and picture in the id_token and at /userinfo', async () => {
      const email = uniqueEmail('only.email');
      await t.tenant.directory.createUser(
        { connection: 'Username-Password-Authentication', email, password: 'Correct-horse-9', email_verified: true },
        SYSTEM_ACTOR,
      );
      const agent = browser(t.tenant);
      const auth = await authorize(agent, rp);
      const base = `/login/${auth.uid}/Username-Password-Authentication`;
      const page = await agent.get(base);
      const signedIn = await agent
        .post(base)
        .type('form')
        .send({ _csrf: csrfOf(page.text), email, password: 'Correct-horse-9' });
      const tokens = await exchangeCode(t.tenant, rp, auth, await followToCallback(agent, signedIn.headers.location!));
      const expected = { name: email, nickname: email.slice(0, email.indexOf('@')), picture: `${t.tenant.config.url}/avatars/oe.svg` };
      assert.deepEqual({ name: tokens.claims.name, nickname: tokens.claims.nickname, picture: tokens.claims.picture }, expected);
      const userinfo = await t.request.get('/userinfo').set('authorization', `Bearer ${tokens.access_token}`);
      assert.equal(userinfo.status, 200, JSON.stringify(userinfo.body));
      assert.deepEqual({ name: userinfo.body.name, nickname: userinfo.body.nickname, picture: userinfo.body.picture }, expected);
    });
  });
}
