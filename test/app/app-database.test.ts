import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import express from 'express';
import session, { type SessionData } from 'express-session';
import { createClient } from 'redis';
import request from 'supertest';
import { openAppDatabase, type AppDatabase } from '../../src/app/app-database.ts';
import { migrateApp } from '../../src/app/migrations/app-migrations.ts';
import { KeptSeparate } from '../../src/app/linking/kept-separate.ts';
import { createSessionStore, REDIS_SESSION_PREFIX } from '../../src/app/sessions/create-session-store.ts';
import { DEFAULT_SESSION_TTL_MS, KyselySessionStore } from '../../src/app/sessions/session-store.ts';
import { openTenantDatabase } from '../../src/tenant/tenant-database.ts';
import { migrateTenant } from '../../src/tenant/migrations/tenant-migrations.ts';
import { testAppDatabases, testRedis, type OpenedAppDatabase } from '../helpers/app-databases.ts';

const MINUTE = 60_000;

/** A session as express-session hands it to a store after a JSON round trip. */
function sessionData(extra: Record<string, unknown> = {}, expiresInMs = 10 * MINUTE): SessionData {
  return {
    cookie: { originalMaxAge: expiresInMs, expires: new Date(Date.now() + expiresInMs).toISOString(), httpOnly: true, path: '/' },
    ...extra,
  } as unknown as SessionData;
}

// The Store API is callback-based; these turn each call into a promise.
const get = (store: session.Store, sid: string) =>
  new Promise<SessionData | null | undefined>((resolve, reject) => store.get(sid, (err, s) => (err ? reject(err) : resolve(s))));
const set = (store: session.Store, sid: string, sess: SessionData) =>
  new Promise<void>((resolve, reject) => store.set(sid, sess, (err) => (err ? reject(err) : resolve())));
const destroy = (store: session.Store, sid: string) => new Promise<void>((resolve, reject) => store.destroy(sid, (err) => (err ? reject(err) : resolve())));
const touch = (store: session.Store, sid: string, sess: SessionData) =>
  new Promise<void>((resolve, reject) => store.touch!(sid, sess, ((err?: unknown) => (err ? reject(err) : resolve())) as () => void));
const length = (store: session.Store) => new Promise<number | undefined>((resolve, reject) => store.length!((err, n) => (err ? reject(err) : resolve(n))));
const clear = (store: session.Store) => new Promise<void>((resolve, reject) => store.clear!((err) => (err ? reject(err) : resolve())));
const all = (store: session.Store) => new Promise<unknown>((resolve, reject) => store.all!((err, s) => (err ? reject(err) : resolve(s))));

async function expiresAt(database: AppDatabase, sid: string): Promise<number | undefined> {
  const row = await database.db.selectFrom('app_sessions').select('expires_at').where('sid', '=', sid).executeTakeFirst();
  return row ? Number(row.expires_at) : undefined;
}

