import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import type { Options } from 'express-rate-limit';
import supertest from 'supertest';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { isTenantError } from '../../src/tenant/tenant-errors.ts';
import { DatabaseRateLimitStore, RateLimitCounters } from '../../src/platform/rate-limit-counters.ts';
import { signInLimiter } from '../../src/tenant/login/sign-in-limiter.ts';
import { testDatabases } from '../helpers/databases.ts';

const store = (database: Database, name: string, windowMs = 60_000) => {
  const s = new DatabaseRateLimitStore(new RateLimitCounters(database, 'rate_limit_hits'), name);
  s.init({ windowMs } as Options);
  return s;
};

/** A tenant process's sign-in form behind one limit (2 attempts per IP): 200, or 429 once refused. */
function signInForm(database: Database) {
  const app = express();
  app.set('trust proxy', false);
  app.post('/login', signInLimiter({ name: 'login-ip', database, limit: 2, windowMs: 60_000, message: 'Too many attempts.' }), (_req, res) => {
    res.send('ok');
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(isTenantError(err, 'too_many_requests') ? 429 : 500).send(String((err as Error).message));
  });
  return supertest(app);
}

for (const variant of testDatabases({ sqlite: 'file' })) {
  describe(`sign-in rate limits [${variant.label}]`, () => {
    let database: Database;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ database, cleanup } = await variant.open());
    });
    after(async () => {
      await cleanup();
    });

    it('counts in the database: every hit once, even at the same time, per limit and key', async () => {
      const counted = await Promise.all(Array.from({ length: 20 }, () => store(database, 'burst').increment('10.0.0.1')));
      assert.deepEqual(
        counted.map((c) => c.totalHits).sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      assert.ok(counted[0]!.resetTime!.getTime() > Date.now());
      assert.equal((await store(database, 'burst').increment('10.0.0.2')).totalHits, 1, 'another key');
      assert.equal((await store(database, 'other').increment('10.0.0.1')).totalHits, 1, 'another limit');
      assert.equal((await store(database, 'burst').get('10.0.0.1'))?.totalHits, 20);
    });

    it('shares a counter between store instances (tenant processes), and starts again when its window ends', async () => {
      const first = store(database, 'window', 200);
      const second = store(database, 'window', 200);
      assert.equal((await first.increment('k')).totalHits, 1);
      assert.equal((await second.increment('k')).totalHits, 2);
      await second.decrement('k');
      assert.equal((await first.get('k'))?.totalHits, 1, 'a success is given back (failures-only limits)');
      await new Promise((resolve) => setTimeout(resolve, 250));
      assert.equal(await first.get('k'), undefined, 'an ended window counts nothing');
      assert.equal((await second.increment('k')).totalHits, 1);
      await first.resetKey('k');
      assert.equal(await second.get('k'), undefined);
    });

    it(`is shared by the tenant's processes on PostgreSQL and kept per process on SQLite`, async () => {
      const processA = signInForm(database);
      const processB = signInForm(database);
      await processA.post('/login').expect(200);
      await processA.post('/login').expect(200);
      await processA.post('/login').expect(429);
      await processB.post('/login').expect(database.dialect === 'postgres' ? 429 : 200);
    });
  });
}
