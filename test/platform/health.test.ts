/**
 * /healthz and /readyz on both halves: alive is alive; ready means not shutting down and every
 * dependency answering (the database; for the app also the tenant, and Redis when sessions
 * live there, see redis-outages.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import supertest from 'supertest';
import { DATABASE_CONNECTION, signUpAndSignIn, startSignIn, startTestAccord, type TestAccord } from '../helpers/accord.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { testAppDatabases } from '../helpers/app-databases.ts';
import { testDatabases } from '../helpers/databases.ts';

const appDatabases = testAppDatabases();
for (const [i, db] of testDatabases().entries()) {
  describe(`health endpoints [${db.label}]`, () => {
    let accord: TestAccord;
    let cleanup: () => Promise<void>;
    before(async () => {
      const tenantDb = await db.open();
      const appDb = await appDatabases[i]!.open();
      accord = await startTestAccord({ tenantDatabase: tenantDb.database, appDatabase: appDb.database, tenantProxy: true });
      cleanup = async () => {
        await accord.close();
        await appDb.cleanup();
        await tenantDb.cleanup();
      };
    });
    after(() => cleanup?.());

    it('the tenant: /healthz alive, /readyz ready with its database; the old /health is gone', async () => {
      const tenant = supertest(accord.tenant.app);
      const alive = await tenant.get('/healthz');
      assert.equal(alive.status, 200);
      assert.deepEqual(alive.body, { status: 'ok' });
      const ready = await tenant.get('/readyz');
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, { status: 'ready', checks: { database: 'ok' } });
      assert.equal(ready.headers['cache-control'], 'no-store');
      assert.equal((await tenant.get('/health')).status, 404);
    });

    it('the app: /readyz ready with its database and the tenant; not ready while the tenant is unreachable, ready again after', async (context) => {
      const app = supertest(accord.app.app);
      assert.deepEqual((await app.get('/healthz')).body, { status: 'ok' });
      const ready = await app.get('/readyz');
      assert.equal(ready.status, 200, ready.text);
      assert.deepEqual(ready.body, { status: 'ready', checks: { database: 'ok', tenant: 'ok' } });

      const b = accord.browser();
      await startSignIn(b, DATABASE_CONNECTION, accord.appUrl);
      await signUpAndSignIn(b, uniqueEmail('tenant-cut'));
      assert.equal((await b.open(`${accord.appUrl}/profile`)).status, 200);

      accord.tenantProxy!.set('refuse');
      context.after(() => accord.tenantProxy!.set('forward'));
      const profile = await b.open(`${accord.appUrl}/profile`);
      assert.equal(profile.status, 503, 'the profile, which reads the user from the tenant, is the unavailable page');
      assert.equal(profile.headers['retry-after'], '30');
      assert.match(profile.text, /not reachable right now/);
      const cut = await app.get('/readyz');
      assert.equal(cut.status, 503);
      assert.deepEqual(cut.body, { status: 'unavailable', checks: { database: 'ok', tenant: 'unavailable' } });
      assert.equal((await app.get('/healthz')).status, 200, 'still alive: nothing to restart');

      accord.tenantProxy!.set('forward');
      assert.equal((await app.get('/readyz')).status, 200);
    });

    it('draining (a shutdown signal): /readyz 503 on both halves at once, /healthz still 200', async () => {
      accord.tenant.readiness.drain();
      accord.app.readiness.drain();
      for (const half of [accord.tenant.app, accord.app.app]) {
        const res = await supertest(half).get('/readyz');
        assert.equal(res.status, 503);
        assert.deepEqual(res.body, { status: 'draining' });
        assert.equal((await supertest(half).get('/healthz')).status, 200);
      }
    });
  });
}
