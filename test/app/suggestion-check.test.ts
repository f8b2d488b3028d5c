import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import express from 'express';
import session from 'express-session';
import supertest from 'supertest';
import type { SessionUser } from '../../src/app/auth/tenant-oidc.ts';
import { CandidateFinder, SuggestionCheck } from '../../src/app/linking/candidates.ts';
import type { KeptSeparate } from '../../src/app/linking/kept-separate.ts';
import type { Auth0User, ManagementClient, ReadOptions } from '../../src/app/management/management-client.ts';
import type { Logger } from '../../src/platform/logger.ts';
import { profileRoutes } from '../../src/app/profile/profile-routes.ts';
import { redirectAfterSave } from '../../src/app/web/redirect.ts';
import { ejsViewEngine } from '../../src/platform/view-engine.ts';
import '../../src/app/web/session-data.ts';

const me: SessionUser = { user_id: 'auth0|me', email: 'me@example.com', email_verified: true, name: undefined, picture: undefined, auth_time: 1 };
const other = {
  user_id: 'email|other',
  email: 'me@example.com',
  email_verified: true,
  created_at: '2026-01-01T00:00:00.000Z',
  identities: [{ connection: 'email', provider: 'email', user_id: 'other', isSocial: false }],
} as unknown as Auth0User;

/**
 * An app with the check between a sign-in (GET /sign-in, as the callback does it: a new
 * session, marked, saved before the redirect) and its first page (GET /page, 200 "page").
 */
function appWith(options: {
  answer: () => Promise<Auth0User[]>;
  now?: () => number;
  kept?: string[];
  pendingLink?: boolean;
  firstPage?: string;
  /** Shared by apps that stand for processes of one deployment. */
  store?: session.Store;
}) {
  const firstPage = options.firstPage ?? '/page';
  const store = options.store ?? new session.MemoryStore();
  /** Whether the session as stored still carries the check's marker. */
  const storedMarker = (sid: string): boolean => {
    const stored = (store as unknown as { sessions: Record<string, string> }).sessions[sid];
    return stored !== undefined && 'suggestions' in JSON.parse(stored);
  };
  const logsSeen: boolean[] = [];
  const reads: ReadOptions[] = [];
  /** How many users-by-email reads had started when each read of the user was made. */
  const readsAtGetUser: number[] = [];
  const warnings: unknown[] = [];
  const management = {
    usersByEmail: (_email: string, read: ReadOptions = {}) => {
      reads.push(read);
      return options.answer();
    },
    getUser: async () => {
      readsAtGetUser.push(reads.length);
      // The tenant's answer comes later than the call.
      await new Promise((resolve) => setTimeout(resolve, 2));
      return {
        ...me,
        identities: [{ connection: 'google-oauth2', provider: 'google-oauth2', user_id: 'me', isSocial: true }],
        created_at: other.created_at,
      };
    },
    userLogs: async () => {
      // What the store holds while the page still waits for the tenant.
      await new Promise((resolve) => setTimeout(resolve, 5));
      logsSeen.push(lastSid !== undefined && storedMarker(lastSid));
      return [];
    },
    // No read cache: nothing is at hand.
    cachedUser: () => undefined,
    cachedUsersByEmail: () => undefined,
    cachedUserLogs: () => undefined,
  } as unknown as ManagementClient;
  const keptSeparate = {
    candidatesKeptBy: async () => new Set(options.kept ?? []),
    list: async () => (options.kept ?? []).map((id) => ({ candidate_id: id, created_at: other.created_at })),
  } as unknown as KeptSeparate;
  const logger = { warn: (fields: unknown) => warnings.push(fields) } as unknown as Logger;
  const check = new SuggestionCheck(new CandidateFinder(management, keptSeparate), logger, options.now);
  const app = express();
  const viewsDir = fileURLToPath(new URL('../../views', import.meta.url));
  app.set('views', viewsDir);
  app.engine('ejs', ejsViewEngine(viewsDir));
  app.set('view engine', 'ejs');
  app.locals.appName = 'Accord';
  app.use(session({ secret: 'x'.repeat(32), resave: false, saveUninitialized: false, store }));
  let lastSid: string | undefined;
  app.use((req, _res, next) => {
    lastSid = req.sessionID;
    if ((req.session as { signedIn?: boolean }).signedIn) req.user = me;
    next();
  });
  app.get('/sign-in', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      (req.session as { signedIn?: boolean }).signedIn = true;
      req.user = me;
      if (options.pendingLink) req.session.pendingLinkStart = { userId: me.user_id, start: {} as never, createdAt: 1 };
      check.afterSignIn(req, firstPage);
      redirectAfterSave(req, res, next, firstPage);
    });
  });
  app.use((req, res, next) => {
    res.locals.user = req.user;
    res.locals.path = req.path;
    res.locals.csrfToken = 'token';
    next();
  });
  app.use(check.middleware());
  app.get('/', (_req, res) => res.redirect(303, '/profile'));
  app.get('/page', (_req, res) => {
    res.send('page');
  });
  app.get('/stored', (req, res) => {
    res.send(storedMarker(req.sessionID) ? 'marked' : 'clear');
  });
  app.use(
    profileRoutes({
      management,
      finder: new CandidateFinder(management, keptSeparate),
      keptSeparate,
      suggestions: check,
      recentLoginMaxAge: 300,
      restoreMetadataOnUnlink: false,
    }),
  );
  return { app, reads, warnings, logsSeen, readsAtGetUser };
}

