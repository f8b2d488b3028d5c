import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { createClient } from 'redis';
import supertest from 'supertest';
import type { AppDatabase } from '../../src/app/app-database.ts';
import { linkAttemptLimiter, linkAttemptStore } from '../../src/app/linking/link-attempt-limit.ts';
import type { RedisClient } from '../../src/app/redis-rate-limit-store.ts';
import { isAppError } from '../../src/app/app-errors.ts';
import { testAppDatabases, testRedis } from '../helpers/app-databases.ts';

/**
 * One app process's link start behind the link-attempt limit (3 per user), with a store of its
 * own over the shared backend, as a second process would have. The user comes from a header.
 */
function appProcess(store: ReturnType<typeof linkAttemptStore>) {
  const app = express();
  app.use((req, _res, next) => {
    req.user = { user_id: String(req.headers['x-user']) } as Express.User;
    next();
  });
  app.post('/link/start', linkAttemptLimiter({ limit: 3, store }), (_req, res) => {
    res.status(303).end();
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(isAppError(err, 'too_many_requests') ? 429 : 500).send(String((err as Error).message));
  });
  return supertest(app);
}

async function attempts(processes: ReturnType<typeof appProcess>[], user: string, n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await processes[i % processes.length]!.post('/link/start').set('x-user', user)).status);
  return statuses;
}

for (const variant of testAppDatabases()) {
  describe(`link attempts, counted in the app database [${variant.label}] (case 22)`, () => {
    let database: AppDatabase;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ database, cleanup } = await variant.open());
    });
    after(async () => {
      await cleanup();
    });

    it(`are shared by the app's processes on PostgreSQL, and kept per process on SQLite`, async () => {
      const processes = [appProcess(linkAttemptStore({ database })), appProcess(linkAttemptStore({ database }))];
      const user = `auth0|${randomBytes(12).toString('hex')}`;
      assert.deepEqual(await attempts(processes, user, 3), [303, 303, 303]);
      const fourth = await processes[1]!.post('/link/start').set('x-user', user);
      assert.equal(fourth.status, database.dialect === 'postgres' ? 429 : 303);
      if (database.dialect === 'postgres') {
        assert.match(fourth.text, /Too many link attempts/);
        assert.equal((await processes[0]!.post('/link/start').set('x-user', `${user}-other`)).status, 303, 'per user');
      }
    });
  });
}

describe('link attempts, counted in Redis (case 22)', async () => {
  const redis = await testRedis();
  if (redis.url === undefined) {
    console.log(`# Redis link-attempt limit test skipped: ${redis.reason}`);
    it(`skipped: ${redis.reason}`, { skip: redis.reason }, () => {});
    return;
  }
  const url = redis.url;
  // Each app process has its own connection; keys under a prefix of this run.
  const prefix = `accord-test:${randomBytes(6).toString('hex')}:link-attempts:`;
  const clients: RedisClient[] = [];
  const connect = async () => {
    const client = createClient({ url });
    await client.connect();
    clients.push(client);
    return client;
  };
  after(async () => {
    const keys = await clients[0]!.keys(`${prefix}*`);
    if (keys.length > 0) await clients[0]!.del(keys);
    await Promise.all(clients.map((c) => c.close()));
  });

  it('are shared by every app process, per user, in a window that expires', async () => {
    const processes = [
      appProcess(linkAttemptStore({ redis: { client: await connect(), prefix } })),
      appProcess(linkAttemptStore({ redis: { client: await connect(), prefix } })),
    ];
    const user = `auth0|${randomBytes(12).toString('hex')}`;
    assert.deepEqual(await attempts(processes, user, 5), [303, 303, 303, 429, 429]);
    assert.equal((await processes[0]!.post('/link/start').set('x-user', `${user}-other`)).status, 303, 'per user');
    const ttl = await clients[0]!.pTTL(`${prefix}${user}`);
    assert.ok(ttl > 14 * 60_000 && ttl <= 15 * 60_000, `the window expires with its key: ${ttl} ms`);
  });
});
