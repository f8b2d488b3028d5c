/**
 * Redis going away under the app, through a TCP proxy the test controls: refusing connections
 * (Redis down) and swallowing every byte (a network that drops packets). Pages answer 503 in
 * words with Retry-After within the command timeout, never hang, and the sessions are there
 * again once Redis is back, without a restart.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import supertest from 'supertest';
import { startTestAccord, startSignIn, signUpAndSignIn, DATABASE_CONNECTION, type TestAccord } from '../helpers/accord.ts';
import { testAppDatabases, testRedis } from '../helpers/app-databases.ts';
import { testDatabases } from '../helpers/databases.ts';
import { startTcpProxy, type ProxyMode, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';

const redis = await testRedis();
/**
 * Command timeout 300 ms: an answer within a second, with margin. The connect timeout is the
 * default, 5 s: Redis back must be noticed sooner than that, however the outage left the
 * connection attempt under way.
 */
const BOUND_MS = 1_000;

function assertNothingInternal(text: string): void {
  assert.doesNotMatch(text, /\n\s+at |node_modules|\.ts:\d+|127\.0\.0\.1:\d+|redis:\/\/|ECONN|Timeout/, text.slice(0, 500));
}

describe('Redis cut under the app', { skip: redis.url === undefined ? redis.reason : false }, () => {
  let proxy: TcpProxy;
  let accord: TestAccord;
  let cleanup: () => Promise<void>;

  before(async () => {
    const target = new URL(redis.url!);
    proxy = await startTcpProxy({ host: target.hostname || '127.0.0.1', port: Number(target.port || 6379) });
    const viaProxy = new URL(redis.url!);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const tenantDb = await testDatabases()[0]!.open();
    const appDb = await testAppDatabases()[0]!.open();
    accord = await startTestAccord({
      tenantDatabase: tenantDb.database,
      appDatabase: appDb.database,
      env: { REDIS_URL: viaProxy.toString(), REDIS_COMMAND_TIMEOUT_MS: '300', REDIS_CONNECT_TIMEOUT_MS: '5000' },
      redisKeyPrefix: `accord-test-${randomBytes(6).toString('hex')}:`,
    });
    cleanup = async () => {
      await accord.close();
      await appDb.cleanup();
      await tenantDb.cleanup();
    };
  });
  after(async () => {
    proxy?.set('forward');
    await cleanup?.();
    await proxy?.close();
  });

  const cuts: [ProxyMode, { keepSwallowed?: boolean }][] = [
    ['refuse', {}],
    ['blackhole', {}],
    ['blackhole', { keepSwallowed: true }],
  ];
  for (const [mode, restore] of cuts) {
    const how = `${mode}${restore.keepSwallowed ? ', its swallowed connections left open' : ''}`;
    it(`answers a 503 page with Retry-After within the bound while Redis is cut (${how}); the session is intact afterwards`, async (context) => {
      const b = accord.browser();
      await startSignIn(b, DATABASE_CONNECTION, accord.appUrl);
      const email = uniqueEmail('redis-outage');
      await signUpAndSignIn(b, email);
      const profile = await b.open(`${accord.appUrl}/profile`);
      assert.equal(profile.status, 200, profile.text.slice(0, 300));
      assert.match(profile.text, new RegExp(email));

      proxy.set(mode);
      context.after(() => proxy.set('forward'));
      const timed = async (url: string, browser = b) => {
        const begun = Date.now();
        const page = await browser.open(url, { follow: false });
        assert.ok(Date.now() - begun < BOUND_MS, `${url} answered in ${Date.now() - begun} ms`);
        return page;
      };
      // Signed in (a session read), then a first visit (a session write), twice each: the first
      // request meets the cut, the next ones a client that knows Redis is gone.
      for (const url of ['/profile', '/login', '/profile', '/login']) {
        const page = await timed(`${accord.appUrl}${url}`, url === '/login' ? accord.browser() : b);
        assert.equal(page.status, 503, `${url}: ${page.status} ${page.text.slice(0, 300)}`);
        assert.equal(page.headers['retry-after'], '30');
        assert.match(page.text, /Sign-in is unavailable right now/);
        assertNothingInternal(page.text);
      }

      const readyz = await supertest(accord.app.app).get('/readyz');
      assert.equal(readyz.status, 503);
      assert.equal(readyz.body.checks.redis, 'unavailable');

      proxy.set('forward', restore);
      const restored = Date.now();
      let again = await b.open(`${accord.appUrl}/profile`);
      while (again.status !== 200 && Date.now() - restored < 1_000) again = await b.open(`${accord.appUrl}/profile`);
      assert.equal(again.status, 200, `the app answers again within a second of Redis coming back, signed in: ${again.status}`);
      assert.match(again.text, new RegExp(email), 'the same session');
      assert.equal((await supertest(accord.app.app).get('/readyz')).status, 200);
    });
  }
});
