import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectionLabel } from '../../src/app/web/display.ts';
import { signInMethodName } from '../../src/platform/sign-in-methods.ts';
import { ConnectionRegistry, defaultConnections } from '../../src/tenant/connections.ts';

describe('one naming rule for sign-in methods (issue 16 items 1 and 10)', () => {
  it('never ends a name in "account": pages that mean the account add the word once', () => {
    assert.equal(signInMethodName('demo-social'), 'Demo social');
    assert.equal(signInMethodName({ name: 'corp', display_name: 'Acme staff account' }), 'Acme staff');
    assert.equal(signInMethodName({ name: 'corp', display_name: 'Account' }), 'Account');
    assert.equal(signInMethodName('work-account'), 'Work');
  });

  it('the app and the tenant name every connection alike', () => {
    const configs = [
      ...defaultConnections(),
      {
        name: 'demo-social',
        strategy: 'oidc' as const,
        provider: 'demo-social',
        display_name: 'Demo social account',
        issuer: 'http://127.0.0.1:1/',
        client_id: 'c',
        scopes: 'openid',
        trust_email_verified: true,
        linking: 'suggest' as const,
      },
      {
        name: 'corp-sso',
        strategy: 'oidc' as const,
        provider: 'oidc',
        issuer: 'http://127.0.0.1:1/',
        client_id: 'c',
        scopes: 'openid',
        trust_email_verified: false,
        linking: 'suggest' as const,
      },
    ];
    const registry = new ConnectionRegistry(configs);
    for (const c of registry.list()) {
      // What the app knows: the Management API's connection, or only an identity's connection name.
      assert.equal(c.displayName, connectionLabel({ name: c.name, strategy: c.strategy, display_name: c.config.display_name }), c.name);
      if (c.name !== 'corp-sso') assert.equal(c.displayName, connectionLabel(c.name), c.name);
    }
    assert.deepEqual(
      registry.list().map((c) => c.displayName),
      ['Email and password', 'Email code', 'Demo social', 'Corp Sso'],
    );
  });
});
