/**
 * What a link or unlink needs besides the proof of the other account, end to end against the
 * embedded tenant: a recent sign-in of the current account (docs/security.md case 29), a user
 * that is neither blocked nor deleted, read fresh (case 30), and one confirm acting however many
 * are sent at once, with the merged metadata intact, on every session store (case 33).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import supertest from 'supertest';
import { undoPatch } from '../../src/app/linking/account-linker.ts';
import { SESSION_COOKIE } from '../../src/app/sessions/session-middleware.ts';
import {
  accordPerSuite,
  APP_URL,
  createVerifiedPasswordAccount,
  DATABASE_CONNECTION,
  enterDemoIdentity,
  enterPassword,
  PASSWORD,
  startSignIn,
  type TestAccord,
} from '../helpers/accord.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { sessionStoreVariants, testAppDatabases } from '../helpers/app-databases.ts';
import { testDatabases } from '../helpers/databases.ts';
import { formsOf } from '../helpers/html-forms.ts';
import type { Page, WebBrowser } from '../helpers/web-browser.ts';

const DEMO = 'demo-social';

interface TenantUser {
  user_id: string;
  identities: { provider: string; user_id: string; connection: string }[];
  user_metadata?: Record<string, unknown>;
  app_metadata?: Record<string, unknown>;
}

/** The visible words of a page's <main>. */
function mainText(page: Page): string {
  const main = /<main[^>]*>([\s\S]*)<\/main>/.exec(page.text)?.[1] ?? page.text;
  return main
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/&#34;|&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

const flashOf = (page: Page) => mainText({ ...page, text: /<div class="flash[^"]*"[^>]*>([\s\S]*?)<\/div>/.exec(page.text)?.[1] ?? '' });

function csrfOf(page: Page): string {
  const token = formsOf(page.text).find((f) => f.fields._csrf)?.fields._csrf;
  assert.ok(token, `a CSRF token on ${page.url}`);
  return token;
}

const pathOf = (page: Page) => {
  const u = new URL(page.url);
  return u.origin === APP_URL ? u.pathname + u.search : u.href;
};

/** Runs `fn` with the process clock (app and tenant alike: they share it) moved by `seconds`. */
async function later<T>(seconds: number, fn: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => realNow() + seconds * 1000;
  try {
    return await fn();
  } finally {
    Date.now = realNow;
  }
}

async function getUser(accord: TestAccord, id: string): Promise<TenantUser | undefined> {
  const res = await accord.admin('GET', `/users/${encodeURIComponent(id)}`);
  return res.status === 404 ? undefined : (res.body as TenantUser);
}

async function userOn(accord: TestAccord, email: string, connection: string): Promise<TenantUser> {
  const found = ((await accord.usersByEmail(email)) as unknown as TenantUser[]).filter((u) => u.identities[0]?.connection === connection);
  assert.equal(found.length, 1, `one ${connection} user for ${email}`);
  return found[0]!;
}

const block = (accord: TestAccord, id: string) => accord.admin('PATCH', `/users/${encodeURIComponent(id)}`, { blocked: true });

/**
 * After a sign-in form was submitted with `follow: false`: follows the tenant's redirects (and
 * oidc-provider's self-submitting form) until the tenant sends the browser back to the app's
 * link callback, and returns that URL without opening it.
 */
async function stopAtLinkCallback(b: WebBrowser): Promise<string> {
  for (let hops = 0; hops < 20; hops++) {
    const { status, headers, text, url } = b.page;
    if ([301, 302, 303, 307].includes(status)) {
      const next = new URL(headers.location!, url).href;
      if (next.startsWith(`${APP_URL}/link/callback`)) return next;
      await b.open(next, { follow: false });
    } else if (status === 200 && /document\.forms\[0\]\.submit\(\)/.test(text)) {
      const form = formsOf(text)[0]!;
      await b.post(new URL(form.action, url).href, form.fields);
    } else {
      assert.fail(`expected the way back to ${APP_URL}/link/callback, stuck at ${url} (${status}): ${text.slice(0, 300)}`);
    }
  }
  assert.fail('too many redirects');
}

/** Whether `b` is signed in to the app. */
async function signedIn(b: WebBrowser): Promise<boolean> {
  const page = await b.open(`${APP_URL}/profile`, { follow: false });
  return page.status === 200;
}

/**
 * A verified password account and a demo social sign-in with the same email, the browser signed
 * in with the demo one at "Link these accounts?".
 */
async function suggestedPair(accord: TestAccord, label: string) {
  const email = uniqueEmail(label);
  await createVerifiedPasswordAccount(accord, email);
  const password = await userOn(accord, email, DATABASE_CONNECTION);
  const b = accord.browser();
  await startSignIn(b, DEMO);
  const page = await enterDemoIdentity(b, { email });
  assert.equal(pathOf(page), '/link/suggestions?returnTo=%2F');
  return { email, b, page, password, social: await userOn(accord, email, DEMO) };
}

/** The same, with metadata on both, proven and at the merge preview. */
async function atPreview(accord: TestAccord, label: string) {
  const pair = await suggestedPair(accord, label);
  await accord.app.management.updateUser(pair.password.user_id, { user_metadata: { theme: 'light', nickname: 'ada' }, app_metadata: { beta: true } });
  await accord.app.management.updateUser(pair.social.user_id, { user_metadata: { theme: 'dark' }, app_metadata: { plan: 'pro' } });
  await pair.b.submit('/link/start', {}, { where: { candidate: pair.password.user_id } });
  const page = await enterPassword(pair.b, pair.email);
  assert.equal(pathOf(page), '/link/preview');
  return { ...pair, page };
}

/** The merge of atPreview's metadata, primary-wins, the demo social account staying. */
const MERGED = { user_metadata: { theme: 'dark', nickname: 'ada' }, app_metadata: { plan: 'pro', beta: true } };

/** The tenant after one link of atPreview's accounts: one user with both identities and the merged metadata. */
async function assertLinkedOnce(accord: TestAccord, pair: { social: TenantUser; password: TenantUser }): Promise<void> {
  const primary = (await getUser(accord, pair.social.user_id))!;
  assert.deepEqual(
    primary.identities.map((i) => i.connection),
    [DEMO, DATABASE_CONNECTION],
  );
  assert.deepEqual({ user_metadata: primary.user_metadata, app_metadata: primary.app_metadata }, MERGED, 'the merged metadata is intact');
  assert.equal(await getUser(accord, pair.password.user_id), undefined, 'the secondary is part of the primary now');
}

/** Sends `n` confirms of the preview at once, from its session, as a double click or several tabs would. */
async function confirmAtOnce(accord: TestAccord, b: WebBrowser, preview: Page, n: number) {
  const cookie = `${SESSION_COOKIE}=${b.cookie(accord.appUrl, SESSION_COOKIE)}`;
  const csrf = csrfOf(preview);
  return Promise.all(
    Array.from({ length: n }, () =>
      supertest(accord.app.app).post('/link/confirm').set('cookie', cookie).type('form').send({ _csrf: csrf, primary: 'current' }).redirects(0),
    ),
  );
}

const databases = testDatabases();
const appDatabases = testAppDatabases();

for (const [index, db] of databases.entries()) {
  const appDb = appDatabases[index]!;

  describe(`linking needs a recent sign-in of the current account (docs/security.md case 29) [${db.label}]`, () => {
    let accord!: TestAccord;
    accordPerSuite(
      db,
      appDb,
      (a) => {
        accord = a;
      },
      { env: { RECENT_LOGIN_MAX_AGE: '30' } },
    );

    /** From `/login?fresh=1…`: the tenant asks again (prompt=login, max_age, login_hint); signs in with `connection`. */
    async function freshSignIn(b: WebBrowser, location: string, email: string, connection: string, as = email): Promise<Page> {
      const from = b.history.length;
      const chooser = await b.open(location);
      const authorize = b.history
        .slice(from)
        .map((h) => new URL(h.slice(h.indexOf(' ') + 1)))
        .find((u) => u.pathname === '/authorize');
      assert.ok(authorize, b.history.slice(from).join('\n'));
      assert.equal(authorize.searchParams.get('prompt'), 'login');
      assert.equal(authorize.searchParams.get('max_age'), '30');
      assert.equal(authorize.searchParams.get('login_hint'), email);
      const link = new RegExp(`href="([^"]*/${connection}[^"]*)"`).exec(chooser.text)?.[1];
      assert.ok(link, mainText(chooser).slice(0, 400));
      let page = await b.open(link.replace(/&amp;/g, '&'));
      if (connection === DATABASE_CONNECTION) return enterPassword(b, as);
      if (/\/demo-idp\/interaction\//.test(page.url)) page = await enterDemoIdentity(b, { email: as });
      return page;
    }

    it("a stale session starts nothing; after a fresh sign-in it goes straight on to the other account's proof, and links", async () => {
      const { email, b, password, social } = await suggestedPair(accord, 'stale');
      const res = await later(120, () => b.submit('/link/start', {}, { where: { candidate: password.user_id }, follow: false }));
      assert.equal(res.status, 303);
      assert.equal(res.headers.location, '/login?fresh=1&returnTo=%2Flink%2Fresume');
      const nothing = await b.open(`${APP_URL}/link/authorize`);
      assert.equal(nothing.status, 400, 'no link was started on the stale session');

      // The fresh sign-in of the current account (demo social), then the link goes on by itself:
      // the tenant asks for the other account's password, as a link always does.
      let page = await freshSignIn(b, res.headers.location!, email, DEMO);
      assert.match(page.url, new RegExp(`/login/[^/]+/${DATABASE_CONNECTION}`), `at the other account's sign-in: ${page.url}`);
      assert.ok(b.history.some((h) => h.includes(`${APP_URL}/link/resume`)));
      page = await enterPassword(b, email);
      assert.equal(pathOf(page), '/link/preview');
      page = await b.submit('/link/confirm');
      assert.equal(pathOf(page), '/profile');
      assert.match(flashOf(page), /Accounts linked/);
      assert.deepEqual(
        (await getUser(accord, social.user_id))!.identities.map((i) => i.connection),
        [DEMO, DATABASE_CONNECTION],
      );
    });

    it('a user-initiated link (a connection) continues the same way', async () => {
      const email = uniqueEmail('stale-connection');
      const b = accord.browser();
      await startSignIn(b, DEMO);
      let page = await enterDemoIdentity(b, { email });
      page = await b.open(`${APP_URL}/link/new`);
      const res = await later(120, () => b.submit('/link/start', {}, { where: { connection: DATABASE_CONNECTION }, follow: false }));
      assert.equal(res.headers.location, '/login?fresh=1&returnTo=%2Flink%2Fresume');
      page = await freshSignIn(b, res.headers.location!, email, DEMO);
      assert.match(page.url, new RegExp(`/login/[^/]+/${DATABASE_CONNECTION}`), `at the chosen connection's sign-in: ${page.url}`);
    });

    it('the kept start is used once, only by the same user, and only within five minutes', async () => {
      // Once: the second visit finds nothing to continue.
      const first = await suggestedPair(accord, 'once');
      let res = await later(120, () => first.b.submit('/link/start', {}, { where: { candidate: first.password.user_id }, follow: false }));
      await freshSignIn(first.b, res.headers.location!, first.email, DEMO);
      let page = await first.b.open(`${APP_URL}/link/resume`);
      assert.equal(pathOf(page), '/profile');
      assert.match(flashOf(page), /has expired, or was started by another sign-in, so nothing was linked/);

      // Another user signing in in that browser does not continue it.
      const other = uniqueEmail('other');
      await createVerifiedPasswordAccount(accord, other);
      const second = await suggestedPair(accord, 'switch');
      res = await later(120, () => second.b.submit('/link/start', {}, { where: { candidate: second.password.user_id }, follow: false }));
      page = await freshSignIn(second.b, res.headers.location!, second.email, DATABASE_CONNECTION, other);
      assert.equal(pathOf(page), '/profile');
      assert.match(flashOf(page), /started by another sign-in, so nothing was linked/);
      assert.equal((await second.b.open(`${APP_URL}/link/authorize`)).status, 400, 'no link in progress');

      // After five minutes it has expired.
      const third = await suggestedPair(accord, 'expired');
      res = await later(120, () => third.b.submit('/link/start', {}, { where: { candidate: third.password.user_id }, follow: false }));
      page = await later(120 + 301, () => freshSignIn(third.b, res.headers.location!, third.email, DEMO));
      assert.equal(pathOf(page), '/profile');
      assert.match(flashOf(page), /has expired/);
      assert.deepEqual((await getUser(accord, third.social.user_id))!.identities.length, 1, 'nothing linked');
    });
  });

  describe(`a blocked or deleted user is signed out before any link or unlink, and nothing changes (docs/security.md case 30) [${db.label}]`, () => {
    // The app does not listen here, so the tenant's back-channel logout cannot reach it: what
    // is tested is the app's own fresh read of the user before each change.
    let accord!: TestAccord;
    accordPerSuite(db, appDb, (a) => {
      accord = a;
    });

    const assertSignedOutBecause = async (b: WebBrowser, page: Page, status: number, words: RegExp) => {
      assert.equal(page.status, status, mainText(page).slice(0, 300));
      assert.match(mainText(page), words);
      assert.doesNotMatch(page.text, /action="\/logout"/, 'the page is a signed-out one');
      assert.equal(await signedIn(b), false, 'the session is over');
    };

    it('blocked: starting a link', async () => {
      const { b, social, password } = await suggestedPair(accord, 'blocked-start');
      assert.equal((await block(accord, social.user_id)).status, 200);
      const page = await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      await assertSignedOutBecause(b, page, 403, /Your account is blocked, so you were signed out and nothing was changed/);
      assert.ok(await getUser(accord, password.user_id), 'the candidate is untouched');
    });

    it("blocked: the other account's sign-in coming back", async () => {
      const { b, email, social, password } = await suggestedPair(accord, 'blocked-callback');
      await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      await b.submit(/\/Username-Password-Authentication$/, { email, password: PASSWORD }, { follow: false });
      const callback = await stopAtLinkCallback(b);
      // Blocked while the tenant sends the browser back (blocking ends its tenant sessions, so any earlier would end the sign-in there).
      assert.equal((await block(accord, social.user_id)).status, 200);
      const page = await b.open(callback);
      await assertSignedOutBecause(b, page, 403, /blocked/);
      assert.equal((await getUser(accord, social.user_id))!.identities.length, 1);
    });

    it('blocked: confirming the link', async () => {
      const pair = await atPreview(accord, 'blocked-confirm');
      assert.equal((await block(accord, pair.social.user_id)).status, 200);
      const page = await pair.b.submit('/link/confirm');
      await assertSignedOutBecause(pair.b, page, 403, /blocked/);
      const primary = (await getUser(accord, pair.social.user_id))!;
      assert.equal(primary.identities.length, 1, 'nothing linked');
      assert.deepEqual(primary.user_metadata, { theme: 'dark' }, 'nothing merged');
      assert.ok(await getUser(accord, pair.password.user_id));
    });

    it('blocked: unlinking; and the profile page signs a blocked user out', async () => {
      const pair = await atPreview(accord, 'blocked-unlink');
      assert.equal(pathOf(await pair.b.submit('/link/confirm')), '/profile');
      assert.equal((await block(accord, pair.social.user_id)).status, 200);
      const page = await pair.b.submit('/profile/unlink');
      await assertSignedOutBecause(pair.b, page, 403, /blocked/);
      assert.equal((await getUser(accord, pair.social.user_id))!.identities.length, 2, 'nothing unlinked');

      const again = await suggestedPair(accord, 'blocked-profile');
      assert.equal((await block(accord, again.social.user_id)).status, 200);
      await assertSignedOutBecause(again.b, await again.b.open(`${APP_URL}/profile`), 403, /blocked/);
    });

    it('deleted: starting a link, and confirming one', async () => {
      const { b, social, password } = await suggestedPair(accord, 'deleted-start');
      assert.equal((await accord.admin('DELETE', `/users/${encodeURIComponent(social.user_id)}`)).status, 204);
      const page = await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      await assertSignedOutBecause(b, page, 404, /Your account no longer exists .* so you were signed out and nothing was changed/);

      const pair = await atPreview(accord, 'deleted-confirm');
      assert.equal((await accord.admin('DELETE', `/users/${encodeURIComponent(pair.social.user_id)}`)).status, 204);
      await assertSignedOutBecause(pair.b, await pair.b.submit('/link/confirm'), 404, /no longer exists/);
      assert.equal((await getUser(accord, pair.password.user_id))!.identities.length, 1, 'the other account is untouched');
    });
  });
}

for (const variant of await sessionStoreVariants()) {
  describe(`a double-submitted "Link accounts" (docs/security.md case 33) [${variant.label}]`, () => {
    let accord!: TestAccord;
    accordPerSuite(
      variant.db,
      variant.appDb,
      (a) => {
        accord = a;
      },
      {
        env: variant.env,
        ...(variant.redisKeyPrefix ? { redisKeyPrefix: variant.redisKeyPrefix } : {}),
      },
    );

    for (const [n, runs] of [
      [2, 3],
      [10, 1],
    ] as const) {
      it(`${n} confirms at once: exactly one links, the others are told it is already done, the merged metadata is intact`, async () => {
        for (let run = 0; run < runs; run++) {
          const pair = await atPreview(accord, `double-${n}`);
          const answers = await confirmAtOnce(accord, pair.b, pair.page, n);
          const linked = answers.filter((r) => r.status === 303);
          assert.equal(linked.length, 1, `one confirm acts: ${answers.map((r) => r.status).join(', ')}`);
          assert.equal(linked[0]!.headers.location, '/profile');
          for (const loser of answers.filter((r) => r.status !== 303)) {
            assert.equal(loser.status, 409);
            assert.match(mainText({ url: '', status: 409, headers: {}, text: loser.text }), /already being linked, or were linked, from another tab or window/);
          }
          await assertLinkedOnce(accord, pair);
        }
      });
    }

    it('two browsers of one person confirm the same link at once: one links, the other changes nothing and undoes nothing', async () => {
      const pair = await atPreview(accord, 'two-browsers');
      const second = accord.browser();
      await startSignIn(second, DEMO);
      await enterDemoIdentity(second, { email: pair.email });
      await second.open(`${APP_URL}/link/suggestions`);
      await second.submit('/link/start', {}, { where: { candidate: pair.password.user_id } });
      const secondPreview = await enterPassword(second, pair.email);
      assert.equal(pathOf(secondPreview), '/link/preview');

      const answers = await Promise.all([confirmAtOnce(accord, pair.b, pair.page, 1), confirmAtOnce(accord, second, secondPreview, 1)]);
      const statuses = answers
        .flat()
        .map((r) => r.status)
        .sort();
      assert.deepEqual(
        statuses,
        [303, 409],
        answers
          .flat()
          .map((r) => mainText({ url: '', status: 0, headers: {}, text: r.text }).slice(0, 200))
          .join(' | '),
      );
      const loser = answers.flat().find((r) => r.status === 409)!;
      assert.match(mainText({ url: '', status: 409, headers: {}, text: loser.text }), /linked meanwhile from another tab or window|already being linked/);
      await assertLinkedOnce(accord, pair);
    });
  });
}

describe('undoPatch: an undo takes back only what its own request wrote (docs/security.md case 33)', () => {
  it('restores changed keys, deletes added ones, and leaves alone keys changed since by someone else', () => {
    const before = { theme: 'dark', tags: ['a'] };
    const written = { theme: 'light', nickname: 'ada', tags: ['a', 'b'] };
    assert.deepEqual(undoPatch(before, written, { ...before, ...written }), { theme: 'dark', nickname: null, tags: ['a'] });
    // Another request changed `theme` since, and removed `nickname`: those are not ours any more.
    assert.deepEqual(undoPatch(before, written, { theme: 'blue', tags: ['a', 'b'] }), { tags: ['a'] });
    assert.deepEqual(undoPatch(before, written, before), {}, 'nothing of ours is left to take back');
  });
});
