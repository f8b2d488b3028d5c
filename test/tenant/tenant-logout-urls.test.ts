import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/platform/env.ts';
import { loadTenantConfig } from '../../src/tenant/tenant-config.ts';
import { SYSTEM_ACTOR } from '../../src/tenant/directory/audit.ts';
import { testDatabases } from '../helpers/databases.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import {
  authorize,
  browser,
  type Browser,
  csrfOf,
  exchangeCode,
  followToCallback,
  type RelyingParty,
  RP_REDIRECT_URI,
  tenantPerSuite,
} from '../helpers/login-flow.ts';
import type { TestTenant } from '../helpers/tenant.ts';

const CONNECTION = 'Username-Password-Authentication';
const PASSWORD = 'Correct-horse-9';
/** One of the tenant's Allowed Logout URLs, as Auth0's linking sample's BASE_URL. */
const TENANT_LOGOUT_URL = 'http://localhost:3000/';

async function signIn(t: TestTenant, rp: RelyingParty, agent: Browser): Promise<void> {
  const email = uniqueEmail('tenant-logout');
  await t.tenant.directory.createUser({ connection: CONNECTION, email, password: PASSWORD, email_verified: true }, SYSTEM_ACTOR);
  const auth = await authorize(agent, rp);
  const base = `/login/${auth.uid}/${CONNECTION}`;
  const page = await agent.get(base);
  const res = await agent
    .post(base)
    .type('form')
    .send({ _csrf: csrfOf(page.text), email, password: PASSWORD });
  assert.equal(res.status, 303, res.text.slice(0, 300));
  await exchangeCode(t.tenant, rp, auth, await followToCallback(agent, res.headers.location!));
}

/** Whether `agent` still has a tenant session: a plain /authorize goes straight back with a code. */
async function signedIn(agent: Browser, rp: RelyingParty): Promise<boolean> {
  const query = new URLSearchParams({
    client_id: rp.clientId,
    response_type: 'code',
    redirect_uri: RP_REDIRECT_URI,
    scope: 'openid',
    state: 's',
    nonce: 'n',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });
  const res = await agent.get(`/authorize?${query}`);
  let location = res.headers.location!;
  if (!location.startsWith(RP_REDIRECT_URI)) location = (await agent.get(new URL(location, 'http://tenant').pathname)).headers.location ?? '';
  return location.startsWith(RP_REDIRECT_URI) && new URL(location).searchParams.has('code');
}

/** Submits oidc-provider's logout form (the confirmation page's, or the auto-submitted one without a session). */
async function confirm(agent: Browser, html: string) {
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(xsrf, 'the page carries the logout form');
  return agent.post('/oidc/logout/confirm').type('form').send({ xsrf, logout: 'yes' });
}

for (const db of testDatabases()) {
  describe(`tenant-level Allowed Logout URLs [${db.label}]`, () => {
    let t: TestTenant;
    let rp: RelyingParty;
    tenantPerSuite(
      db,
      (started) => {
        ({ t, rp } = started);
      },
      { allowedLogoutUrls: [TENANT_LOGOUT_URL] },
    );

    it('returns from /v2/logout without a client_id to a returnTo in the list, after signing out', async () => {
      const agent = browser(t.tenant);
      await signIn(t, rp, agent);
      const res = await agent.get('/v2/logout').query({ returnTo: TENANT_LOGOUT_URL });
      assert.equal(res.status, 302);
      const handover = new URL(res.headers.location!, 'http://tenant');
      assert.equal(handover.pathname, '/oidc/logout');
      const page = await agent.get(handover.pathname + handover.search);
      assert.equal(page.status, 200, page.text.slice(0, 300));
      const confirmed = await confirm(agent, page.text);
      assert.equal(confirmed.status, 303);
      assert.equal(confirmed.headers.location, TENANT_LOGOUT_URL);
      assert.equal(await signedIn(agent, rp), false);
    });

    it('returns from /oidc/logout without client_id or id_token_hint to a post_logout_redirect_uri in the list, with its state', async () => {
      const agent = browser(t.tenant);
      await signIn(t, rp, agent);
      const page = await agent.get('/oidc/logout').query({ post_logout_redirect_uri: TENANT_LOGOUT_URL, state: 'bye' });
      assert.equal(page.status, 200);
      const confirmed = await confirm(agent, page.text);
      assert.equal(confirmed.headers.location, `${TENANT_LOGOUT_URL}?state=bye`);
    });

    it('returns there too for a browser that has no session any more', async () => {
      const agent = browser(t.tenant);
      const page = await agent.get('/oidc/logout').query({ post_logout_redirect_uri: TENANT_LOGOUT_URL });
      assert.equal(page.status, 200);
      const confirmed = await confirm(agent, page.text);
      assert.equal(confirmed.headers.location, TENANT_LOGOUT_URL);
    });

    it('refuses, in words and without signing out, an address not in the list', async () => {
      const agent = browser(t.tenant);
      await signIn(t, rp, agent);
      for (const res of [
        await agent.get('/v2/logout').query({ returnTo: 'https://attacker.example/' }),
        await agent.get('/oidc/logout').query({ post_logout_redirect_uri: `${TENANT_LOGOUT_URL}other` }),
      ]) {
        assert.equal(res.status, 400);
        assert.match(res.text, /Allowed Logout URLs/);
        assert.equal(res.headers.location, undefined);
      }
      assert.equal(await signedIn(agent, rp), true);
    });

    it("checks a logout that names a client against that client's list, not the tenant's", async () => {
      const res = await browser(t.tenant).get('/v2/logout').query({ client_id: rp.clientId, returnTo: TENANT_LOGOUT_URL });
      assert.equal(res.status, 400);
    });

    it('ends on the success page after a logout that names no return address, even after one that did', async () => {
      const agent = browser(t.tenant);
      await agent.get('/oidc/logout').query({ post_logout_redirect_uri: TENANT_LOGOUT_URL });
      const page = await agent.get('/oidc/logout');
      const confirmed = await confirm(agent, page.text);
      assert.equal(new URL(confirmed.headers.location!).pathname, '/oidc/logout/success');
    });
  });
}

describe('ALLOWED_LOGOUT_URLS', () => {
  it('reads a list from the environment and refuses what is not an absolute http(s) URL', () => {
    const config = loadTenantConfig({ ALLOWED_LOGOUT_URLS: 'http://localhost:3000/, https://app.example.com/bye' });
    assert.deepEqual(config.allowedLogoutUrls, ['http://localhost:3000/', 'https://app.example.com/bye']);
    assert.deepEqual(loadTenantConfig({}).allowedLogoutUrls, []);
    assert.throws(() => loadTenantConfig({ ALLOWED_LOGOUT_URLS: 'javascript:alert(1)' }), ConfigError);
  });
});
