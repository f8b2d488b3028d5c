/**
 * The app end to end over HTTP, against the embedded tenant: the profile page, unlinking
 * (checklist cases 13, 14), the primary from the session only (11), returnTo (18), framing
 * (19), cross-origin POSTs (20), the session id at sign-in (21), user-initiated linking of a
 * new identity, sign-out at both halves, error pages, and what is logged (25).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import supertest from 'supertest';
import { SESSION_COOKIE } from '../../src/app/sessions/session-middleware.ts';
import { createLogger, type Logger } from '../../src/platform/logger.ts';
import type { StoredMail } from '../../src/tenant/mail/mailer.ts';
import {
  accordPerSuite,
  APP_URL,
  createVerifiedPasswordAccount,
  DATABASE_CONNECTION,
  enterDemoIdentity,
  enterEmailCode,
  enterPassword,
  PASSWORD,
  startSignIn,
  type TestAccord,
} from '../helpers/accord.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { testAppDatabases } from '../helpers/app-databases.ts';
import { testDatabases } from '../helpers/databases.ts';
import type { Page, WebBrowser } from '../helpers/web-browser.ts';

// ——— Reading pages ———

/** The visible words of some HTML, whitespace collapsed. */
const words = (html: string) =>
  html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();

/** The one-time message at the top of a page. */
const flashOf = (html: string) => words(/<div class="flash[^"]*"[^>]*>([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '');

/** Each row of the profile's "Sign-in methods" list, as HTML. */
function identityRows(html: string): string[] {
  const section = /<section class="card" aria-labelledby="methods">([\s\S]*?)<\/section>/.exec(html)?.[1];
  assert.ok(section, 'the profile has a "Sign-in methods" section');
  return [...section.matchAll(/<li class="identity">([\s\S]*?)<\/li>/g)].map((m) => m[1]!);
}

/** The sign-in method a profile row shows, in words. */
const methodOf = (row: string) => words(/<p class="account-method">([\s\S]*?)<\/p>/.exec(row)?.[1] ?? '');

const pathOf = (page: Page) => {
  const u = new URL(page.url);
  return u.origin === APP_URL ? u.pathname + u.search : u.href;
};

