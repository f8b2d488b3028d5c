import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, it } from 'node:test';
import Provider from 'oidc-provider';
import { storeNoRequestContext } from '../../src/tenant/oidc/request-context.ts';
import { testDatabases } from '../helpers/databases.ts';
import { authorize, browser, type RelyingParty, tenantPerSuite } from '../helpers/login-flow.ts';
import type { TestTenant } from '../helpers/tenant.ts';

describe('the OpenID Provider request context is never stored', () => {
  it('runs the handler, with its arguments and its result, outside any context', async () => {
    const storage = new AsyncLocalStorage<string>();
    storeNoRequestContext(storage);
    const result = storage.run('request', (a: number, b: number) => ({ sum: a + b, seen: storage.getStore() }), 1, 2);
    assert.deepEqual(result, { sum: 3, seen: undefined });
    await storage.run('request', async () => {
      await Promise.resolve();
      assert.equal(storage.getStore(), undefined);
    });
  });

  const [db] = testDatabases();
  let t: TestTenant;
  let rp: RelyingParty;
  tenantPerSuite(db!, (started) => {
    ({ t, rp } = started);
  });

  it("is not there for the tenant's provider, which still serves a sign-in's start", async () => {
    let seen: unknown = 'not called';
    const listener = () => {
      seen = Provider.ctx;
    };
    t.tenant.provider.on('interaction.started', listener);
    try {
      const auth = await authorize(browser(t.tenant), rp);
      assert.match(auth.loginPath, /^\/login\//);
    } finally {
      t.tenant.provider.off('interaction.started', listener);
    }
    assert.equal(seen, undefined);
  });
});
