import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import express from 'express';
import supertest from 'supertest';
import { loadAppConfig } from '../../src/app/app-config.ts';
import { loadTenantConfig } from '../../src/tenant/tenant-config.ts';
import { parseTrustProxy, type TrustProxy } from '../../src/platform/trust-proxy.ts';

/** What Express makes of X-Forwarded-For from this test's loopback peer under `trust`. */
async function clientAddress(trust: TrustProxy, forwardedFor: string): Promise<string> {
  const app = express();
  app.set('trust proxy', trust);
  app.get('/', (req, res) => {
    res.json({ ip: req.ip });
  });
  const res = await supertest(app).get('/').set('X-Forwarded-For', forwardedFor);
  return String(res.body.ip).replace(/^::ffff:/, '');
}

describe('TRUST_PROXY: one syntax for both halves (docs/security.md case 32)', () => {
  it("reads Express's forms", () => {
    assert.equal(parseTrustProxy('false'), false);
    assert.equal(parseTrustProxy('off'), false);
    assert.equal(parseTrustProxy(''), false);
    assert.equal(parseTrustProxy('0'), false);
    assert.equal(parseTrustProxy('true'), true);
    assert.equal(parseTrustProxy(' ON '), true);
    assert.equal(parseTrustProxy('1'), 1);
    assert.equal(parseTrustProxy('2'), 2);
    assert.deepEqual(parseTrustProxy('loopback'), ['loopback']);
    assert.deepEqual(parseTrustProxy('loopback, 10.0.0.0/8,192.0.2.7 , fd00::/8, ::1, uniquelocal'), [
      'loopback',
      '10.0.0.0/8',
      '192.0.2.7',
      'fd00::/8',
      '::1',
      'uniquelocal',
    ]);
  });

  it('refuses what Express would misread, saying what is wrong', () => {
    const refusals: [string, RegExp][] = [
      ['yes please', /"yes please" is not an IP address/],
      ['10.0.0.0/33', /prefix length that is not a number from 0 to 32/],
      ['fd00::/129', /from 0 to 128/],
      ['10.0.0.0/8/8', /"10\.0\.0\.0\/8\/8" is not an IP address/],
      ['10.0.0.0/abc', /prefix length/],
      ['localhost', /"localhost" is not an IP address, a CIDR range/],
      ['10.0.0.1,,10.0.0.2', /empty entry/],
      ['300.1.1.1', /"300\.1\.1\.1" is not an IP address/],
      ['1000', /not plausible/],
      ['-1', /is not an IP address/],
    ];
    for (const [value, message] of refusals) assert.throws(() => parseTrustProxy(value), message, value);
  });

  it('Express uses the parsed value: only the named proxies can set the client address', async () => {
    assert.equal(await clientAddress(parseTrustProxy('false'), '203.0.113.9'), '127.0.0.1');
    assert.equal(await clientAddress(parseTrustProxy('loopback'), '203.0.113.9'), '203.0.113.9');
    assert.equal(await clientAddress(parseTrustProxy('10.0.0.0/8'), '203.0.113.9'), '127.0.0.1');
    assert.equal(await clientAddress(parseTrustProxy('127.0.0.1/32'), '203.0.113.9'), '203.0.113.9');
    // A client's own X-Forwarded-For, passed on by one trusted proxy that appends its peer: the
    // address the proxy saw counts, not the one the client wrote.
    assert.equal(await clientAddress(parseTrustProxy('loopback'), '198.51.100.66, 203.0.113.9'), '203.0.113.9');
    assert.equal(await clientAddress(parseTrustProxy('1'), '198.51.100.66, 203.0.113.9'), '203.0.113.9');
  });

  it('the tenant and the app read TRUST_PROXY alike, unset meaning no proxy, and stop at start on a bad value', () => {
    const app = (value?: string) =>
      loadAppConfig(
        { NODE_ENV: 'test', DATA_DIR: '/tmp', SESSION_SECRET: 'x'.repeat(32), ...(value === undefined ? {} : { TRUST_PROXY: value }) },
        {
          issuer: 'http://127.0.0.1:4999',
          clientId: 'c',
          clientSecret: 's',
          managementClientId: 'm',
          managementClientSecret: 'ms',
        },
      ).trustProxy;
    const tenant = (value?: string) => loadTenantConfig({ NODE_ENV: 'test', ...(value === undefined ? {} : { TRUST_PROXY: value }) }).trustProxy;
    for (const read of [app, tenant]) {
      assert.equal(read(), false);
      assert.equal(read('true'), true);
      assert.equal(read('1'), 1);
      assert.deepEqual(read('loopback,10.0.0.0/8'), ['loopback', '10.0.0.0/8']);
      assert.throws(() => read('10.0.0.0/99'), /Invalid environment: TRUST_PROXY: "10\.0\.0\.0\/99" has a prefix length/);
    }
  });
});
