import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type supertest from 'supertest';
import type { TenantConfig } from '../../src/tenant/tenant-config.ts';
import type { StoredMail } from '../../src/tenant/mail/mailer.ts';
import { PUBLIC_METADATA_MAX_AGE_SECONDS } from '../../src/tenant/oidc/published-urls.ts';
import { testDatabases } from '../helpers/databases.ts';
import { authorize, browser, csrfOf, tenantPerSuite, type RelyingParty } from '../helpers/login-flow.ts';
import { STRONG_PASSWORD, TEST_ACTOR } from '../helpers/management.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { TEST_ISSUER, type TestTenant } from '../helpers/tenant.ts';

const CONNECTION = 'Username-Password-Authentication';

/** Headers a client (or a proxy the tenant was not told to trust) may send to make the tenant publish another host. */
const FORGERIES: Record<string, Record<string, string>> = {
  Host: { Host: 'evil.example' },
  'X-Forwarded-Host and X-Forwarded-Proto': { 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https' },
  'all of them at once': {
    Host: 'evil.example:8443',
    'X-Forwarded-Host': 'evil.example',
    'X-Forwarded-Proto': 'https',
    Forwarded: 'host=evil.example;proto=https',
  },
};

function withHeaders(test: supertest.Test, headers: Record<string, string>): supertest.Test {
  for (const [name, value] of Object.entries(headers)) test.set(name, value);
  return test;
}

/** Every URL in the discovery document, whatever its key. */
function urlsIn(document: Record<string, unknown>): string[] {
  return Object.values(document).filter((value): value is string => typeof value === 'string' && /^[a-z]+:\/\//i.test(value));
}

/** Three sign-in-page visits, each claiming another client address: how many were refused as one address. */
async function refusalsAcrossForwardedAddresses(t: TestTenant): Promise<number> {
  let refused = 0;
  for (const address of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
    const res = await t.request.get('/account/verify-email').query({ token: 'not-a-real-token' }).set('X-Forwarded-For', address);
    if (res.status === 429) refused += 1;
    else assert.equal(res.status, 404, res.text.slice(0, 200));
  }
  return refused;
}

const TWO_PER_ADDRESS: Partial<TenantConfig> = { loginRateLimits: { loginPerIp: 2 } };

for (const db of testDatabases()) {
  describe(`every published URL derives from TENANT_URL (docs/security.md case 32) [${db.label}]`, () => {
    let t: TestTenant;
    let rp: RelyingParty;
    // Even a tenant that trusts every proxy publishes only TENANT_URL.
    tenantPerSuite(
      db,
      (started) => {
        ({ t, rp } = started);
      },
      { trustProxy: true },
    );

    for (const [label, headers] of Object.entries(FORGERIES)) {
      it(`discovery and JWKS ignore a forged ${label}`, async () => {
        const discovery = await withHeaders(t.request.get('/.well-known/openid-configuration'), headers);
        assert.equal(discovery.status, 200);
        assert.equal(discovery.body.issuer, `${TEST_ISSUER}/`);
        const urls = urlsIn(discovery.body as Record<string, unknown>);
        assert.ok(urls.length >= 6, `the document publishes its endpoints: ${urls.join(', ')}`);
        for (const url of urls) assert.ok(url === TEST_ISSUER || url.startsWith(`${TEST_ISSUER}/`), `${url} is on TENANT_URL`);
        assert.equal(discovery.body.jwks_uri, `${TEST_ISSUER}/.well-known/jwks.json`);
        assert.equal(discovery.body.token_endpoint, `${TEST_ISSUER}/oauth/token`);
        const oauthMetadata = await withHeaders(t.request.get('/.well-known/oauth-authorization-server'), headers);
        for (const url of urlsIn(oauthMetadata.body as Record<string, unknown>)) assert.ok(url.startsWith(TEST_ISSUER), url);
        const demoIdp = await withHeaders(t.request.get('/demo-idp/.well-known/openid-configuration'), headers);
        for (const url of urlsIn(demoIdp.body as Record<string, unknown>)) assert.ok(url.startsWith(`${TEST_ISSUER}/demo-idp`), url);
      });
    }

    it('discovery and JWKS carry a short public Cache-Control; pages and tokens stay no-store', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/jwks.json']) {
        const res = await t.request.get(path);
        assert.equal(res.status, 200);
        assert.equal(res.headers['cache-control'], `public, max-age=${PUBLIC_METADATA_MAX_AGE_SECONDS}`, path);
      }
      assert.ok(PUBLIC_METADATA_MAX_AGE_SECONDS >= 60 && PUBLIC_METADATA_MAX_AGE_SECONDS <= 900, 'minutes, not hours');
      const auth = await authorize(browser(t.tenant), rp);
      const login = await t.request.get(auth.loginPath);
      assert.notEqual(login.headers['cache-control'], `public, max-age=${PUBLIC_METADATA_MAX_AGE_SECONDS}`);
      const token = await t.request.post('/oauth/token').type('form').send({ grant_type: 'client_credentials' });
      assert.equal(token.headers['cache-control'], 'no-store');
    });

    it('the redirect back into the authorization after a sign-in, and the mailed links, are on TENANT_URL', async () => {
      const headers = FORGERIES['all of them at once']!;
      const user = await t.tenant.directory.createUser(
        { connection: CONNECTION, email: uniqueEmail('forged'), email_verified: true, password: STRONG_PASSWORD },
        TEST_ACTOR,
      );
      const agent = browser(t.tenant);
      for (const [name, value] of Object.entries(headers)) agent.set(name, value);
      const auth = await authorize(agent, rp);
      const page = await agent.get(`/login/${auth.uid}/${CONNECTION}`);
      const signedIn = await agent
        .post(`/login/${auth.uid}/${CONNECTION}`)
        .type('form')
        .send({ _csrf: csrfOf(page.text), email: user.email, password: STRONG_PASSWORD });
      assert.equal(signedIn.status, 303);
      assert.ok(signedIn.headers.location!.startsWith(`${TEST_ISSUER}/authorize/`), signedIn.headers.location);

      const forgotAuth = await authorize(agent, rp);
      const forgotPage = await agent.get(`/login/${forgotAuth.uid}/${CONNECTION}/forgot`);
      await agent
        .post(`/login/${forgotAuth.uid}/${CONNECTION}/forgot`)
        .type('form')
        .send({ _csrf: csrfOf(forgotPage.text), email: user.email });
      // The mail goes out in the background (the answer does not say whether the address exists).
      let reset: StoredMail | undefined;
      for (const deadline = Date.now() + 3000; !reset && Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 25))) {
        const mails = (await t.request.get('/dev/mail.json')).body as StoredMail[];
        reset = mails.find((mail) => mail.to === user.email && /reset-password/.test(mail.text));
      }
      assert.ok(reset, 'the reset mail was sent');
      for (const text of [reset.text, reset.html]) {
        assert.doesNotMatch(text, /evil\.example/);
        assert.match(text, new RegExp(`${TEST_ISSUER.replace(/[.:/]/g, '\\$&')}/account/reset-password\\?token=`));
      }
    });
  });

  describe(`X-Forwarded-For counts only from the proxies TRUST_PROXY names (docs/security.md case 32) [${db.label}]`, () => {
    describe('TRUST_PROXY unset: no proxy is trusted', () => {
      let t: TestTenant;
      tenantPerSuite(
        db,
        (started) => {
          t = started.t;
        },
        TWO_PER_ADDRESS,
      );
      it('a client cannot escape a per-address limit by sending X-Forwarded-For', async () => {
        assert.equal(await refusalsAcrossForwardedAddresses(t), 1);
      });
    });

    describe('TRUST_PROXY names a proxy that is not the peer', () => {
      let t: TestTenant;
      tenantPerSuite(
        db,
        (started) => {
          t = started.t;
        },
        { ...TWO_PER_ADDRESS, trustProxy: ['10.0.0.0/8', '192.0.2.7'] },
      );
      it("the peer's X-Forwarded-For is ignored", async () => {
        assert.equal(await refusalsAcrossForwardedAddresses(t), 1);
      });
    });

    describe('TRUST_PROXY=loopback and the peer is a proxy on this machine', () => {
      let t: TestTenant;
      tenantPerSuite(
        db,
        (started) => {
          t = started.t;
        },
        { ...TWO_PER_ADDRESS, trustProxy: ['loopback'] },
      );
      it('each forwarded client address is limited on its own', async () => {
        assert.equal(await refusalsAcrossForwardedAddresses(t), 0);
      });
    });
  });
}
