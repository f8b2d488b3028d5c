import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testDatabases } from '../helpers/databases.ts';
import { authorize, browser, type RelyingParty, tenantPerSuite } from '../helpers/login-flow.ts';
import type { TestTenant } from '../helpers/tenant.ts';

/**
 * The tenant's root layers (tenant.ts): which of them a request meets depends on its path only.
 * These hold the answers that depend on the order and the prefixes of those layers.
 */
for (const db of testDatabases()) {
  describe(`the tenant's root, by path [${db.label}]`, () => {
    let t: TestTenant;
    let rp: RelyingParty;
    tenantPerSuite(db, (started) => {
      ({ t, rp } = started);
    });

    it('lets the sign-in pages and the authorization keep their opener (a popup answers it); every other page is cut off from it', async () => {
      const agent = browser(t.tenant);
      const authorization = await agent.get('/authorize').query({ client_id: rp.clientId, response_type: 'code', scope: 'openid' });
      assert.equal(authorization.headers['cross-origin-opener-policy'], undefined);
      assert.equal(authorization.headers['x-frame-options'], 'DENY', "helmet's headers still apply there");
      const auth = await authorize(agent, rp, { connection: 'email' });
      const page = await agent.get(auth.firstPath);
      assert.equal(page.status, 200);
      assert.equal(page.headers['cross-origin-opener-policy'], undefined);
      assert.equal(page.headers['x-frame-options'], 'DENY');
      for (const path of ['/.well-known/openid-configuration', '/css/tenant.css', '/account/reset', '/loginx']) {
        const res = await agent.get(path);
        assert.equal(res.headers['cross-origin-opener-policy'], 'same-origin', path);
      }
    });

    it("sends a path the tenant's pages do not answer on to oidc-provider, and answers the pages' own paths in any case", async () => {
      const agent = browser(t.tenant);
      const unknown = await agent.get('/login/callback/nope/more');
      assert.equal(unknown.status, 404);
      const css = await agent.get('/CSS/tenant.css');
      assert.equal(css.status, 200);
      assert.match(css.headers['content-type']!, /^text\/css/);
      assert.equal((await agent.get('/HEALTHZ')).status, 200);
      const bare = await agent.get('/authorize').query({ client_id: rp.clientId, response_type: 'token', redirect_uri: 'http://127.0.0.1:3999/callback' });
      assert.equal(bare.status, 400);
      assert.match(bare.text, /unsupported_response_type/);
    });
  });
}