async function rowCount(database: AppDatabase): Promise<number> {
  const row = await database.db
    .selectFrom('app_sessions')
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

for (const kind of testAppDatabases()) {
  describe(`app database (${kind.label})`, () => {
    let opened: OpenedAppDatabase;
    let database: AppDatabase;
    before(async () => {
      opened = await kind.open();
      database = opened.database;
    });
    after(() => opened.cleanup());

    it('shares a database with the tenant: separate migration tables, re-runs apply nothing', async () => {
      const tenant = openTenantDatabase(opened.options);
      try {
        const tenantReport = await migrateTenant(tenant);
        assert.ok(tenantReport.applied.includes('0001_directory'), 'the tenant migrates beside the app tables');
        assert.deepEqual((await migrateTenant(tenant)).applied, []);
        assert.deepEqual((await migrateApp(database)).applied, []);
        const names = (await database.db.introspection.getTables({ withInternalKyselyTables: true })).map((t) => t.name);
        for (const table of [
          'app_sessions',
          'app_kept_separate',
          'app_rate_limit_hits',
          'app_migrations',
          'app_migrations_lock',
          'kysely_migration',
          'users',
        ]) {
          assert.ok(names.includes(table), `${table} exists`);
        }
      } finally {
        await tenant.close();
      }
    });

    it('migrates a fresh database with 0001_app, 0002_session_owner, 0003_link_claims and 0004_rate_limits', async () => {
      const fresh = await kind.open();
      try {
        const rows = await fresh.database.db
          .selectFrom('app_migrations' as never)
          .select('name' as never)
          .orderBy('name' as never)
          .execute();
        assert.deepEqual(rows, [{ name: '0001_app' }, { name: '0002_session_owner' }, { name: '0003_link_claims' }, { name: '0004_rate_limits' }]);
      } finally {
        await fresh.cleanup();
      }
    });

    describe('session store', () => {
      let store: KyselySessionStore;
      before(() => {
        store = new KyselySessionStore({ db: database.db });
      });
      beforeEach(() => database.db.deleteFrom('app_sessions').execute());

      it('sets and gets a session; an unknown sid is null', async () => {
        const sess = sessionData({ user: { sub: 'auth0|1', name: 'Jane' }, returnTo: '/profile' });
        await set(store, 'sid-1', sess);
        assert.deepEqual(await get(store, 'sid-1'), sess);
        assert.equal(await get(store, 'nope'), null);
      });

      it('upserts: a second set replaces the data and the expiry', async () => {
        await set(store, 'sid-1', sessionData({ n: 1 }, 5 * MINUTE));
        const later = sessionData({ n: 2 }, 50 * MINUTE);
        await set(store, 'sid-1', later);
        assert.deepEqual(await get(store, 'sid-1'), later);
        assert.equal(await rowCount(database), 1);
        assert.equal(await expiresAt(database, 'sid-1'), Date.parse((later.cookie as unknown as { expires: string }).expires));
      });

      it('takes the expiry from cookie.expires, else maxAge, else one day', async () => {
        const expires = new Date(Date.now() + 7 * MINUTE);
        await set(store, 'by-expires', { cookie: { expires, originalMaxAge: 7 * MINUTE } } as unknown as SessionData);
        assert.equal(await expiresAt(database, 'by-expires'), expires.getTime());

        const before = Date.now();
        await set(store, 'by-max-age', { cookie: { maxAge: 3 * MINUTE, expires: null } } as unknown as SessionData);
        const byMaxAge = (await expiresAt(database, 'by-max-age'))!;
        assert.ok(byMaxAge >= before + 3 * MINUTE && byMaxAge <= Date.now() + 3 * MINUTE);

        await set(store, 'default', { cookie: { originalMaxAge: null, expires: null } } as unknown as SessionData);
        const byDefault = (await expiresAt(database, 'default'))!;
        assert.ok(byDefault >= before + DEFAULT_SESSION_TTL_MS && byDefault <= Date.now() + DEFAULT_SESSION_TTL_MS);
      });

      it('touch extends a live session but does not revive an expired one', async () => {
        await set(store, 'live', sessionData({ n: 1 }, MINUTE));
        await touch(store, 'live', sessionData({ n: 1 }, 60 * MINUTE));
        assert.ok((await expiresAt(database, 'live'))! > Date.now() + 59 * MINUTE);

        await database.db
          .insertInto('app_sessions')
          .values({ sid: 'dead', sess: JSON.stringify(sessionData()), expires_at: Date.now() - 1000 })
          .execute();
        await touch(store, 'dead', sessionData({}, 60 * MINUTE));
        assert.ok((await expiresAt(database, 'dead'))! < Date.now());
        assert.equal(await get(store, 'dead'), null);
      });

      it('skips a touch that would move the expiry by less than a minute (no write per request)', async () => {
        await set(store, 'rolling', sessionData({ n: 1 }, 60 * MINUTE));
        const written = (await expiresAt(database, 'rolling'))!;
        await touch(store, 'rolling', sessionData({ n: 1 }, 60 * MINUTE + 10_000));
        assert.equal(await expiresAt(database, 'rolling'), written, 'a 10 s extension is not written');
        await touch(store, 'rolling', sessionData({ n: 1 }, 62 * MINUTE));
        assert.ok((await expiresAt(database, 'rolling'))! >= written + MINUTE, 'a 2 min extension is written');
      });

      it('answers a skipped touch at once, so express-session sends a page in one write', async () => {
        let answered = false;
        await set(store, 'quick', sessionData({ n: 1 }, 60 * MINUTE));
        store.touch('quick', sessionData({ n: 1 }, 60 * MINUTE + 10_000), () => {
          answered = true;
        });
        assert.equal(answered, true, 'the callback ran before touch() returned');

        // Waiting for a touch, express-session writes all but the last byte, then the rest.
        const app = express();
        const writes: number[] = [];
        app.use((_req, res, next) => {
          const write = res.write.bind(res) as (...args: unknown[]) => boolean;
          let count = 0;
          res.write = ((...args: unknown[]) => {
            count++;
            return write(...args);
          }) as typeof res.write;
          res.on('finish', () => writes.push(count));
          next();
        });
        app.use(session({ secret: 'x'.repeat(32), store, resave: false, saveUninitialized: false, rolling: true, cookie: { maxAge: 60 * MINUTE } }));
        app.get('/in', (req, res) => {
          req.session.returnTo = '/';
          res.send('signed in');
        });
        app.get('/page', (_req, res) => {
          res.send('a page');
        });
        const agent = request.agent(app);
        await agent.get('/in').expect(200);
        await agent.get('/page').expect(200, 'a page');
        await agent.get('/page').expect(200, 'a page');
        assert.deepEqual(writes.slice(1), [0, 0], 'each page went out with res.end alone');
      });

      it('destroys a session; destroying an unknown one is fine', async () => {
        await set(store, 'sid-1', sessionData());
        await destroy(store, 'sid-1');
        assert.equal(await get(store, 'sid-1'), null);
        await destroy(store, 'sid-1');
      });

      it('never returns an expired session, and deletes its row on get', async () => {
        await database.db
          .insertInto('app_sessions')
          .values({ sid: 'old', sess: JSON.stringify(sessionData({ user: 'x' })), expires_at: Date.now() - 1 })
          .execute();
        assert.equal(await get(store, 'old'), null);
        assert.equal(await expiresAt(database, 'old'), undefined);
      });

      it('setting an already-expired session removes it', async () => {
        await set(store, 'sid-1', sessionData());
        await set(store, 'sid-1', sessionData({}, -1000));
        assert.equal(await rowCount(database), 0);
      });

      it('treats a malformed row as no session and removes it', async () => {
        await database.db
          .insertInto('app_sessions')
          .values([
            { sid: 'garbled', sess: '{"cookie": ', expires_at: Date.now() + MINUTE },
            { sid: 'not-an-object', sess: '"text"', expires_at: Date.now() + MINUTE },
          ])
          .execute();
        assert.equal(await get(store, 'garbled'), null);
        assert.equal(await get(store, 'not-an-object'), null);
        assert.equal(await rowCount(database), 0);
      });

      it('counts, lists and clears only live sessions; prune deletes the expired ones', async () => {
        await set(store, 'a', sessionData({ n: 'a' }));
        await set(store, 'b', sessionData({ n: 'b' }));
        await database.db
          .insertInto('app_sessions')
          .values([
            { sid: 'old-1', sess: JSON.stringify(sessionData()), expires_at: Date.now() - MINUTE },
            { sid: 'old-2', sess: JSON.stringify(sessionData()), expires_at: Date.now() - 1 },
            { sid: 'bad', sess: 'not json', expires_at: Date.now() + MINUTE },
          ])
          .execute();
        assert.equal(await length(store), 3);
        const listed = (await all(store)) as Record<string, { n: string }>;
        assert.deepEqual(Object.keys(listed).sort(), ['a', 'b']);
        assert.equal(listed.a!.n, 'a');

        assert.equal(await store.prune(), 2);
        assert.equal(await store.prune(), 0);
        assert.equal(await rowCount(database), 3);

        await clear(store);
        assert.equal(await length(store), 0);
        assert.equal(await rowCount(database), 0);
      });

      it('prunes on an interval until closed', async () => {
        const pruning = new KyselySessionStore({ db: database.db, pruneIntervalMs: 20 });
        const expired = (sid: string) =>
          database.db
            .insertInto('app_sessions')
            .values({ sid, sess: '{}', expires_at: Date.now() - 1 })
            .execute();
        try {
          await expired('old-1');
          await waitFor(async () => (await rowCount(database)) === 0);
        } finally {
          await pruning.close();
        }
        await expired('old-2');
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(await rowCount(database), 1, 'no pruning after close()');
      });

      it('works behind express-session', async () => {
        const app = express();
        app.use(session({ store, secret: 'test secret', resave: false, saveUninitialized: false, cookie: { maxAge: 10 * MINUTE } }));
        app.get('/count', (req, res) => {
          const s = req.session as unknown as { n?: number };
          s.n = (s.n ?? 0) + 1;
          res.json({ n: s.n });
        });
        const agent = request.agent(app);
        assert.deepEqual((await agent.get('/count').expect(200)).body, { n: 1 });
        assert.deepEqual((await agent.get('/count').expect(200)).body, { n: 2 });
        assert.equal(await rowCount(database), 1);
        const expiry = (await database.db.selectFrom('app_sessions').select('expires_at').executeTakeFirstOrThrow()).expires_at;
        assert.ok(Number(expiry) > Date.now() + 9 * MINUTE);
      });
    });

    describe('kept separate', () => {
      let kept: KeptSeparate;
      before(() => {
        kept = new KeptSeparate(database.db);
      });
      beforeEach(() => database.db.deleteFrom('app_kept_separate').execute());

      it('keeps a candidate once, however often it is kept', async () => {
        await kept.keep('auth0|me', 'google-oauth2|123');
        const first = await kept.list('auth0|me');
        assert.equal(first.length, 1);
        assert.equal(first[0]!.candidate_id, 'google-oauth2|123');
        assert.match(first[0]!.created_at, /^\d{4}-\d\d-\d\dT/);
        await new Promise((r) => setTimeout(r, 5));
        await kept.keep('auth0|me', 'google-oauth2|123');
        assert.deepEqual(await kept.list('auth0|me'), first, 'the first choice and its date stay');
      });

      it('lists per user, oldest first, and undoes one choice', async () => {
        await kept.keep('auth0|me', 'email|a');
        await new Promise((r) => setTimeout(r, 5));
        await kept.keep('auth0|me', 'email|b');
        await kept.keep('auth0|other', 'email|a');
        assert.deepEqual(
          (await kept.list('auth0|me')).map((r) => r.candidate_id),
          ['email|a', 'email|b'],
        );
        assert.deepEqual(await kept.candidatesKeptBy('auth0|me'), new Set(['email|a', 'email|b']));

        await kept.undo('auth0|me', 'email|a');
        await kept.undo('auth0|me', 'email|never-kept');
        assert.deepEqual(await kept.candidatesKeptBy('auth0|me'), new Set(['email|b']));
        assert.deepEqual(await kept.candidatesKeptBy('auth0|other'), new Set(['email|a']));
        assert.deepEqual(await kept.list('auth0|nobody'), []);
      });
    });
  });
}

describe('session store errors', () => {
  it('hands a database error to the callback', async () => {
    // Not migrated: every query fails.
    const unmigrated = openAppDatabase({ sqliteFile: ':memory:' });
    const store = new KyselySessionStore({ db: unmigrated.db });
    try {
      await assert.rejects(get(store, 'sid'), /no such table/);
      await assert.rejects(set(store, 'sid', sessionData()), /no such table/);
      await assert.rejects(length(store), /no such table/);
      await assert.rejects(store.prune(), /no such table/);
      // Without a callback an error must not escape as an unhandled rejection.
      store.destroy('sid');
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      await unmigrated.close();
    }
  });
});

describe('createSessionStore', () => {
  let database: AppDatabase;
  before(async () => {
    database = openAppDatabase({ sqliteFile: ':memory:' });
    await migrateApp(database);
  });
  after(() => database.close());
  beforeEach(() => database.db.deleteFrom('app_sessions').execute());

  it('uses the app database without a Redis URL', async () => {
    const handle = await createSessionStore({ database, pruneIntervalMs: 0 });
    try {
      assert.ok(handle.store instanceof KyselySessionStore);
      const sess = sessionData({ n: 1 });
      await set(handle.store, 'sid-1', sess);
      assert.deepEqual(await get(handle.store, 'sid-1'), sess);
      assert.equal(await rowCount(database), 1);
    } finally {
      await handle.close();
    }
  });

  it('refuses to open, saying why, when Redis cannot be reached within its connect timeout', async () => {
    await assert.rejects(createSessionStore({ redisUrl: 'redis://:secret@127.0.0.1:1', database, redisTimeouts: { connectTimeoutMs: 300 } }), (err: Error) => {
      assert.match(err.message, /^Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 could not be reached within 300 ms \(REDIS_CONNECT_TIMEOUT_MS\)/);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
  });

  it('uses Redis with the accord:sess: prefix when a Redis URL is given', async (t) => {
    const redis = await testRedis();
    if (redis.url === undefined) {
      console.log(`# Redis session test skipped: ${redis.reason}`);
      t.skip(redis.reason);
      return;
    }
    const handle = await createSessionStore({ redisUrl: redis.url, database });
    const probe = createClient({ url: redis.url });
    probe.on('error', () => {});
    await probe.connect();
    const sid = `test-${randomBytes(8).toString('hex')}`;
    const key = `${REDIS_SESSION_PREFIX}${sid}`;
    try {
      assert.equal(REDIS_SESSION_PREFIX, 'accord:sess:');
      const sess = sessionData({ user: { sub: 'auth0|1' } }, MINUTE);
      await set(handle.store, sid, sess);
      assert.deepEqual(await get(handle.store, sid), sess);
      assert.deepEqual(JSON.parse((await probe.get(key))!), sess);
      const ttl = await probe.ttl(key);
      assert.ok(ttl > 0 && ttl <= 60, `ttl ${ttl} follows cookie.expires`);
      assert.equal(await rowCount(database), 0, 'nothing went to the database');

      // Touches move the expiry at most once a minute; a skipped one is answered at once.
      let answered = false;
      handle.store.touch!(sid, sessionData({ user: { sub: 'auth0|1' } }, MINUTE + 10_000), () => {
        answered = true;
      });
      assert.equal(answered, true, 'the callback ran before touch() returned');
      assert.ok((await probe.ttl(key)) <= 60, 'a 10 s extension is not sent to Redis');
      await touch(handle.store, sid, sessionData({ user: { sub: 'auth0|1' } }, 5 * MINUTE));
      assert.ok((await probe.ttl(key)) > 4 * 60, 'a 4 min extension is');

      await destroy(handle.store, sid);
      assert.equal(await get(handle.store, sid), null);
      assert.equal(await probe.exists(key), 0);
    } finally {
      await probe.del(key);
      await probe.close();
      await handle.close();
    }
  });

  it('keeps sessions under another prefix when given one (REDIS_PREFIX: deployments sharing a Redis)', async (t) => {
    const redis = await testRedis();
    if (redis.url === undefined) {
      t.skip(redis.reason);
      return;
    }
    const keyPrefix = `accord-test-${randomBytes(4).toString('hex')}:`;
    const prefix = `${keyPrefix}sess:`;
    const handle = await createSessionStore({ redisUrl: redis.url, redisKeyPrefix: keyPrefix, database });
    const probe = createClient({ url: redis.url });
    probe.on('error', () => {});
    await probe.connect();
    const sid = `test-${randomBytes(8).toString('hex')}`;
    try {
      await set(handle.store, sid, sessionData({ user: { sub: 'auth0|1' } }, MINUTE));
      assert.equal(await probe.exists(`${prefix}${sid}`), 1);
      assert.equal(await probe.exists(`${REDIS_SESSION_PREFIX}${sid}`), 0);
    } finally {
      await probe.del(`${prefix}${sid}`);
      await probe.close();
      await handle.close();
    }
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