/** An error page in words: its status line, and nothing of the server's insides. */
function assertErrorPage(page: Page, status: number, what: string): void {
  assert.equal(page.status, status, `${what}: ${page.status} ${words(page.text).slice(0, 300)}`);
  // A heading in words: what happened, never the status code (issue 16 item 2).
  assert.match(page.text, /<h1>[A-Z][^<]+<\/h1>/, what);
  assert.doesNotMatch(page.text, /Error \d{3}|That did not work/, what);
  assert.doesNotMatch(page.text, /\bat \S+ \(|node_modules|Error: |\.ts:\d+/, `${what}: no stack trace`);
}

// ——— What a person does ———

async function signInWithPassword(b: WebBrowser, email: string): Promise<Page> {
  await startSignIn(b, DATABASE_CONNECTION);
  return enterPassword(b, email);
}

async function signInWithDemo(b: WebBrowser, email: string): Promise<Page> {
  await startSignIn(b, 'demo-social');
  return enterDemoIdentity(b, { email });
}

interface LinkedAccount {
  b: WebBrowser;
  email: string;
  /** The demo-social user: it stays primary. */
  mainId: string;
  /** The password user that was linked into it. */
  passwordUserId: string;
  secondary: { provider: string; user_id: string; connection: string };
  profile: Page;
}

/** A person with a password account and a demo-social account, linked by the suggested flow; `b` is on the profile. */
async function linkedAccount(accord: TestAccord): Promise<LinkedAccount> {
  const email = uniqueEmail('linked');
  await createVerifiedPasswordAccount(accord, email);
  const [passwordUser] = await accord.usersByEmail(email);
  assert.ok(passwordUser);
  const b = accord.browser();
  let page = await signInWithDemo(b, email);
  assert.equal(pathOf(page), '/link/suggestions?returnTo=%2F');
  const main = (await accord.usersByEmail(email)).find((u) => u.user_id !== passwordUser.user_id);
  assert.ok(main, 'the demo-social sign-in created its own user');
  await b.submit('/link/start');
  await enterPassword(b, email);
  page = await b.submit('/link/confirm');
  assert.equal(pathOf(page), '/profile');
  const user = await accord.user(main.user_id);
  assert.equal(user.identities.length, 2);
  return { b, email, mainId: main.user_id, passwordUserId: passwordUser.user_id, secondary: user.identities[1]!, profile: page };
}

/** A POST with a raw form body, in `b`'s app session (for bodies a form never produces). */
function rawPost(accord: TestAccord, b: WebBrowser, path: string, body: string, type = 'application/x-www-form-urlencoded') {
  return supertest(accord.app.app)
    .post(path)
    .set('cookie', `${SESSION_COOKIE}=${b.cookie(APP_URL, SESSION_COOKIE)}`)
    .set('content-type', type)
    .send(body)
    .redirects(0);
}

/** Runs `fn` with the clock `seconds` ahead (the tenant runs in this process too, so only briefly). */
async function later<T>(seconds: number, fn: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => realNow() + seconds * 1000;
  try {
    return await fn();
  } finally {
    Date.now = realNow;
  }
}

const databases = testDatabases();
const appDatabases = testAppDatabases();

for (const [index, db] of databases.entries()) {
  const appDb = appDatabases[index]!;

  describe(`Profile, unlink and the app's defenses [${db.label}]`, () => {
    let accord: TestAccord;
    accordPerSuite(db, appDb, (a) => {
      accord = a;
    });

    describe('profile page', () => {
      it('lists every identity in words, Unlink only on secondaries, "Main account" on the main one, and the link in the history', async () => {
        const { profile, secondary } = await linkedAccount(accord);
        const rows = identityRows(profile.text);
        assert.equal(rows.length, 2);
        const [main, other] = rows as [string, string];
        assert.equal(methodOf(main), 'Demo social');
        assert.match(words(main), /Main account$/);
        assert.doesNotMatch(main, /action="\/profile\/unlink"/, 'no Unlink on the main identity');
        assert.equal(methodOf(other), 'Email and password');
        assert.match(words(other), /Unlink Email and password$/);
        assert.doesNotMatch(other, /Main account/);
        assert.match(other, new RegExp(`name="provider" value="${secondary.provider}"`));
        assert.match(other, new RegExp(`name="user_id" value="${secondary.user_id}"`));
        assert.equal(profile.text.match(/Main account/g)?.length, 1);
        const history = words(/aria-labelledby="history">([\s\S]*?)<\/section>/.exec(profile.text)![1]!);
        assert.match(history, /\d+ \w+ \d{4} Linked a sign-in method: Email and password/, history);
      });

      it('says so when nothing was linked yet, and offers "Link another account"', async () => {
        const b = accord.browser();
        const page = await signInWithDemo(b, uniqueEmail('alone'));
        assert.equal(pathOf(page), '/profile');
        assert.equal(identityRows(page.text).length, 1);
        assert.match(words(page.text), /No accounts have been linked or unlinked yet/);
        assert.match(page.text, /<a [^>]*href="\/link\/new"[^>]*>Link another account<\/a>/);
      });
    });

    describe('unlink (checklist cases 13, 14)', () => {
      it('makes the secondary a separate user again, explains it, and a new sign-in with it is a separate, suggested account', async () => {
        const { b, email, mainId, passwordUserId, secondary } = await linkedAccount(accord);
        const before = b.cookie(APP_URL, SESSION_COOKIE);
        const page = await b.submit('/profile/unlink');
        assert.equal(pathOf(page), '/profile');
        assert.match(flashOf(page.text), /Unlinked\. Your Email and password sign-in is a separate account again, without any profile information/);
        assert.notEqual(b.cookie(APP_URL, SESSION_COOKIE), before, 'a new session id after an unlink (case 21)');
        assert.equal(identityRows(page.text).length, 1);
        const history = words(/aria-labelledby="history">([\s\S]*?)<\/section>/.exec(page.text)![1]!);
        assert.match(history, /Unlinked a sign-in method: Email and password.*Linked a sign-in method: Email and password/, 'newest first');

        const users = (await accord.usersByEmail(email)).map((u) => u.user_id).sort();
        assert.deepEqual(users, [mainId, passwordUserId].sort(), 'two users again; the secondary keeps its own id');
        assert.equal((await accord.user(mainId)).identities.length, 1);
        const restored = await accord.user(passwordUserId);
        assert.deepEqual(
          restored.identities.map((i) => `${i.provider}|${i.user_id}`),
          [`${secondary.provider}|${secondary.user_id}`],
        );
        // Same verified email: it is now a suggestion on the profile, not a linked method.
        assert.ok(b.form('/link/start', { candidate: passwordUserId }));

        // Signing in with the unlinked identity: its own user, offered for linking — never linked silently.
        const other = accord.browser();
        const signedIn = await signInWithPassword(other, email);
        assert.equal(pathOf(signedIn), '/link/suggestions?returnTo=%2F');
        assert.ok(other.form('/link/start', { candidate: mainId }), 'the other account is the candidate, so this session is the password user');
        const profile = await other.open('/profile');
        const rows = identityRows(profile.text);
        assert.equal(rows.length, 1);
        assert.equal(methodOf(rows[0]!), 'Email and password');
        assert.match(words(rows[0]!), /Main account$/);
        assert.equal((await accord.usersByEmail(email)).length, 2);
        assert.equal((await accord.user(passwordUserId)).identities.length, 1);
        assert.equal((await accord.user(mainId)).identities.length, 1);
      });

      it('refuses to unlink the main identity (400) and changes nothing', async () => {
        const { b, mainId } = await linkedAccount(accord);
        const main = (await accord.user(mainId)).identities[0]!;
        const { _csrf } = b.form('/profile/unlink').fields;
        const page = await b.post('/profile/unlink', { _csrf: _csrf!, provider: main.provider, user_id: main.user_id });
        assertErrorPage(page, 400, 'unlink main');
        assert.match(words(page.text), /cannot be unlinked/);
        assert.equal((await accord.user(mainId)).identities.length, 2);
      });

      it("refuses an unlink without the CSRF token, with a forged one or another session's (403), and changes nothing", async () => {
        const { b, mainId, secondary } = await linkedAccount(accord);
        const target = { provider: secondary.provider, user_id: secondary.user_id };
        const elsewhere = accord.browser();
        await signInWithDemo(elsewhere, uniqueEmail('elsewhere'));
        const otherSessionsToken = elsewhere.form('/logout').fields._csrf!;
        const { _csrf } = b.form('/profile/unlink').fields;
        for (const token of [undefined, '', 'x'.repeat(_csrf!.length), `${_csrf!.slice(0, -1)}${_csrf!.endsWith('A') ? 'B' : 'A'}`, otherSessionsToken]) {
          const page = await b.post('/profile/unlink', { ...target, ...(token === undefined ? {} : { _csrf: token }) });
          assertErrorPage(page, 403, `token ${JSON.stringify(token)}`);
        }
        assert.equal((await accord.user(mainId)).identities.length, 2);
      });
    });

    describe("checklist case 11: the primary is always the session's", () => {
      it("refuses to unlink another user's identities, and ignores a primary id in the form", async () => {
        const alice = await linkedAccount(accord);
        const bob = await linkedAccount(accord);
        const bobUser = await accord.user(bob.mainId);
        const { _csrf } = alice.b.form('/profile/unlink').fields;
        for (const identity of bobUser.identities) {
          for (const extra of [{}, { primary: bob.mainId, primary_user_id: bob.mainId, id: bob.mainId }] as Record<string, string>[]) {
            const page = await alice.b.post('/profile/unlink', { _csrf: _csrf!, provider: identity.provider, user_id: identity.user_id, ...extra });
            assertErrorPage(page, 404, `${identity.provider}|${identity.user_id}`);
            assert.match(words(page.text), /not linked to your profile/);
          }
        }
        assert.deepEqual(await accord.user(bob.mainId), bobUser, 'the other user is unchanged');

        // Alice's own secondary with Bob's id as "primary": Alice's is unlinked, Bob's untouched.
        const page = await alice.b.post(
          '/profile/unlink',
          {
            _csrf: _csrf!,
            provider: alice.secondary.provider,
            user_id: alice.secondary.user_id,
            primary: bob.mainId,
            user: bob.mainId,
          },
          {},
          true,
        );
        assert.equal(pathOf(page), '/profile');
        assert.equal((await accord.user(alice.mainId)).identities.length, 1);
        assert.deepEqual(await accord.user(bob.mainId), bobUser);
      });
    });

    describe('checklist case 18: returnTo', () => {
      const hostile = [
        '//evil.com',
        '/\\evil.com',
        'https://evil.com',
        'javascript:alert(1)',
        '\t/evil.com',
        '\t//evil.com',
        '/\t/evil.com',
        '/%09/evil.com',
        '/%2F/evil.com',
        ' /evil.com',
      ];

      for (const value of hostile) {
        it(`after sign-in with returnTo=${JSON.stringify(value)} the app lands on / (→ /profile)`, async () => {
          const b = accord.browser();
          await b.open(`${APP_URL}/login?connection=demo-social&returnTo=${encodeURIComponent(value)}`);
          const page = await enterDemoIdentity(b, { email: uniqueEmail('returnto') });
          const callback = b.history.findIndex((h) => h.startsWith(`GET ${APP_URL}/callback?`));
          assert.ok(callback > 0);
          assert.equal(b.history[callback + 1], `GET ${APP_URL}/`);
          assert.equal(page.url, `${APP_URL}/profile`);
        });
      }

      it('ignores a repeated returnTo (an array), and honours a same-origin path with its query', async () => {
        const email = uniqueEmail('returnto');
        const b = accord.browser();
        await b.open(`${APP_URL}/login?connection=demo-social&returnTo=%2Fprofile%3Fx%3D1&returnTo=%2F%2Fevil.com`);
        let page = await enterDemoIdentity(b, { email });
        assert.equal(page.url, `${APP_URL}/profile`);
        assert.ok(b.history.includes(`GET ${APP_URL}/`));

        const c = accord.browser();
        await c.open(`${APP_URL}/login?connection=demo-social&returnTo=${encodeURIComponent('/profile?x=1')}`);
        page = await enterDemoIdentity(c, { email });
        assert.equal(page.url, `${APP_URL}/profile?x=1`);
        assert.equal(page.status, 200);
      });
    });

    describe('checklist case 19: framing and inline scripts', () => {
      it('every app page forbids framing and inline scripts', async () => {
        const anonymous = accord.browser();
        const b = accord.browser();
        await signInWithDemo(b, uniqueEmail('frames'));
        const { _csrf } = b.form('/logout').fields;
        const pages: [string, Page][] = [
          ['home', await anonymous.open(`${APP_URL}/`)],
          ['login redirect', await anonymous.open(`${APP_URL}/login`, { follow: false })],
          ['profile redirect', await anonymous.open(`${APP_URL}/profile`, { follow: false })],
          ['404', await anonymous.open(`${APP_URL}/no-such-page`)],
          ['profile', await b.open(`${APP_URL}/profile`)],
          ['link new', await b.open(`${APP_URL}/link/new`)],
          ['suggestions', await b.open(`${APP_URL}/link/suggestions`, { follow: false })],
          ['preview without a link', await b.open(`${APP_URL}/link/preview`)],
          ['400', await b.post(`${APP_URL}/profile/unlink`, { _csrf: _csrf! })],
          ['403', await b.post(`${APP_URL}/profile/unlink`, {})],
          ['stylesheet', await b.open(`${APP_URL}/css/app.css`)],
          ['healthz', await b.open(`${APP_URL}/healthz`)],
        ];
        for (const [name, page] of pages) {
          const csp = page.headers['content-security-policy'];
          assert.ok(csp, `${name}: has a Content-Security-Policy`);
          const directives = new Map(
            csp
              .split(';')
              .map((d) => d.trim().split(/\s+/))
              .map(([k, ...v]) => [k!, v]),
          );
          assert.deepEqual(directives.get('frame-ancestors'), ["'none'"], `${name}: ${csp}`);
          const scripts = directives.get('script-src') ?? directives.get('default-src');
          assert.ok(scripts && !scripts.includes("'unsafe-inline'") && !scripts.includes('*'), `${name}: ${csp}`);
          assert.equal(page.headers['x-frame-options'], 'DENY', name);
          assert.doesNotMatch(page.text, /<script(?![^>]*\bsrc=)[^>]*>/, `${name}: no inline script`);
          assert.doesNotMatch(page.text, /\son[a-z]+="/, `${name}: no inline event handler`);
        }
      });
    });

    describe('caching', () => {
      it('pages are never stored by a browser or shared cache and carry no ETag; the stylesheet is cached', async () => {
        const b = accord.browser();
        await signInWithDemo(b, uniqueEmail('no-store'));
        const pages: [string, Page][] = [
          ['profile', await b.open(`${APP_URL}/profile`)],
          ['link new', await b.open(`${APP_URL}/link/new`)],
          ['404 signed in', await b.open(`${APP_URL}/no-such-page`)],
          ['home', await accord.browser().open(`${APP_URL}/`)],
        ];
        for (const [name, page] of pages) {
          assert.ok(page.status === 200 || page.status === 404, `${name}: ${page.status}`);
          assert.equal(page.headers['cache-control'], 'no-store', name);
          assert.equal(page.headers.etag, undefined, name);
        }
        const css = await b.open(`${APP_URL}/css/app.css`);
        assert.match(css.headers['cache-control'] ?? '', /max-age=3600/);
      });
    });

    describe('checklist case 20: cross-origin POSTs', () => {
      it('refuses them with 403 even with a valid CSRF token, and nothing changes', async () => {
        const person = await linkedAccount(accord);
        const { b, email, mainId } = person;
        // A third account with the same verified email, so the profile suggests it.
        const c = accord.browser();
        await startSignIn(c, 'email');
        await enterEmailCode(c, accord, email);
        const codeUser = (await accord.usersByEmail(email)).find((u) => u.user_id !== mainId);
        assert.ok(codeUser);
        await b.open('/profile');
        const forms = [
          b.form('/link/start', { candidate: codeUser.user_id }),
          b.form('/link/keep-separate', { candidate: codeUser.user_id }),
          b.form('/profile/unlink'),
          b.form('/logout'),
        ];
        const attacks: Record<string, string>[] = [
          { origin: 'https://evil.example' },
          { 'sec-fetch-site': 'cross-site' },
          { 'sec-fetch-site': 'same-site' },
          { origin: 'null' },
          { origin: 'null', 'sec-fetch-site': 'cross-site' },
          { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' },
          { origin: APP_URL, 'sec-fetch-site': 'cross-site' },
        ];
        for (const form of forms) {
          for (const headers of attacks) {
            const page = await b.post(form.action, form.fields, headers);
            assertErrorPage(page, 403, `${form.action} ${JSON.stringify(headers)}`);
            assert.match(words(page.text), /Request refused/);
          }
        }
        // Still signed in, still linked, the candidate still suggested, no link started.
        const profile = await b.open('/profile', { follow: false });
        assert.equal(profile.status, 200);
        assert.equal(identityRows(profile.text).length, 2);
        assert.ok(b.form('/link/start', { candidate: codeUser.user_id }));
        assert.equal((await accord.user(mainId)).identities.length, 2);
        assertErrorPage(await b.open('/link/authorize', { follow: false }), 400, 'no link ticket');

        // The same request from the app's own page goes through.
        await b.open('/profile');
        const keep = b.form('/link/keep-separate', { candidate: codeUser.user_id });
        const ok = await b.post(keep.action, keep.fields, { origin: new URL(APP_URL).origin, 'sec-fetch-site': 'same-origin' });
        assert.equal(ok.status, 303);
        // A browser hiding the origin (Origin: null) but vouching it is same-origin goes through too…
        const profile2 = await b.open('/profile');
        const again = b.form('/link/suggest-again', { candidate: codeUser.user_id });
        assert.equal((await b.post(again.action, again.fields, { origin: 'null', 'sec-fetch-site': 'same-origin' })).status, 303);
        // …though the app's Referrer-Policy keeps browsers sending the real origin on its forms.
        assert.equal(profile2.headers['referrer-policy'], 'same-origin');
      });
    });

    describe('checklist case 21: session id at sign-in', () => {
      it('the session cookie before sign-in differs from the one after, and the old one signs nobody in', async () => {
        const b = accord.browser();
        await startSignIn(b, 'demo-social');
        const before = b.cookie(APP_URL, SESSION_COOKIE);
        assert.ok(before, 'the sign-in started a session (state, PKCE)');
        const page = await enterDemoIdentity(b, { email: uniqueEmail('sid') });
        assert.equal(pathOf(page), '/profile');
        const after = b.cookie(APP_URL, SESSION_COOKIE);
        assert.ok(after);
        assert.notEqual(after, before);
        const old = await supertest(accord.app.app).get('/profile').set('cookie', `${SESSION_COOKIE}=${before}`).redirects(0);
        assert.equal(old.status, 303);
        assert.equal(old.headers.location, '/login?returnTo=%2Fprofile');
      });

      it("the CSRF token is the same on every page of a session, whatever request came first, and unlike any other session's", async () => {
        const b = accord.browser();
        await startSignIn(b, 'demo-social');
        // Stop right after /callback: the new session has served no page yet.
        let page = await b.submit(
          /\/demo-idp\/interaction\//,
          { action: 'login', email: uniqueEmail('csrf'), name: 'Ada', email_verified: 'on' },
          { follow: false },
        );
        for (let hops = 0; !page.url.startsWith(`${APP_URL}/callback`); hops++) {
          assert.ok(hops < 12 && page.headers.location, `stuck at ${page.url}`);
          page = await b.open(new URL(page.headers.location, page.url).href, { follow: false });
        }
        const cookie = `${SESSION_COOKIE}=${b.cookie(APP_URL, SESSION_COOKIE)}`;
        // Parallel first requests of a fresh session (a page and its favicon) must not each mint a token.
        const pages = await Promise.all([0, 1, 2].map(() => supertest(accord.app.app).get('/profile').set('cookie', cookie)));
        const tokens = new Set(pages.map((p) => /name="_csrf" value="([^"]+)"/.exec(p.text)?.[1]));
        assert.equal(tokens.size, 1, 'one token for the session');
        const other = accord.browser();
        await startSignIn(other, 'demo-social');
        await enterDemoIdentity(other, { email: uniqueEmail('csrf-other') });
        assert.ok(!tokens.has(other.form('/logout').fields._csrf), 'another session has another token');
      });
    });

    describe('user-initiated linking', () => {
      it('links a brand-new identity: choose a connection by name, sign in, preview, confirm', async () => {
        const email = uniqueEmail('owner');
        await createVerifiedPasswordAccount(accord, email);
        const b = accord.browser();
        assert.equal(pathOf(await signInWithPassword(b, email)), '/profile');
        const [primary] = await accord.usersByEmail(email);
        assert.ok(primary);

        const choose = await b.open('/link/new');
        assert.equal(choose.status, 200);
        const choices = [...choose.text.matchAll(/<button[^>]*>Continue with ([^<]+)<\/button>/g)].map((m) => m[1]!.trim());
        for (const label of ['Email and password', 'Email code', 'Demo social', 'Google'])
          assert.ok(choices.includes(label), `${label} in ${choices.join(', ')}`);
        assert.ok(
          choices.every((label) => /^[A-Z][\w ]+$/.test(label) && !label.includes('-')),
          choices.join(', '),
        );

        await b.submit('/link/start', {}, { where: { connection: 'demo-social' } });
        const newEmail = uniqueEmail('brand-new');
        let page = await enterDemoIdentity(b, { email: newEmail, name: 'Ada at home' });
        assert.equal(pathOf(page), '/link/preview');
        const [fresh] = await accord.usersByEmail(newEmail);
        assert.ok(fresh, 'the sign-in created a fresh user for the new identity');

        page = await b.submit('/link/confirm');
        assert.equal(pathOf(page), '/profile');
        assert.match(flashOf(page.text), /Accounts linked/);
        assert.deepEqual(identityRows(page.text).map(methodOf), ['Email and password', 'Demo social']);

        const linked = await accord.user(primary.user_id);
        assert.deepEqual(
          linked.identities.map((i) => i.connection),
          [DATABASE_CONNECTION, 'demo-social'],
        );
        assert.equal(`${linked.identities[1]!.provider}|${linked.identities[1]!.user_id}`, fresh.user_id);
        assert.deepEqual(
          (await accord.usersByEmail(newEmail)).map((u) => u.user_id).filter((id) => id === fresh.user_id),
          [],
          'the fresh user is gone',
        );
        await assert.rejects(accord.app.management.getUser(fresh.user_id), /./, 'the fresh user no longer exists on its own');
      });

      it('refuses a connection that does not exist (400), or a malformed name', async () => {
        const b = accord.browser();
        await signInWithDemo(b, uniqueEmail('chooser'));
        const { _csrf } = b.form('/logout').fields;
        for (const connection of ['no-such-connection', 'not a name', '../../admin']) {
          const page = await b.post('/link/start', { _csrf: _csrf!, connection });
          assertErrorPage(page, 400, connection);
        }
        assertErrorPage(await b.open('/link/authorize', { follow: false }), 400, 'no link ticket');
      });
    });

    describe('sign-out', () => {
      it('ends the app session, signs out at the tenant with id_token_hint, comes back to / and asks for credentials next time', async () => {
        const email = uniqueEmail('leaving');
        await createVerifiedPasswordAccount(accord, email);
        const b = accord.browser();
        await signInWithPassword(b, email);
        const [user] = await accord.usersByEmail(email);
        // Control: while the tenant session lives, signing in again asks for nothing.
        const again = await startSignIn(b, DATABASE_CONNECTION);
        assert.equal(pathOf(again), '/profile');

        const res = await b.submit('/logout', {}, { follow: false });
        assert.equal(res.status, 303);
        const logout = new URL(res.headers.location!);
        const discovery = (await (await fetch(`${accord.tenantUrl}/.well-known/openid-configuration`)).json()) as { end_session_endpoint: string };
        assert.equal(`${logout.origin}${logout.pathname}`, discovery.end_session_endpoint);
        assert.equal(logout.searchParams.get('post_logout_redirect_uri'), `${APP_URL}/`);
        assert.equal(logout.searchParams.get('client_id'), accord.appConfig.clientId);
        const hint = logout.searchParams.get('id_token_hint');
        assert.ok(hint);
        const claims = JSON.parse(Buffer.from(hint.split('.')[1]!, 'base64url').toString()) as { sub: string; aud: string };
        assert.equal(claims.sub, user!.user_id);
        assert.equal(claims.aud, accord.appConfig.clientId);

        assert.equal(b.cookie(APP_URL, SESSION_COOKIE), undefined, 'the session cookie is cleared');
        const profile = await b.open(`${APP_URL}/profile`, { follow: false });
        assert.equal(profile.status, 303);
        assert.equal(profile.headers.location, '/login?returnTo=%2Fprofile');

        // The app's own request (its registered return address, an id_token_hint of this
        // session): the tenant asks nothing and its page submits the sign-out by itself.
        const home = await b.open(logout.href);
        assert.ok(b.history.includes(`POST ${accord.tenantUrl}/oidc/logout/confirm`), 'the tenant session ended through its logout form');
        assert.equal(home.url, `${APP_URL}/`);
        assert.match(words(home.text), /Sign in/);

        const signIn = await startSignIn(b, DATABASE_CONNECTION);
        assert.match(signIn.url, new RegExp(`^${accord.tenantUrl}/login/[^/]+/${DATABASE_CONNECTION}`), 'credentials asked again');
        assert.equal(pathOf(await enterPassword(b, email)), '/profile');
      });
    });

    describe('errors', () => {
      it('an unknown path is a 404 page in words', async () => {
        const b = accord.browser();
        for (const path of ['/no-such-page', '/profile/nope', '/link', '/%E0%A4%A']) {
          const page = await b.open(`${APP_URL}${path}`);
          assertErrorPage(page, 404, path);
          assert.match(words(page.text), /Page not found There is no page at this address/);
        }
      });

      it('malformed forms are 400 (or 403/413) pages, never a 500 or a stack trace', async () => {
        const b = accord.browser();
        await signInWithDemo(b, uniqueEmail('forms'));
        const csrf = encodeURIComponent(b.form('/logout').fields._csrf!);
        const cases: [string, string, number][] = [
          ['/link/keep-separate', `_csrf=${csrf}&candidate[]=a&candidate[]=b`, 400],
          ['/link/keep-separate', `_csrf=${csrf}&candidate=a&candidate=b`, 400],
          ['/link/keep-separate', `_csrf=${csrf}`, 400],
          ['/link/suggest-again', `_csrf=${csrf}&candidate=`, 400],
          ['/link/start', `_csrf=${csrf}`, 400],
          ['/link/start', `_csrf=${csrf}&candidate=a&candidate=b`, 400],
          ['/link/start', `_csrf=${csrf}&connection[x]=demo-social`, 400],
          ['/link/confirm', `_csrf=${csrf}&primary=bogus`, 400],
          ['/link/confirm', `_csrf=${csrf}&primary=current&primary=other`, 400],
          ['/profile/unlink', `_csrf=${csrf}`, 400],
          ['/profile/unlink', `_csrf=${csrf}&provider=auth0`, 400],
          ['/profile/unlink', `_csrf=${csrf}&provider=auth0&provider=x&user_id=1`, 400],
          ['/profile/unlink', `_csrf=${csrf}&provider=${'p'.repeat(200)}&user_id=1`, 400],
          // Broken percent-encoding is read leniently: a well-formed form naming no identity of this user.
          ['/profile/unlink', `_csrf=${csrf}&provider=%E0%A4%A&user_id=%`, 404],
          ['/profile/unlink', `_csrf=${csrf}&_csrf=${csrf}&provider=auth0&user_id=1`, 403],
          ['/profile/unlink', `_csrf[]=${csrf}&provider=auth0&user_id=1`, 403],
          ['/profile/unlink', `_csrf=${csrf}&${Array.from({ length: 60 }, (_, i) => `f${i}=x`).join('&')}`, 413],
          ['/profile/unlink', `_csrf=${csrf}&provider=${'x'.repeat(20_000)}`, 413],
        ];
        for (const [path, body, status] of cases) {
          const res = await rawPost(accord, b, path, body);
          assertErrorPage({ url: path, status: res.status, text: res.text, headers: {} }, status, `${path} ${body.slice(0, 80)}`);
        }
        // A JSON body is not a form: there is no CSRF token in it.
        const json = await rawPost(
          accord,
          b,
          '/profile/unlink',
          JSON.stringify({ _csrf: decodeURIComponent(csrf), provider: 'auth0', user_id: '1' }),
          'application/json',
        );
        assertErrorPage({ url: '', status: json.status, text: json.text, headers: {} }, 403, 'json body');
        // Still signed in and working.
        assert.equal((await b.open('/profile', { follow: false })).status, 200);
      });

      it('GET /healthz answers 200 {status: "ok"}', async () => {
        const res = await supertest(accord.app.app).get('/healthz');
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, { status: 'ok' });
      });

      it('a visitor who only reads pages gets no session (nothing stored for anonymous traffic)', async () => {
        for (const path of ['/', '/no-such-page', '/healthz']) {
          const res = await supertest(accord.app.app).get(path);
          assert.equal(res.headers['set-cookie'], undefined, `${path} set a cookie`);
        }
      });

      it('a callback without a code or an error is a sign-in failure, not a new sign-in', async () => {
        const res = await supertest(accord.app.app).get('/callback?state=x');
        assert.equal(res.status, 400);
        assert.match(res.text, /sign-in could not be completed/);
        assert.equal(res.headers.location, undefined);
      });
    });
  });

  describe(`Unlink needs a recent sign-in [${db.label}]`, () => {
    let accord: TestAccord;
    accordPerSuite(
      db,
      appDb,
      (a) => {
        accord = a;
      },
      { env: { RECENT_LOGIN_MAX_AGE: '30' } },
    );

    it('a fresh sign-in counts as recent: unlink works at once', async () => {
      const { b, mainId, profile } = await linkedAccount(accord);
      assert.doesNotMatch(words(profile.text), /sign in again first/);
      assert.equal(pathOf(await b.submit('/profile/unlink')), '/profile');
      assert.equal((await accord.user(mainId)).identities.length, 1);
    });

    it('after 2 minutes unlink sends the person to sign in again (prompt=login, max_age), then works', async () => {
      const { b, email, mainId } = await linkedAccount(accord);
      const res = await later(120, async () => {
        const profile = await b.open('/profile');
        assert.match(words(profile.text), /You will be asked to sign in again first/);
        return b.submit('/profile/unlink', {}, { follow: false });
      });
      assert.equal(res.status, 303);
      assert.equal(res.headers.location, '/login?fresh=1&returnTo=%2Fprofile');
      assert.equal((await accord.user(mainId)).identities.length, 2, 'nothing unlinked yet');

      const from = b.history.length;
      const chooser = await b.open(res.headers.location!);
      const authorize = b.history
        .slice(from)
        .map((h) => new URL(h.slice(4)))
        .find((u) => u.pathname === '/authorize');
      assert.ok(authorize, b.history.slice(from).join('\n'));
      assert.equal(authorize.searchParams.get('prompt'), 'login');
      assert.equal(authorize.searchParams.get('max_age'), '30');
      assert.equal(authorize.searchParams.get('login_hint'), email);
      // The tenant asks for credentials even though its session is alive: either linked method will do.
      const passwordLink = /href="([^"]*\/Username-Password-Authentication[^"]*)"/.exec(chooser.text)?.[1];
      assert.ok(passwordLink, words(chooser.text).slice(0, 400));
      await b.open(passwordLink.replace(/&amp;/g, '&'));
      const back = await enterPassword(b, email);
      assert.equal(pathOf(back), '/profile');
      assert.match(flashOf(back.text), /sign in again to confirm it is you, then choose Unlink again/);

      const done = await b.submit('/profile/unlink');
      assert.equal(pathOf(done), '/profile');
      assert.match(flashOf(done.text), /Unlinked/);
      assert.equal((await accord.user(mainId)).identities.length, 1);
    });
  });

  describe(`A reload of the profile while the read cache hands out the same reads [${db.label}]`, () => {
    let accord: TestAccord;
    accordPerSuite(
      db,
      appDb,
      (a) => {
        accord = a;
      },
      { env: { MANAGEMENT_CACHE_TTL: '300', RECENT_LOGIN_MAX_AGE: '30' } },
    );

    const csrfOf = (page: Page) => /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];

    it('is the same page, unless its session, its path, the recent sign-in or a flash makes it another', async () => {
      const { b, email } = await linkedAccount(accord);
      const first = await b.open('/profile');
      assert.equal((await b.open('/profile')).text, first.text);
      assert.match(first.text, /href="\/profile" aria-current="page"/);
      assert.doesNotMatch(words(first.text), /sign in again first/);

      // The same person in another browser: the same reads, its own CSRF token.
      const c = accord.browser();
      const other = await signInWithDemo(c, email);
      assert.equal(pathOf(other), '/profile');
      assert.ok(csrfOf(other) && csrfOf(first) && csrfOf(other) !== csrfOf(first));
      assert.doesNotMatch(other.text, new RegExp(csrfOf(first)!));
      assert.equal((await b.open('/profile')).text, first.text);

      assert.doesNotMatch((await b.open('/profile/')).text, /aria-current/);
      const stale = await later(60, () => b.open('/profile'));
      assert.match(words(stale.text), /You will be asked to sign in again first/);

      const cancelled = await rawPost(accord, b, '/link/cancel', `_csrf=${csrfOf(first)}`);
      assert.equal(cancelled.status, 303);
      assert.equal(flashOf((await b.open('/profile')).text), 'Nothing was linked.');
      assert.equal((await b.open('/profile')).text, first.text);
    });
  });

  describe(`Unlink with RESTORE_METADATA_ON_UNLINK=true [${db.label}]`, () => {
    let accord: TestAccord;
    accordPerSuite(
      db,
      appDb,
      (a) => {
        accord = a;
      },
      { env: { RESTORE_METADATA_ON_UNLINK: 'true' } },
    );

    it('the unlinked account gets back the metadata it had when it was linked, and the page says so', async () => {
      const email = uniqueEmail('restore');
      await createVerifiedPasswordAccount(accord, email);
      const [passwordUser] = await accord.usersByEmail(email);
      await accord.app.management.updateUser(passwordUser!.user_id, { user_metadata: { theme: 'dark' }, app_metadata: { plan: 'pro' } });
      const b = accord.browser();
      await signInWithDemo(b, email);
      await b.submit('/link/start');
      await enterPassword(b, email);
      await b.submit('/link/confirm');
      const page = await b.open(`${APP_URL}/profile`);
      assert.match(words(page.text), /with the profile information it had when it was linked/);
      const unlinked = await b.submit('/profile/unlink');
      assert.match(flashOf(unlinked.text), /separate account again, with the profile information it had when it was linked/);
      const restored = await accord.user(passwordUser!.user_id);
      assert.deepEqual(restored.user_metadata, { theme: 'dark' });
      assert.deepEqual(restored.app_metadata, { plan: 'pro' });
    });
  });

  describe(`Nothing secret is logged (checklist case 25) [${db.label}]`, () => {
    let accord: TestAccord;
    const lines: string[] = [];
    accordPerSuite(
      db,
      appDb,
      (a) => {
        accord = a;
      },
      { logger: capturingLogger(lines) },
    );

    it('a full journey logs no passwords, codes, tokens, session ids or client secrets', async () => {
      const secrets = new Map<string, string>();
      const browsers: WebBrowser[] = [];
      const remember = (b: WebBrowser) => {
        for (const [origin, names] of [
          [APP_URL, [SESSION_COOKIE]],
          [accord.tenantUrl, ['_session', '_interaction', '_interaction_resume', '_demo_idp_session', '_demo_idp_interaction', '_demo_idp_resume']],
        ] as const) {
          for (const name of names) {
            const value = b.cookie(origin, name);
            if (!value) continue;
            secrets.set(`cookie ${name}=${value}`, value);
            // express-session's cookie is "s:<session id>.<signature>".
            const sid = /^s(?::|%3A)([^.]+)\./.exec(value)?.[1];
            if (sid) secrets.set(`session id ${sid}`, sid);
          }
        }
      };
      const step = async <T>(b: WebBrowser, fn: () => Promise<T>) => {
        if (!browsers.includes(b)) browsers.push(b);
        const r = await fn();
        remember(b);
        return r;
      };

      // Sign-up, email verification, suggested link with a password re-authentication, unlink, email-code sign-in, sign-out.
      const { b, email } = await linkedAccount(accord);
      remember(b);
      await step(b, () => b.submit('/profile/unlink'));
      const c = accord.browser();
      await step(c, () => startSignIn(c, 'email'));
      await step(c, () => enterEmailCode(c, accord, email));
      await step(c, () => c.open('/profile'));
      const out = await step(c, () => c.submit('/logout', {}, { follow: false }));
      const idToken = new URL(out.headers.location!).searchParams.get('id_token_hint');
      assert.ok(idToken);
      secrets.set('id_token', idToken);
      // The app's own logout request: the tenant signs out at once and returns to the app.
      const back = await step(c, () => c.open(out.headers.location!));
      assert.equal(back.url, `${APP_URL}/`);
      // A failed sign-in with a wrong password is logged nowhere either.
      const d = accord.browser();
      await step(d, () => startSignIn(d, DATABASE_CONNECTION));
      await step(d, () => d.submit(/\/Username-Password-Authentication$/, { email, password: 'Wrong-horse-7' }));
      secrets.set('wrong password', 'Wrong-horse-7');

      secrets.set('password', PASSWORD);
      secrets.set('client secret', accord.appConfig.clientSecret);
      secrets.set('management client secret', accord.appConfig.management.clientSecret);
      secrets.set('session secret', accord.appConfig.sessionSecret);
      for (const mail of (await (await fetch(`${accord.tenantUrl}/dev/mail.json`)).json()) as StoredMail[]) {
        for (const code of mail.text.match(/^\s+(\d{6})\s*$/gm) ?? []) secrets.set(`code in "${mail.subject}"`, code.trim());
        for (const link of mail.text.match(/https?:\/\/\S+/g) ?? []) {
          for (const [k, v] of new URL(link).searchParams) if (v.length >= 16) secrets.set(`${k} in a mailed link`, v);
          const token = /\/([\w-]{20,})(?:$|[?#])/.exec(new URL(link).pathname)?.[1];
          if (token) secrets.set('token in a mailed link path', token);
        }
      }
      for (const visited of browsers.flatMap((x) => x.history)) {
        const url = new URL(visited.slice(visited.indexOf(' ') + 1));
        for (const name of ['code', 'code_verifier', 'state', 'nonce']) {
          const value = url.searchParams.get(name);
          if (value && value.length >= 16) secrets.set(`${name} from ${url.pathname}`, value);
        }
      }
      assert.ok(
        [...secrets.keys()].some((k) => k.startsWith('code in')),
        'the journey mailed a sign-in code',
      );
      assert.ok(
        [...secrets.keys()].some((k) => k.startsWith('session id')),
        'the journey had app sessions',
      );
      assert.ok(
        [...secrets.keys()].some((k) => k.startsWith('code from /callback')),
        'the journey had authorization codes',
      );
      assert.ok(
        [...secrets.keys()].some((k) => k.endsWith('in a mailed link')),
        'the journey mailed a verification link',
      );

      const log = lines.join('');
      assert.ok(lines.length > 20, `both halves logged the journey (${lines.length} lines)`);
      assert.match(log, /"half":"tenant"/);
      for (const [what, value] of secrets) {
        assert.ok(!log.includes(value), `the logs contain the ${what}`);
      }
      assert.doesNotMatch(log, /eyJ[\w-]{10,}\.[\w-]{10,}\./, 'no JWT (access or id token) in the logs');
      assert.doesNotMatch(log, /Bearer [\w.-]{10,}/i);
      assert.doesNotMatch(log, /"(password|client_secret|access_token|id_token|refresh_token|code_verifier)":"(?!\[redacted\])/);
    });
  });
}

/**
 * A logger configured exactly as production's (createLogger: level, redaction), writing
 * into `lines` instead of stdout. pino has no public way to swap a logger's destination,
 * so its stream symbol is replaced; children (one per half) read it through the prototype.
 */
function capturingLogger(lines: string[]): Logger {
  const logger = createLogger('trace');
  (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] = {
    write: (line: string) => {
      lines.push(line);
    },
  };
  return logger;
}
