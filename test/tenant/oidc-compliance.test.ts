import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { demoSubject } from '../../src/tenant/connections/oidc/demo-idp.ts';
import { testDatabases } from '../helpers/databases.ts';
import { browser, csrfOf, registerRelyingParty, RP_REDIRECT_URI, type RelyingParty } from '../helpers/login-flow.ts';
import { startTestTenant, type TestTenant } from '../helpers/tenant.ts';

/**
 * The tenant as any relying party sees it: a real HTTP listener whose address is the issuer,
 * and openid-client's plain API doing discovery, PKCE, id_token validation and userinfo. If a
 * standard client library can sign in through it, so can Accord's app (and so could Auth0's).
 */
for (const db of testDatabases()) {
  describe(`standard OpenID Connect sign-in with openid-client [${db.label}]`, () => {
    let t: TestTenant;
    let cleanup: () => Promise<void>;
    let rp: RelyingParty;
    let server: Server;
    let issuer: string;

    before(async () => {
      const opened = await db.open();
      cleanup = opened.cleanup;
      // Listen first, so the issuer (config.url) can name the real port.
      server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      t = await startTestTenant(opened.database, { url: issuer });
      server.on('request', t.tenant.app);
      rp = await registerRelyingParty(t.tenant);
    });
    after(async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await t.close();
      await cleanup();
    });

    const discover = () =>
      client.discovery(new URL(issuer), rp.clientId, rp.clientSecret, client.ClientSecretBasic(rp.clientSecret), {
        execute: [client.allowInsecureRequests],
      });

    it('publishes discovery metadata a standard client accepts', async () => {
      const config = await discover();
      const metadata = config.serverMetadata();
      assert.equal(metadata.issuer, `${issuer}/`, "Auth0's issuer form");
      assert.equal(metadata.authorization_endpoint, `${issuer}/authorize`);
      assert.equal(metadata.token_endpoint, `${issuer}/oauth/token`);
      assert.equal(metadata.jwks_uri, `${issuer}/.well-known/jwks.json`);
      assert.ok(metadata.code_challenge_methods_supported?.includes('S256'));
      assert.deepEqual(metadata.id_token_signing_alg_values_supported, ['RS256']);
      assert.ok(metadata.response_types_supported?.includes('code'));
    });

    it('signs in through the demo-social connection: code + PKCE, a validated id_token, and userinfo', async () => {
      const config = await discover();
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const authorizationUrl = client.buildAuthorizationUrl(config, {
        redirect_uri: RP_REDIRECT_URI,
        scope: 'openid email profile',
        state,
        nonce,
        max_age: '300',
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        connection: 'demo-social',
        login_hint: 'linus@example.com',
      });

      // The browser: one cookie jar on the tenant's real address (the demo IdP lives there too).
      const agent = browser(issuer);
      const follow = async (location: string): Promise<string> => {
        let next = location;
        for (let hops = 0; hops < 12 && next.startsWith(issuer); hops++) {
          const url = new URL(next);
          if (url.pathname.startsWith('/demo-idp/interaction/')) return next;
          const res = await agent.get(url.pathname + url.search);
          assert.ok([302, 303].includes(res.status), `${url.pathname}: ${res.status} ${res.text.slice(0, 300)}`);
          next = new URL(res.headers.location!, issuer).href;
        }
        return next;
      };
      const formUrl = new URL(await follow(authorizationUrl.href));
      assert.match(formUrl.pathname, /^\/demo-idp\/interaction\//);
      const page = await agent.get(formUrl.pathname);
      assert.equal(page.status, 200);
      const submitted = await agent
        .post(formUrl.pathname)
        .type('form')
        .send({ _csrf: csrfOf(page.text), action: 'login', name: 'Linus', email: 'linus@example.com', email_verified: 'on' });
      assert.equal(submitted.status, 303);
      const callback = await follow(new URL(submitted.headers.location!, issuer).href);
      assert.ok(callback.startsWith(RP_REDIRECT_URI), `ended at ${callback}`);

      // openid-client checks iss (RFC 9207), state, the code exchange with the verifier, the
      // id_token's signature against the JWKS, iss, aud, exp, nonce and auth_time against max_age.
      const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
        pkceCodeVerifier: codeVerifier,
        expectedState: state,
        expectedNonce: nonce,
        maxAge: 300,
      });
      const claims = tokens.claims()!;
      assert.equal(claims.iss, `${issuer}/`);
      assert.equal(claims.aud, rp.clientId);
      assert.equal(claims.sub, `demo-social|${demoSubject('linus@example.com')}`);
      assert.equal(typeof claims.auth_time, 'number');
      // As at Auth0, the id_token itself carries the email claims the scopes asked for.
      assert.equal(claims.email, 'linus@example.com');
      assert.equal(claims.email_verified, true);
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');

      const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      assert.equal(userinfo.sub, claims.sub);
      assert.equal(userinfo.email, 'linus@example.com');
      assert.equal(userinfo.email_verified, true);
      assert.equal(userinfo.name, 'Linus');
    });

    it('also serves the demo IdP as a standard OpenID Provider at its own issuer', async () => {
      const idp = await client.discovery(new URL(`${issuer}/demo-idp`), 'accord-tenant', undefined, client.None(), {
        execute: [client.allowInsecureRequests],
      });
      assert.equal(idp.serverMetadata().issuer, `${issuer}/demo-idp`);
      assert.equal(idp.serverMetadata().jwks_uri, `${issuer}/demo-idp/jwks`);
    });
  });
}
