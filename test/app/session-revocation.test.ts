/**
 * The session stores' side of back-channel logout (docs/security.md case 28) and the "only
 * once" claims (case 33), on every store: SQLite, PostgreSQL (DATABASE_URL) and Redis.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type session from 'express-session';
import type { SessionData } from 'express-session';
import { createClient } from 'redis';
import { openAppDatabase, type AppDatabase } from '../../src/app/app-database.ts';
import { appMigrations, migrateApp } from '../../src/app/migrations/app-migrations.ts';
import { createSessionStore, type SessionStoreHandle } from '../../src/app/sessions/create-session-store.ts';
import { runMigrations } from '../../src/platform/migrations.ts';
import { testAppDatabases, testRedis } from '../helpers/app-databases.ts';

const MINUTE = 60_000;

/** A signed-in session as passport leaves it in express-session. */
function signedIn(user: { user_id: string; sid?: string; signed_in_at?: number }, expiresInMs = 10 * MINUTE): SessionData {
  return {
    cookie: { originalMaxAge: expiresInMs, expires: new Date(Date.now() + expiresInMs).toISOString(), httpOnly: true, path: '/' },
    passport: { user: { email: 'a@example.com', auth_time: 1, ...user } },
  } as unknown as SessionData;
}

const get = (store: session.Store, sid: string) =>
  new Promise<SessionData | null | undefined>((resolve, reject) => store.get(sid, (err, s) => (err ? reject(err) : resolve(s))));
const set = (store: session.Store, sid: string, sess: SessionData) =>
  new Promise<void>((resolve, reject) => store.set(sid, sess, (err) => (err ? reject(err) : resolve())));
const touch = (store: session.Store, sid: string, sess: SessionData) =>
  new Promise<void>((resolve, reject) => store.touch!(sid, sess, ((err?: unknown) => (err ? reject(err) : resolve())) as () => void));

const unique = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;

interface StoreVariant {
  label: string;
  open(): Promise<{ handle: SessionStoreHandle; cleanup(): Promise<void> } | { skip: string }>;
}

function variants(): StoreVariant[] {
  const sql = testAppDatabases().map(
    (kind): StoreVariant => ({
      label: kind.label,
      async open() {
        const opened = await kind.open();
        const handle = await createSessionStore({ database: opened.database, pruneIntervalMs: 0 });
        return {
          handle,
          cleanup: async () => {
            await handle.close();
            await opened.cleanup();
          },
        };
      },
    }),
  );
  const redis: StoreVariant = {
    label: 'redis',
    async open() {
      const found = await testRedis();
      if (found.url === undefined) return { skip: found.reason };
      const prefix = `${unique('accord-test')}:`;
      const database = openAppDatabase({ sqliteFile: ':memory:' });
      await migrateApp(database);
      const handle = await createSessionStore({ redisUrl: found.url, database, redisKeyPrefix: prefix, sessionTtlMs: 10 * MINUTE });
      return {
        handle,
        async cleanup() {
          await handle.close();
          await database.close();
          const probe = createClient({ url: found.url });
          await probe.connect();
          for await (const keys of probe.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) if (keys.length > 0) await probe.del(keys);
          await probe.close();
        },
      };
    },
  };
  return [...sql, redis];
}