describe('the suggested-linking check after sign-in', () => {
  it('sends the first page to "Link these accounts?" with the one fresh lookup the sign-in started', async () => {
    const { app, reads } = appWith({ answer: async () => [other] });
    const browser = supertest.agent(app);
    await browser.get('/sign-in').expect(303);
    assert.deepEqual(reads, [{ fresh: true }], 'the lookup starts at the sign-in, read fresh');
    const first = await browser.get('/page').expect(303);
    assert.equal(first.headers.location, '/link/suggestions?returnTo=%2Fpage');
    assert.equal(reads.length, 1, 'the first page waits for that lookup instead of making another');
    await browser.get('/page').expect(200, 'page');
    assert.equal(reads.length, 1, 'once per sign-in');
  });

  it('goes on to the page when there is no candidate, or only kept-separate ones', async () => {
    for (const setup of [{ answer: async () => [] }, { answer: async () => [other], kept: [other.user_id] }]) {
      const { app, reads } = appWith(setup);
      const browser = supertest.agent(app);
      await browser.get('/sign-in').expect(303);
      await browser.get('/page').expect(200, 'page');
      assert.equal(reads.length, 1);
    }
  });

  it('reads fresh again on a first page that comes too late for the sign-in lookup', async () => {
    let now = 1_000_000;
    const { app, reads } = appWith({ answer: async () => [other], now: () => now });
    const browser = supertest.agent(app);
    await browser.get('/sign-in').expect(303);
    now += 5_001;
    await browser.get('/page').expect(303);
    assert.deepEqual(reads, [{ fresh: true }, { fresh: true }]);
  });

  it('never blocks the person when the tenant fails, even if it fails before the first page', async () => {
    const { app, reads, warnings } = appWith({ answer: () => Promise.reject(new Error('tenant down')) });
    const browser = supertest.agent(app);
    await browser.get('/sign-in').expect(303);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await browser.get('/page').expect(200, 'page');
    assert.equal(reads.length, 1);
    assert.equal(warnings.length, 1);
  });

  it('has the session stored without its marker before the first page runs', async () => {
    const { app } = appWith({ answer: async () => [], firstPage: '/stored' });
    const browser = supertest.agent(app);
    await browser.get('/sign-in').expect(303);
    await browser.get('/stored').expect(200, 'clear');
    await browser.get('/stored').expect(200, 'clear');
  });

  it('starts no lookup when a link continues after the sign-in', async () => {
    const { app, reads } = appWith({ answer: async () => [other], pendingLink: true });
    const browser = supertest.agent(app);
    await browser.get('/sign-in').expect(303);
    await browser.get('/page').expect(200, 'page');
    assert.equal(reads.length, 0);
  });
  describe('on the profile, which makes it with its own candidates read', () => {
    it('a sign-in that lands on / goes through to "Link these accounts?" (back to /) with one users-by-email call', async () => {
      const { app, reads } = appWith({ answer: async () => [other], firstPage: '/' });
      const browser = supertest.agent(app);
      await browser.get('/sign-in').expect(303);
      const home = await browser.get('/').expect(303);
      assert.equal(home.headers.location, '/profile', '/ checks nothing itself');
      const profile = await browser.get('/profile').expect(303);
      assert.equal(profile.headers.location, '/link/suggestions?returnTo=%2F');
      assert.deepEqual(reads, [{ fresh: true }], "the sign-in's fresh lookup is the profile's read");
      await browser.get('/profile').expect(200);
      assert.deepEqual(reads, [{ fresh: true }, {}], 'once per sign-in: later pages read as usual');
    });

    it('renders the profile from the same read when there is nothing to suggest', async () => {
      for (const setup of [{ answer: async () => [] }, { answer: async () => [other], kept: [other.user_id] }]) {
        const { app, reads } = appWith({ ...setup, firstPage: '/profile' });
        const browser = supertest.agent(app);
        await browser.get('/sign-in').expect(303);
        const page = await browser.get('/profile').expect(200);
        assert.match(page.text, /Sign-in methods/);
        assert.deepEqual(reads, [{ fresh: true }]);
      }
    });

    it('stores the session without its marker while the page waits for the tenant, not after rendering it', async () => {
      for (const answer of [async () => [], async () => [other]]) {
        const { app, logsSeen } = appWith({ answer, firstPage: '/profile' });
        const browser = supertest.agent(app);
        await browser.get('/sign-in').expect(303);
        await browser.get('/profile');
        assert.deepEqual(logsSeen, [false]);
        const again = await browser.get('/profile').expect(200);
        assert.match(again.text, /Sign-in methods/, 'once per sign-in');
      }
    });

    it('comes back to the profile when the sign-in landed on it', async () => {
      const { app } = appWith({ answer: async () => [other], firstPage: '/profile' });
      const browser = supertest.agent(app);
      await browser.get('/sign-in').expect(303);
      const profile = await browser.get('/profile').expect(303);
      assert.equal(profile.headers.location, '/link/suggestions?returnTo=%2Fprofile');
    });

    it('starts its fresh read beside the read of the user, once per sign-in across processes', async () => {
      const store = new session.MemoryStore();
      const signedInAt = appWith({ answer: async () => [other], firstPage: '/', store });
      const elsewhere = appWith({ answer: async () => [other], firstPage: '/', store });
      const signIn = await supertest(signedInAt.app).get('/sign-in').expect(303);
      const cookie = signIn.headers['set-cookie'] as unknown as string[];
      assert.deepEqual(signedInAt.reads, [], 'the sign-in leaves the read to the profile');
      await supertest(elsewhere.app).get('/').set('Cookie', cookie).expect(303).expect('location', '/profile');
      const profile = await supertest(elsewhere.app).get('/profile').set('Cookie', cookie).expect(303);
      assert.equal(profile.headers.location, '/link/suggestions?returnTo=%2F', 'the candidate is found');
      assert.deepEqual(elsewhere.reads, [{ fresh: true }], "one fresh read, the check's and the page's");
      assert.deepEqual(elsewhere.readsAtGetUser, [1], 'started before the read of the user is answered');
      for (const app of [signedInAt, elsewhere]) await supertest(app.app).get('/profile').set('Cookie', cookie).expect(200);
      assert.deepEqual([signedInAt.reads, elsewhere.reads], [[{}], [{ fresh: true }, {}]], 'once per sign-in: later pages read as usual');
    });

    it("takes the sign-in's read when it is recent, and reads fresh again when it is not", async () => {
      let now = 1_000_000;
      for (const late of [false, true]) {
        const { app, reads, readsAtGetUser } = appWith({ answer: async () => [other], firstPage: '/page', now: () => now });
        const browser = supertest.agent(app);
        await browser.get('/sign-in').expect(303);
        if (late) now += 5_001;
        await browser.get('/profile').expect(303).expect('location', '/link/suggestions?returnTo=%2Fprofile');
        assert.deepEqual(reads, late ? [{ fresh: true }, { fresh: true }] : [{ fresh: true }]);
        assert.deepEqual(readsAtGetUser, [reads.length]);
      }
    });

    it('shows the profile when the check could not ask the tenant', async () => {
      let calls = 0;
      const { app, reads, warnings } = appWith({
        answer: () => (++calls === 1 ? Promise.reject(new Error('tenant down')) : Promise.resolve([])),
        firstPage: '/',
      });
      const browser = supertest.agent(app);
      await browser.get('/sign-in').expect(303);
      await browser.get('/').expect(303);
      await browser.get('/profile').expect(200);
      assert.equal(warnings.length, 1);
      assert.deepEqual(reads, [{ fresh: true }, {}], 'the page read as usual after the failed check');
    });
  });
});