for (const variant of variants()) {
  describe(`session store: back-channel logout and claims [${variant.label}]`, () => {
    let handle: SessionStoreHandle;
    let cleanup: (() => Promise<void>) | undefined;
    let skip: string | undefined;
    before(async () => {
      const opened = await variant.open();
      if ('skip' in opened) {
        skip = opened.skip;
        console.log(`# Redis variant skipped: ${skip}`);
        return;
      }
      ({ handle, cleanup } = opened);
    });
    after(async () => {
      await cleanup?.();
    });

    it('ends every session of a user, and only those (case 28)', async (t) => {
      if (skip) return t.skip(skip);
      const [ada, bob] = [unique('auth0|ada'), unique('auth0|bob')];
      const sids = { ada1: unique('s'), ada2: unique('s'), bob: unique('s'), anonymous: unique('s') };
      await set(handle.store, sids.ada1, signedIn({ user_id: ada, sid: unique('tsid'), signed_in_at: Date.now() }));
      await set(handle.store, sids.ada2, signedIn({ user_id: ada, sid: unique('tsid'), signed_in_at: Date.now() }));
      await set(handle.store, sids.bob, signedIn({ user_id: bob, sid: unique('tsid'), signed_in_at: Date.now() }));
      await set(handle.store, sids.anonymous, { cookie: signedIn({ user_id: 'x' }).cookie, returnTo: '/profile' } as SessionData);

      assert.equal(await handle.store.endSessions({ userId: ada }), 2);
      assert.equal(await get(handle.store, sids.ada1), null);
      assert.equal(await get(handle.store, sids.ada2), null);
      assert.ok(await get(handle.store, sids.bob), 'another user keeps their session');
      assert.ok(await get(handle.store, sids.anonymous), 'a session without a user is untouched');
      assert.equal(await handle.store.endSessions({ userId: ada }), 0, 'nothing left to end');
    });

    it("ends the sessions of one tenant session, not the user's others", async (t) => {
      if (skip) return t.skip(skip);
      const user = unique('auth0|ada');
      const [tenantSid, otherTenantSid] = [unique('tsid'), unique('tsid')];
      const [here, elsewhere] = [unique('s'), unique('s')];
      await set(handle.store, here, signedIn({ user_id: user, sid: tenantSid, signed_in_at: Date.now() }));
      await set(handle.store, elsewhere, signedIn({ user_id: user, sid: otherTenantSid, signed_in_at: Date.now() }));
      assert.equal(await handle.store.endSessions({ tenantSid }), 1);
      assert.equal(await get(handle.store, here), null);
      assert.ok(await get(handle.store, elsewhere));
    });

    it('a session saved again without its tenant session no longer ends with it (a link proof replaces that tenant session)', async (t) => {
      if (skip) return t.skip(skip);
      const user = unique('auth0|ada');
      const tenantSid = unique('tsid');
      const sid = unique('s');
      const signedInAt = Date.now();
      await set(handle.store, sid, signedIn({ user_id: user, sid: tenantSid, signed_in_at: signedInAt }));
      await set(handle.store, sid, signedIn({ user_id: user, signed_in_at: signedInAt }));
      assert.equal(await handle.store.endSessions({ tenantSid }), 0);
      assert.ok(await get(handle.store, sid));
      assert.equal(await handle.store.endSessions({ userId: user }), 1, "its user's logouts still end it");
    });

    it('a request under way that saves its session after the revocation does not bring it back; a later sign-in is kept', async (t) => {
      if (skip) return t.skip(skip);
      const user = unique('auth0|ada');
      const tenantSid = unique('tsid');
      const sid = unique('s');
      const before = signedIn({ user_id: user, sid: tenantSid, signed_in_at: Date.now() - 1000 });
      await set(handle.store, sid, before);
      // The request read its session, then the tenant's logout token ended it, then the request saves.
      const read = await get(handle.store, sid);
      assert.ok(read);
      await handle.store.endSessions({ userId: user });
      await set(handle.store, sid, { ...read, flash: { kind: 'info', text: 'saved late' } } as SessionData);
      assert.equal(await get(handle.store, sid), null, 'still ended');
      // The same for a session regenerated under a new id (passport's logIn) by that request.
      const regenerated = unique('s');
      await set(handle.store, regenerated, before);
      assert.equal(await get(handle.store, regenerated), null);
      // By tenant session too.
      const bySid = unique('s');
      const other = unique('auth0|bob');
      const otherTenantSid = unique('tsid');
      const bobSession = signedIn({ user_id: other, sid: otherTenantSid, signed_in_at: Date.now() - 1000 });
      await set(handle.store, bySid, bobSession);
      await handle.store.endSessions({ tenantSid: otherTenantSid });
      await set(handle.store, bySid, bobSession);
      assert.equal(await get(handle.store, bySid), null);
      // A session from before owners were recorded has no sign-in time: any revocation of its user ends it.
      const legacy = unique('s');
      await set(handle.store, legacy, signedIn({ user_id: user }));
      assert.equal(await get(handle.store, legacy), null);

      // The user signs in again after the revocation: that session lives.
      await new Promise((r) => setTimeout(r, 5));
      const fresh = unique('s');
      await set(handle.store, fresh, signedIn({ user_id: user, sid: unique('tsid'), signed_in_at: Date.now() }));
      assert.ok(await get(handle.store, fresh));
      await touch(handle.store, fresh, signedIn({ user_id: user, signed_in_at: Date.now() }, 20 * MINUTE));
      assert.ok(await get(handle.store, fresh));
      assert.equal(await handle.store.endSessions({ userId: user }), 1, 'found again by its user');
    });

    it('a claim is won once, even by ten at the same moment; it can be given back, and it expires (case 33)', async (t) => {
      if (skip) return t.skip(skip);
      const key = unique('link-proof');
      const results = await Promise.all(Array.from({ length: 10 }, () => handle.claims.claim(key, 60)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await handle.claims.claim(key, 60), false);
      await handle.claims.release(key);
      assert.equal(await handle.claims.claim(key, 60), true, 'given back, it can be won again');

      const short = unique('jti');
      assert.equal(await handle.claims.claim(short, 0.05), true);
      assert.equal(await handle.claims.claim(short, 0.05), false);
      await new Promise((r) => setTimeout(r, 120));
      assert.equal(await handle.claims.claim(short, 60), true, 'an expired claim is won anew');
      assert.equal(await handle.claims.claim(short, 60), false);
    });
  });
}

for (const kind of testAppDatabases()) {
  describe(`0002_session_owner records the owners of existing sessions [${kind.label}]`, () => {
    it('fills user_id and tenant_sid from each session, so a back-channel logout finds sessions from before the upgrade', async () => {
      const opened = await kind.open();
      const database: AppDatabase = openAppDatabase(opened.options);
      try {
        // A database as the previous version left it: its own schema, only 0001 applied.
        const schema = `legacy_${randomBytes(4).toString('hex')}`;
        const legacy = opened.options.databaseUrl ? openAppDatabase({ ...opened.options, pgSchema: schema }) : openAppDatabase({ sqliteFile: ':memory:' });
        if (opened.options.databaseUrl) await database.db.schema.createSchema(schema).execute();
        try {
          await runMigrations(
            legacy,
            { '0001_app': appMigrations['0001_app']! },
            { migrationTableName: 'app_migrations', migrationLockTableName: 'app_migrations_lock' },
          );
          const user = unique('auth0|old');
          const rows = [
            { sid: 's-user', sess: JSON.stringify(signedIn({ user_id: user, sid: 'tenant-sid-1' })), expires_at: Date.now() + MINUTE },
            { sid: 's-anonymous', sess: JSON.stringify({ cookie: {}, returnTo: '/' }), expires_at: Date.now() + MINUTE },
            { sid: 's-broken', sess: '{not json', expires_at: Date.now() + MINUTE },
          ];
          await legacy.db
            .insertInto('app_sessions' as never)
            .values(rows as never)
            .execute();
          await migrateApp(legacy);
          const after = await legacy.db.selectFrom('app_sessions').select(['sid', 'user_id', 'tenant_sid', 'signed_in_at']).orderBy('sid').execute();
          assert.deepEqual(
            after.map((r) => ({ ...r, signed_in_at: r.signed_in_at === null ? null : Number(r.signed_in_at) })),
            [
              { sid: 's-anonymous', user_id: null, tenant_sid: null, signed_in_at: null },
              { sid: 's-broken', user_id: null, tenant_sid: null, signed_in_at: null },
              { sid: 's-user', user_id: user, tenant_sid: 'tenant-sid-1', signed_in_at: null },
            ],
          );
        } finally {
          await legacy.close();
          if (opened.options.databaseUrl) await database.db.schema.dropSchema(schema).cascade().execute();
        }
      } finally {
        await database.close();
        await opened.cleanup();
      }
    });
  });
}
