import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import supertest from 'supertest';
import { SESSION_COOKIE } from '../../src/app/sessions/session-middleware.ts';
import { formatDate, maskEmail } from '../../src/app/web/display.ts';
import {
  accordPerSuite,
  APP_URL,
  createVerifiedPasswordAccount,
  DATABASE_CONNECTION,
  enterDemoIdentity,
  enterEmailCode,
  enterPassword,
  PASSWORD,
  signUpHere,
  startSignIn,
  type TestAccord,
} from '../helpers/accord.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { testAppDatabases } from '../helpers/app-databases.ts';
import { testDatabases } from '../helpers/databases.ts';
import { formsOf } from '../helpers/html-forms.ts';
import type { Page, WebBrowser } from '../helpers/web-browser.ts';

// The app's linking journeys end to end over HTTP: a browser with a cookie jar, the real
// embedded tenant on a port, and the tenant's state read back through the Management API
// after every journey, because a page saying "linked" proves nothing about the directory.

interface TenantUser {
  user_id: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  created_at: string;
  logins_count?: number;
  identities: { provider: string; user_id: string; connection: string }[];
  user_metadata?: Record<string, unknown>;
  app_metadata?: Record<string, unknown>;
}

const DEMO = 'demo-social';
const EMAIL_CODE = 'email';

async function usersWithEmail(accord: TestAccord, email: string): Promise<TenantUser[]> {
  return (await accord.usersByEmail(email)) as unknown as TenantUser[];
}

/** The one user whose main identity is on `connection`. */
async function userOn(accord: TestAccord, email: string, connection: string): Promise<TenantUser> {
  const found = (await usersWithEmail(accord, email)).filter((u) => u.identities[0]?.connection === connection);
  assert.equal(found.length, 1, `one ${connection} user for ${email}`);
  return found[0]!;
}

async function getUser(accord: TestAccord, id: string): Promise<TenantUser | undefined> {
  const res = await accord.admin('GET', `/users/${encodeURIComponent(id)}`);
  if (res.status === 404) return undefined;
  assert.equal(res.status, 200, `GET user ${id}: ${res.status}`);
  return res.body as TenantUser;
}

const connectionsOf = (u: TenantUser) => u.identities.map((i) => i.connection).sort();

/** The tenant's view of the accounts with this email: which users exist and what each holds. */
async function directoryState(accord: TestAccord, email: string) {
  return (await usersWithEmail(accord, email))
    .map((u) => ({
      user_id: u.user_id,
      identities: u.identities.map((i) => `${i.provider}|${i.user_id}`),
      user_metadata: u.user_metadata ?? {},
      app_metadata: u.app_metadata ?? {},
    }))
    .sort((a, b) => a.user_id.localeCompare(b.user_id));
}

/** A passwordless account, created by signing in once with a code from the outbox. */
async function createEmailCodeAccount(accord: TestAccord, email: string): Promise<void> {
  const b = accord.browser();
  await startSignIn(b, EMAIL_CODE);
  const page = await enterEmailCode(b, accord, email);
  assert.ok(page.url.startsWith(APP_URL), `signed in to the app, at ${page.url}`);
}

/** Signs in to the app with the demo social connection (the demo IdP may remember the person). */
async function signInWithDemo(b: WebBrowser, person: { email: string; verified?: boolean }): Promise<Page> {
  const page = await startSignIn(b, DEMO);
  return /\/demo-idp\/interaction\//.test(page.url) ? enterDemoIdentity(b, person) : page;
}

/** Signs out with the header's form, and confirms at the tenant's end-session page. */
async function signOut(b: WebBrowser): Promise<Page> {
  const signedIn = b.cookie(APP_URL, SESSION_COOKIE);
  let page = await b.submit('/logout');
  assert.ok(
    b.history.slice(-3).some((h) => h.includes('/oidc/logout?')),
    `the app sends the browser to end the tenant session too: ${b.history.slice(-3).join(' → ')}`,
  );
  // The tenant asks to confirm only when it still has a session (a link ends the secondary's).
  if (page.url.includes('/oidc/logout?')) page = await b.submit(/\/oidc\/logout\/confirm$/, { logout: 'yes' });
  assert.equal(page.url, `${APP_URL}/`);
  assert.doesNotMatch(page.text, /action="\/logout"/, 'signed out of the app');
  assert.notEqual(b.cookie(APP_URL, SESSION_COOKIE), signedIn);
  return page;
}

/** Visits after the last sign-in that went to the suggestions page. */
function suggestedSince(b: WebBrowser, from: number): boolean {
  return b.history.slice(from).some((h) => h.includes(`${APP_URL}/link/suggestions`));
}

/** The app's CSRF token on the current page (every page of a signed-in user has the header's sign-out form). */
function csrfOf(page: Page): string {
  const token = formsOf(page.text).find((f) => f.fields._csrf)?.fields._csrf;
  assert.ok(token, `a CSRF token on ${page.url}`);
  return token;
}

/** The <main> of an app page, as words: what a person reads. */
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

/** The profile's "Sign-in methods" section, as the list of methods it shows. */
function profileMethods(page: Page): string[] {
  const section = /<section[^>]*aria-labelledby="methods"[^>]*>([\s\S]*?)<\/section>/.exec(page.text)?.[1];
  assert.ok(section, `a profile page, at ${page.url}`);
  return [...section.matchAll(/<p class="account-method">([^<]*)<\/p>/g)].map((m) => m[1]!);
}

function profileSection(page: Page, id: 'suggested' | 'kept'): string | undefined {
  return new RegExp(`<section[^>]*aria-labelledby="${id}"[^>]*>([\\s\\S]*?)</section>`).exec(page.text)?.[1];
}

/** The merged metadata the preview shows in full (the two <pre> blocks). */
function previewMerged(page: Page): { user_metadata: unknown; app_metadata: unknown } {
  const blocks = [...page.text.matchAll(/<pre class="json">([\s\S]*?)<\/pre>/g)].map(
    (m) => JSON.parse(m[1]!.replace(/&#34;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')) as unknown,
  );
  assert.equal(blocks.length, 2, 'the preview shows user_metadata and app_metadata');
  return { user_metadata: blocks[0], app_metadata: blocks[1] };
}

/**
 * After a sign-in form was submitted with `follow: false`: follows the tenant's redirects
 * (and oidc-provider's self-submitting form) until the tenant sends the browser back to
 * the app's link callback, and returns that URL without opening it.
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

/** Runs `fn` with the process clock (app and tenant alike: they share it) moved by `ms`. */
async function withClockShifted<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => realNow() + ms;
  try {
    return await fn();
  } finally {
    Date.now = realNow;
  }
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A verified password account and a demo social sign-in with the same email, at "Link these accounts?". */
async function suggestedPair(accord: TestAccord, label: string) {
  const email = uniqueEmail(label);
  await createVerifiedPasswordAccount(accord, email);
  const password = await userOn(accord, email, DATABASE_CONNECTION);
  const b = accord.browser();
  const page = await signInWithDemo(b, { email });
  assert.equal(page.url, `${APP_URL}/link/suggestions?returnTo=%2F`, 'the first page after sign-in is the suggestion');
  const social = await userOn(accord, email, DEMO);
  return { email, password, social, b, page };
}

const databases = testDatabases();
const appDatabases = testAppDatabases();

for (const [index, db] of databases.entries()) {
  const appDb = appDatabases[index]!;
  assert.equal(appDb.label, db.label, 'tenant and app databases are paired by kind');

  describe(`suggested linking, end to end [${db.label}]`, () => {
    let accord!: TestAccord;
    accordPerSuite(db, appDb, (a) => {
      accord = a;
    });

    it('links a password account into a demo social sign-in, after a fresh sign-in to it; the tenant keeps one user', async () => {
      const email = uniqueEmail('ada');
      await createVerifiedPasswordAccount(accord, email);
      const password = await userOn(accord, email, DATABASE_CONNECTION);
      // What only its owner may see: it must not be on the suggestion page.
      await accord.app.management.updateUser(password.user_id, {
        user_metadata: { private_note: 'candidate-private-note', address: { city: 'candidate-city' } },
        app_metadata: { plan: 'candidate-secret-plan' },
      });

      const b = accord.browser();
      let page = await signInWithDemo(b, { email });
      assert.equal(page.url, `${APP_URL}/link/suggestions?returnTo=%2F`);
      assert.match(page.text, /<h1>Link these accounts\?<\/h1>/);
      const text = mainText(page);
      assert.match(text, /Email and password/, 'the candidate is shown by its sign-in method');
      assert.match(text, new RegExp(escapeRe(`${maskEmail(email)} · created ${formatDate(password.created_at)}`)), 'masked email and created date');
      assert.doesNotMatch(page.text, /candidate-private-note|candidate-city|candidate-secret-plan/, 'never its metadata before ownership is proven');
      const social = await userOn(accord, email, DEMO);

      page = await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      assert.match(page.url, /\/login\/[^/]+\/Username-Password-Authentication$/, 'the tenant asks for the other account');
      assert.match(page.text, new RegExp(`name="email"[^>]*value="${escapeRe(email)}"`), 'pre-filled from login_hint');
      assert.match(page.text, /To link this account to Accord app, sign in to it once more: that proves it is yours/, 'the tenant says why it asks again');
      const authorize = new URL(
        [...b.history]
          .reverse()
          .find((h) => h.includes('/authorize?'))!
          .slice('GET '.length),
      );
      assert.equal(authorize.searchParams.get('prompt'), 'login');
      assert.equal(authorize.searchParams.get('max_age'), String(accord.appConfig.linkMaxAge));
      assert.equal(authorize.searchParams.get('connection'), DATABASE_CONNECTION);
      assert.equal(authorize.searchParams.get('login_hint'), email);
      assert.equal(authorize.searchParams.get('redirect_uri'), `${APP_URL}/link/callback`);

      page = await enterPassword(b, email);
      assert.equal(page.url, `${APP_URL}/link/preview`);
      assert.match(mainText(page), /Stays as your account . Demo social/);
      page = await b.submit('/link/confirm');
      assert.equal(page.url, `${APP_URL}/profile`);
      assert.match(mainText(page), /Accounts linked\. Both sign-in methods now lead to this account\./);
      assert.deepEqual(profileMethods(page), ['Demo social', 'Email and password']);

      const users = await usersWithEmail(accord, email);
      assert.equal(users.length, 1, 'one user left');
      assert.equal(users[0]!.user_id, social.user_id, 'the signed-in account stays the primary');
      assert.deepEqual(connectionsOf(users[0]!), [DATABASE_CONNECTION, DEMO].sort());
      assert.equal(await getUser(accord, password.user_id), undefined, 'the secondary user is gone');
      assert.equal(users[0]!.email_verified, true);

      // Both ways in now open the same account.
      const loginsBefore = (await getUser(accord, social.user_id))!.logins_count ?? 0;
      await signOut(b);
      page = await signInWithDemo(b, { email });
      assert.equal(page.url, `${APP_URL}/profile`, 'nothing left to suggest');
      assert.deepEqual(profileMethods(page), ['Demo social', 'Email and password']);
      assert.equal((await getUser(accord, social.user_id))!.logins_count, loginsBefore + 1, 'the sign-in went to the linked user');

      const viaPassword = accord.browser();
      await startSignIn(viaPassword, DATABASE_CONNECTION);
      page = await enterPassword(viaPassword, email);
      assert.equal(page.url, `${APP_URL}/profile`);
      assert.deepEqual(profileMethods(page), ['Demo social', 'Email and password']);
      assert.equal((await getUser(accord, social.user_id))!.logins_count, loginsBefore + 2, 'the password opens the same user');
      assert.equal((await usersWithEmail(accord, email)).length, 1);
    });

    it('links a passwordless (email code) account as the candidate', async () => {
      const email = uniqueEmail('grace');
      await createEmailCodeAccount(accord, email);
      const code = await userOn(accord, email, EMAIL_CODE);

      const b = accord.browser();
      let page = await signInWithDemo(b, { email });
      assert.equal(page.url, `${APP_URL}/link/suggestions?returnTo=%2F`);
      assert.match(mainText(page), /Email code/);
      const social = await userOn(accord, email, DEMO);

      page = await b.submit('/link/start', {}, { where: { candidate: code.user_id } });
      assert.match(page.url, /\/login\/[^/]+\/email$/, 'the email-code page of the tenant');
      assert.match(page.text, new RegExp(`name="email"[^>]*value="${escapeRe(email)}"`), 'pre-filled from login_hint');
      page = await enterEmailCode(b, accord, email);
      assert.equal(page.url, `${APP_URL}/link/preview`);
      page = await b.submit('/link/confirm');
      assert.equal(page.url, `${APP_URL}/profile`);
      assert.deepEqual(profileMethods(page), ['Demo social', 'Email code']);

      const users = await usersWithEmail(accord, email);
      assert.equal(users.length, 1);
      assert.equal(users[0]!.user_id, social.user_id);
      assert.deepEqual(connectionsOf(users[0]!), [DEMO, EMAIL_CODE].sort());
      assert.equal(await getUser(accord, code.user_id), undefined);
    });

    it('links a password account into a passwordless (email code) sign-in', async () => {
      const email = uniqueEmail('hopper');
      await createVerifiedPasswordAccount(accord, email);
      const password = await userOn(accord, email, DATABASE_CONNECTION);

      const b = accord.browser();
      await startSignIn(b, EMAIL_CODE);
      let page = await enterEmailCode(b, accord, email);
      assert.equal(page.url, `${APP_URL}/link/suggestions?returnTo=%2F`);
      assert.match(mainText(page), /Email and password/);
      const code = await userOn(accord, email, EMAIL_CODE);

      page = await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      page = await enterPassword(b, email);
      assert.equal(page.url, `${APP_URL}/link/preview`);
      page = await b.submit('/link/confirm');
      assert.deepEqual(profileMethods(page), ['Email code', 'Email and password']);

      const users = await usersWithEmail(accord, email);
      assert.equal(users.length, 1);
      assert.equal(users[0]!.user_id, code.user_id);
      assert.deepEqual(connectionsOf(users[0]!), [DATABASE_CONNECTION, EMAIL_CODE].sort());
    });

    it('keeps the other account as the primary when asked, and switches the session to it', async () => {
      const { email, password, social, b } = await suggestedPair(accord, 'other-primary');
      await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      let page = await enterPassword(b, email);
      assert.equal(page.url, `${APP_URL}/link/preview`);

      page = await b.open('/link/preview?primary=other');
      assert.match(
        mainText(page),
        /Stays as your account . Email and password .* You will be signed in to it after linking\. Becomes a sign-in method of it . Demo social/,
      );
      assert.equal(b.form('/link/confirm').fields.primary, 'other');
      const before = b.cookie(APP_URL, SESSION_COOKIE);
      page = await b.submit('/link/confirm');
      assert.equal(page.url, `${APP_URL}/profile`);
      assert.match(mainText(page), /Accounts linked\. You are now signed in to the account you chose to keep/);
      assert.notEqual(b.cookie(APP_URL, SESSION_COOKIE), before, 'a new session for the switched account');
      assert.deepEqual(profileMethods(page), ['Email and password', 'Demo social'], 'the password account is the main one now');
      // The profile is the password user's (its name is its email), not the demo account's "Ada Lovelace".
      assert.match(page.text, new RegExp(`<h1>${escapeRe(email)}</h1>`));

      const users = await usersWithEmail(accord, email);
      assert.equal(users.length, 1);
      assert.equal(users[0]!.user_id, password.user_id);
      assert.deepEqual(connectionsOf(users[0]!), [DATABASE_CONNECTION, DEMO].sort());
      assert.equal(await getUser(accord, social.user_id), undefined);

      // The demo social sign-in now opens the password account.
      await signOut(b);
      page = await signInWithDemo(b, { email });
      assert.equal(page.url, `${APP_URL}/profile`);
      assert.match(page.text, new RegExp(`<h1>${escapeRe(email)}</h1>`));
    });

    it('keeps accounts separate: never suggested again, listed on the profile, reversible', async () => {
      const { email, password, b } = await suggestedPair(accord, 'separate');
      const before = await directoryState(accord, email);

      let page = await b.submit('/link/keep-separate', {}, { where: { candidate: password.user_id } });
      assert.equal(page.url, `${APP_URL}/profile`);
      assert.match(mainText(page), /We will not suggest linking that account again/);
      assert.equal(profileSection(page, 'suggested'), undefined, 'no longer suggested on the profile');
      const kept = profileSection(page, 'kept');
      assert.ok(kept, 'listed under "Kept separate"');
      assert.match(kept, /Email and password/);
      assert.match(kept, new RegExp(escapeRe(maskEmail(email))));
      assert.deepEqual(await directoryState(accord, email), before, 'nothing changed at the tenant');

      await signOut(b);
      let mark = b.history.length;
      page = await signInWithDemo(b, { email });
      assert.equal(page.url, `${APP_URL}/profile`);
      assert.equal(suggestedSince(b, mark), false, 'the next sign-in does not suggest it');
      assert.ok(profileSection(page, 'kept'));

      page = await b.submit('/link/suggest-again', {}, { where: { candidate: password.user_id } });
      assert.equal(page.url, `${APP_URL}/profile`);
      assert.match(mainText(page), /That account will be suggested for linking again/);
      assert.equal(profileSection(page, 'kept'), undefined);
      assert.match(profileSection(page, 'suggested') ?? '', /Email and password/);

      await signOut(b);
      mark = b.history.length;
      page = await signInWithDemo(b, { email });
      assert.equal(page.url, `${APP_URL}/link/suggestions?returnTo=%2F`, 'suggested again at the next sign-in');
      assert.ok(suggestedSince(b, mark));
      assert.deepEqual(await directoryState(accord, email), before);
    });

    it('refuses to keep separate an account that is not a candidate, and stores nothing (docs/security.md case 34)', async () => {
      const { email, social, password, b } = await suggestedPair(accord, 'keep-any');
      // Someone else's verified account, with another address.
      const otherEmail = uniqueEmail('stranger');
      await createEmailCodeAccount(accord, otherEmail);
      const other = await userOn(accord, otherEmail, EMAIL_CODE);

      for (const id of [other.user_id, social.user_id, 'auth0|000000000000000000000000']) {
        const page = await b.submit('/link/keep-separate', { candidate: id }, { where: { candidate: password.user_id } });
        assert.equal(page.status, 400, `keep-separate ${id}`);
        assert.match(mainText(page), /not one of the accounts we suggested linking.*Nothing was changed/);
        assert.doesNotMatch(page.text, new RegExp(escapeRe(maskEmail(otherEmail))));
        await b.open(`${APP_URL}/link/suggestions`);
      }
      let profile = await b.open(`${APP_URL}/profile`);
      assert.equal(profileSection(profile, 'kept'), undefined, 'nothing kept separate');
      assert.doesNotMatch(profile.text, new RegExp(escapeRe(maskEmail(otherEmail))), 'nothing of the other account on the profile');

      // Had the refused choice been stored, the account would not be suggested once it becomes a candidate.
      assert.equal((await accord.admin('PATCH', `/users/${encodeURIComponent(other.user_id)}`, { email, email_verified: true })).status, 200);
      profile = await b.open(`${APP_URL}/profile`);
      assert.match(profileSection(profile, 'suggested') ?? '', new RegExp(`name="candidate" value="${escapeRe(other.user_id)}"`));
      assert.equal(profileSection(profile, 'kept'), undefined);
    });

    it('shows a kept-separate account only while it is a candidate; "Suggest again" still undoes the choice (docs/security.md case 34)', async () => {
      const { email, password, b } = await suggestedPair(accord, 'keep-stale');
      let page = await b.submit('/link/keep-separate', {}, { where: { candidate: password.user_id } });
      assert.match(profileSection(page, 'kept') ?? '', new RegExp(escapeRe(maskEmail(email))));

      // No longer a candidate: its address is not verified any more.
      const passwordPath = `/users/${encodeURIComponent(password.user_id)}`;
      assert.equal((await accord.admin('PATCH', passwordPath, { email_verified: false })).status, 200);
      page = await b.open(`${APP_URL}/profile`);
      assert.equal(profileSection(page, 'kept'), undefined, 'the choice is not shown');
      assert.equal(profileSection(page, 'suggested'), undefined);
      assert.doesNotMatch(page.text, new RegExp(escapeRe(maskEmail(email))), 'nothing of that account: not its address');
      assert.doesNotMatch(page.text, new RegExp(escapeRe(password.user_id)), 'not its id');

      // A candidate again: the person's choice still holds, and can be undone.
      assert.equal((await accord.admin('PATCH', passwordPath, { email_verified: true })).status, 200);
      page = await b.open(`${APP_URL}/profile`);
      assert.match(profileSection(page, 'kept') ?? '', /Email and password/);
      assert.equal(profileSection(page, 'suggested'), undefined);
      page = await b.submit('/link/suggest-again', {}, { where: { candidate: password.user_id } });
      assert.match(mainText(page), /That account will be suggested for linking again/);
      assert.match(profileSection(page, 'suggested') ?? '', /Email and password/);

      // Kept again, then deleted: gone from the profile, not "an account that no longer exists".
      page = await b.submit('/link/keep-separate', {}, { where: { candidate: password.user_id } });
      assert.ok(profileSection(page, 'kept'));
      assert.equal((await accord.admin('DELETE', passwordPath)).status, 204);
      page = await b.open(`${APP_URL}/profile`);
      assert.equal(profileSection(page, 'kept'), undefined);
      assert.doesNotMatch(mainText(page), /no longer exists/);
    });

    it('decides later: goes on, and the profile keeps the suggestion', async () => {
      const { email, password, b, page: suggestions } = await suggestedPair(accord, 'later');
      const before = await directoryState(accord, email);
      const later = /<a href="([^"]+)">Decide later<\/a>/.exec(suggestions.text)?.[1];
      assert.equal(later, '/');
      const mark = b.history.length;
      let page = await b.open(later);
      assert.equal(page.url, `${APP_URL}/profile`);
      assert.equal(suggestedSince(b, mark), false, 'suggested once per sign-in, not on every page');
      const suggested = profileSection(page, 'suggested');
      assert.ok(suggested, 'the profile lists the suggestion');
      assert.match(suggested, /Email and password/);
      assert.match(suggested, new RegExp(`name="candidate" value="${escapeRe(password.user_id)}"`));
      assert.equal(profileSection(page, 'kept'), undefined);

      // It can still be linked from there.
      page = await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      page = await enterPassword(b, email);
      assert.equal(page.url, `${APP_URL}/link/preview`);
      page = await b.submit('/link/cancel');
      assert.equal(page.url, `${APP_URL}/profile`);
      assert.match(mainText(page), /Nothing was linked\./);
      assert.deepEqual(await directoryState(accord, email), before);
    });

    it('refuses a re-authentication as a different account than the chosen one (case 5)', async () => {
      const email = uniqueEmail('wrong');
      await createVerifiedPasswordAccount(accord, email);
      await createEmailCodeAccount(accord, email);
      const password = await userOn(accord, email, DATABASE_CONNECTION);
      const code = await userOn(accord, email, EMAIL_CODE);

      const b = accord.browser();
      let page = await signInWithDemo(b, { email });
      assert.equal(page.url, `${APP_URL}/link/suggestions?returnTo=%2F`);
      assert.match(mainText(page), /Email and password.*Email code|Email code.*Email and password/, 'both candidates are suggested');
      const before = await directoryState(accord, email);
      assert.equal(before.length, 3);

      // Link the password account, but at the tenant sign in to the email-code one.
      page = await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      assert.match(page.url, /\/Username-Password-Authentication$/);
      await b.open(page.url.replace(/\/Username-Password-Authentication$/, `/${EMAIL_CODE}`));
      page = await enterEmailCode(b, accord, email);
      assert.ok(page.url.startsWith(`${APP_URL}/link/callback?`), page.url);
      assert.equal(page.status, 400);
      assert.match(mainText(page), /You signed in as a different account than the one you chose to link, so nothing was changed/);

      assert.deepEqual(await directoryState(accord, email), before, 'nothing linked, no metadata written');
      assert.ok(await getUser(accord, code.user_id));
      // No proof of either account is left to use.
      const csrf = csrfOf(page);
      page = await b.post(`${APP_URL}/link/confirm`, { _csrf: csrf, primary: 'current' });
      assert.equal(page.status, 400);
      // The link this browser started: its step expired, and the page offers to start it again (issue 16 item 7).
      assert.match(mainText(page), /This step of linking is no longer valid.* Link again/);
      page = await b.post(`${APP_URL}/link/confirm`, { _csrf: csrf, primary: 'other' });
      assert.equal(page.status, 400);
      page = await b.open(`${APP_URL}/link/preview`);
      assert.equal(page.status, 400);
      assert.deepEqual(await directoryState(accord, email), before);
    });

    it('refuses a link callback with no link in progress (case 4), without starting a sign-in', async () => {
      const { email, b } = await suggestedPair(accord, 'no-ticket');
      const before = await directoryState(accord, email);
      for (const url of [`${APP_URL}/link/callback`, `${APP_URL}/link/callback?code=forged&state=forged`]) {
        const page = await b.open(url, { follow: false });
        assert.equal(page.status, 400, `${url}: ${page.status} ${page.headers.location ?? ''}`);
        assert.match(mainText(page), /No account link is in progress in this browser/);
      }
      const anonymous = accord.browser();
      const page = await anonymous.open(`${APP_URL}/link/callback`, { follow: false });
      assert.equal(page.status, 400, `signed out: ${page.status} ${page.headers.location ?? ''}`);
      assert.deepEqual(await directoryState(accord, email), before);
    });

    it('rejects a link callback replayed in another browser (case 7) and the same callback twice (single use)', async () => {
      const victim = await suggestedPair(accord, 'victim');
      const before = await directoryState(accord, victim.email);
      await victim.b.submit('/link/start', {}, { where: { candidate: victim.password.user_id } });
      await victim.b.submit(/\/Username-Password-Authentication$/, { email: victim.email, password: PASSWORD }, { follow: false });
      const callback = await stopAtLinkCallback(victim.b);

      // Another browser, signed in to another account with a link of its own in progress (user-initiated:
      // any account it signs in to would be accepted) opens the victim's callback.
      const attackerEmail = uniqueEmail('attacker');
      const attacker = accord.browser();
      await signInWithDemo(attacker, { email: attackerEmail });
      await attacker.open('/link/new');
      let page = await attacker.submit('/link/start', {}, { where: { connection: DATABASE_CONNECTION } });
      assert.match(page.url, /\/Username-Password-Authentication$/, 'the attacker has a link in progress');
      page = await attacker.open(callback);
      assert.equal(page.status, 400);
      assert.match(mainText(page), /Nothing was linked/);
      assert.deepEqual(await directoryState(accord, victim.email), before, "the victim's accounts are untouched");
      const attackerUser = await userOn(accord, attackerEmail, DEMO);
      assert.equal(attackerUser.identities.length, 1, 'nothing was linked into the attacker');
      page = await attacker.open(`${APP_URL}/link/preview`);
      assert.equal(page.status, 400, 'no proof in the attacker session');

      // In its own browser the callback still works, once.
      page = await victim.b.open(callback);
      assert.equal(page.url, `${APP_URL}/link/preview`);
      page = await victim.b.submit('/link/confirm');
      assert.equal(page.url, `${APP_URL}/profile`);
      const linked = await directoryState(accord, victim.email);
      assert.equal(linked.length, 1);
      assert.equal(linked[0]!.identities.length, 2);

      page = await victim.b.open(callback);
      assert.equal(page.status, 400, 'the same callback again is refused');
      assert.match(mainText(page), /This page belongs to a link that is complete/);
      page = await victim.b.post(`${APP_URL}/link/confirm`, { _csrf: csrfOf(page), primary: 'current' });
      assert.equal(page.status, 400, 'and the proof was single use');
      assert.deepEqual(await directoryState(accord, victim.email), linked);
    });

    it('gives the browser a new session id at sign-in and again at link (case 21)', async () => {
      const email = uniqueEmail('cookie');
      await createVerifiedPasswordAccount(accord, email);
      const password = await userOn(accord, email, DATABASE_CONNECTION);
      const b = accord.browser();
      await startSignIn(b, DEMO);
      const beforeLogin = b.cookie(APP_URL, SESSION_COOKIE);
      assert.ok(beforeLogin, 'starting a sign-in creates a session (it holds the OIDC state)');
      await enterDemoIdentity(b, { email });
      const afterLogin = b.cookie(APP_URL, SESSION_COOKIE);
      assert.ok(afterLogin);
      assert.notEqual(afterLogin, beforeLogin);

      await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      await enterPassword(b, email);
      assert.equal(b.cookie(APP_URL, SESSION_COOKIE), afterLogin, 'the link callback does not replace the session');
      const page = await b.submit('/link/confirm');
      assert.equal(page.url, `${APP_URL}/profile`);
      const afterLink = b.cookie(APP_URL, SESSION_COOKIE);
      assert.ok(afterLink);
      assert.notEqual(afterLink, afterLogin);
      assert.notEqual(afterLink, beforeLogin);

      // The session ids left behind open nothing.
      for (const old of [beforeLogin, afterLogin]) {
        const res = await supertest(accord.app.app).get('/profile').set('cookie', `${SESSION_COOKIE}=${old}`).redirects(0);
        assert.equal(res.status, 303);
        assert.match(res.headers.location ?? '', /^\/login\?/);
      }
    });

    it('merges metadata primary-wins (deep objects, arrays unioned), in the preview and at the tenant', async () => {
      const { email, password, social, b } = await suggestedPair(accord, 'merge');
      await accord.app.management.updateUser(social.user_id, {
        user_metadata: { theme: 'dark', prefs: { lang: 'en', notify: { email: true } }, tags: ['a', 'b'], pets: [{ name: 'Rex' }] },
        app_metadata: { plan: 'pro', roles: ['admin'] },
      });
      await accord.app.management.updateUser(password.user_id, {
        user_metadata: {
          theme: 'light',
          prefs: { lang: 'fr', tz: 'UTC', notify: { sms: false } },
          tags: ['b', 'c'],
          pets: [{ name: 'Rex' }, { name: 'Tom' }],
          nickname: 'ada',
        },
        app_metadata: { plan: 'free', roles: ['user', 'admin'], flags: { beta: true } },
      });
      const expected = {
        user_metadata: {
          theme: 'dark',
          prefs: { lang: 'en', notify: { email: true, sms: false }, tz: 'UTC' },
          tags: ['a', 'b', 'c'],
          pets: [{ name: 'Rex' }, { name: 'Tom' }],
          nickname: 'ada',
        },
        app_metadata: { plan: 'pro', roles: ['admin', 'user'], flags: { beta: true } },
      };

      await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      let page = await enterPassword(b, email);
      assert.equal(page.url, `${APP_URL}/link/preview`);
      assert.deepEqual(previewMerged(page), expected);
      const text = mainText(page);
      assert.match(text, /nickname added: "ada"/);
      assert.match(text, /tags updated: \["a","b","c"\]/);
      assert.match(text, /flags added: \{"beta":true\}/);
      assert.doesNotMatch(text, /theme (added|updated)/, 'the primary keeps its own values');

      page = await b.submit('/link/confirm');
      assert.equal(page.url, `${APP_URL}/profile`);
      const user = (await getUser(accord, social.user_id))!;
      assert.deepEqual({ user_metadata: user.user_metadata, app_metadata: user.app_metadata }, expected);
      assert.equal(await getUser(accord, password.user_id), undefined);
    });

    it('undoes the metadata PATCH when the link fails after it, and says so', async () => {
      const { email, password, social, b } = await suggestedPair(accord, 'rollback');
      const original = { user_metadata: { theme: 'dark', tags: ['a'], prefs: { lang: 'en' } }, app_metadata: { plan: 'pro' } };
      await accord.app.management.updateUser(social.user_id, original);
      await accord.app.management.updateUser(password.user_id, {
        user_metadata: { theme: 'light', tags: ['b'], prefs: { tz: 'UTC' }, nickname: 'ada' },
        app_metadata: { beta: true },
      });
      await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      let page = await enterPassword(b, email);
      assert.equal(page.url, `${APP_URL}/link/preview`);
      assert.match(mainText(page), /nickname added/, 'the link will write metadata first');

      // Between the app's PATCH and its link, the secondary is linked elsewhere (another browser,
      // an administrator): the tenant then refuses the app's link.
      const third = await accord.admin('POST', '/users', { connection: EMAIL_CODE, email: uniqueEmail('third'), email_verified: true });
      assert.equal(third.status, 201);
      const thirdId = (third.body as TenantUser).user_id;
      const management = accord.app.management;
      const realLink = management.linkIdentity;
      let patchedBeforeLink: TenantUser | undefined;
      management.linkIdentity = async function (primaryId, secondary) {
        patchedBeforeLink = await getUser(accord, primaryId);
        const taken = await accord.admin('POST', `/users/${encodeURIComponent(thirdId)}/identities`, {
          provider: secondary.provider,
          user_id: secondary.user_id,
        });
        assert.equal(taken.status, 201, JSON.stringify(taken.body));
        return realLink.call(this, primaryId, secondary);
      };
      try {
        page = await b.submit('/link/confirm');
      } finally {
        delete (management as Partial<typeof management>).linkIdentity;
      }
      assert.equal(management.linkIdentity, realLink);
      assert.equal(patchedBeforeLink?.user_metadata?.nickname, 'ada', 'the PATCH happened before the failed link');
      assert.ok(page.status >= 400, `an error page, not ${page.status}`);
      const text = mainText(page);
      assert.match(text, /The accounts were not linked/);
      assert.match(text, /Your profile information is unchanged/);

      const primary = (await getUser(accord, social.user_id))!;
      assert.deepEqual({ user_metadata: primary.user_metadata, app_metadata: primary.app_metadata }, original, 'the PATCH was undone');
      assert.deepEqual(connectionsOf(primary), [DEMO]);
      page = await b.open('/profile');
      assert.deepEqual(profileMethods(page), ['Demo social']);
      page = await b.post(`${APP_URL}/link/confirm`, { _csrf: csrfOf(page), primary: 'current' });
      assert.equal(page.status, 400, 'the failed attempt left no proof to retry with');
    });

    it('never suggests an account whose email is not verified, either way round (cases 1 and 2)', async () => {
      // A verified password account; the same email at the demo IdP, not verified there.
      const email = uniqueEmail('unverified-social');
      await createVerifiedPasswordAccount(accord, email);
      const b = accord.browser();
      let mark = b.history.length;
      let page = await signInWithDemo(b, { email, verified: false });
      assert.equal(page.url, `${APP_URL}/profile`);
      assert.equal(suggestedSince(b, mark), false);
      assert.equal(profileSection(page, 'suggested'), undefined);
      const social = await userOn(accord, email, DEMO);
      assert.equal(social.email_verified, false);

      const viaPassword = accord.browser();
      await startSignIn(viaPassword, DATABASE_CONNECTION);
      mark = viaPassword.history.length;
      page = await enterPassword(viaPassword, email);
      assert.equal(page.url, `${APP_URL}/profile`, 'the unverified demo account is not a candidate of the verified one');
      assert.equal(suggestedSince(viaPassword, mark), false);
      assert.equal(profileSection(page, 'suggested'), undefined);
      // Nor can it be linked by naming it.
      page = await viaPassword.post(`${APP_URL}/link/start`, { _csrf: csrfOf(page), candidate: social.user_id });
      assert.equal(page.status, 400);
      assert.match(mainText(page), /not one you can link/);

      // A password account whose owner never followed the verification link (pre-hijack).
      const victimEmail = uniqueEmail('pre-hijack');
      const attacker = accord.browser();
      await startSignIn(attacker, DATABASE_CONNECTION);
      await signUpHere(attacker, victimEmail);
      const planted = await userOn(accord, victimEmail, DATABASE_CONNECTION);
      assert.equal(planted.email_verified, false);
      const victim = accord.browser();
      mark = victim.history.length;
      page = await signInWithDemo(victim, { email: victimEmail });
      assert.equal(page.url, `${APP_URL}/profile`);
      assert.equal(suggestedSince(victim, mark), false);
      assert.equal(profileSection(page, 'suggested'), undefined);
      page = await victim.post(`${APP_URL}/link/start`, { _csrf: csrfOf(page), candidate: planted.user_id });
      assert.equal(page.status, 400);
      const users = await usersWithEmail(accord, victimEmail);
      assert.equal(users.length, 2, 'still two separate users');
      assert.ok(users.every((u) => u.identities.length === 1));
      assert.equal((await getUser(accord, planted.user_id))!.email_verified, false, 'never marked verified');
    });
  });

  describe(`link freshness, LINK_MAX_AGE=30 (case 6) [${db.label}]`, () => {
    let accord!: TestAccord;
    accordPerSuite(
      db,
      appDb,
      (a) => {
        accord = a;
      },
      { env: { LINK_MAX_AGE: '30' } },
    );

    it('refuses a link callback that arrives after max_age', async () => {
      const { email, password, b } = await suggestedPair(accord, 'late');
      const before = await directoryState(accord, email);
      await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      await b.submit(/\/Username-Password-Authentication$/, { email, password: PASSWORD }, { follow: false });
      const callback = await stopAtLinkCallback(b);

      const page = await withClockShifted(120_000, () => b.open(callback));
      assert.equal(page.status, 400);
      assert.match(mainText(page), /not recent enough to prove you control the account\. Nothing was linked/);
      assert.deepEqual(await directoryState(accord, email), before);
      assert.equal((await b.open('/link/preview')).status, 400, 'no proof was kept');
    });

    it('refuses a sign-in the tenant dates before the link was requested', async () => {
      const { email, password, b } = await suggestedPair(accord, 'old-auth');
      const before = await directoryState(accord, email);
      await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      // The tenant's clock is 50 s behind while it signs the person in, so its auth_time is older
      // than the link ticket, as from an identity provider that reused an earlier sign-in. (Less
      // than the tenant's 60 s code lifetime, so the code itself is still redeemable.)
      const callback = await withClockShifted(-50_000, async () => {
        await b.submit(/\/Username-Password-Authentication$/, { email, password: PASSWORD }, { follow: false });
        return stopAtLinkCallback(b);
      });
      const page = await b.open(callback);
      assert.equal(page.status, 400);
      assert.match(mainText(page), /not recent enough/);
      assert.deepEqual(await directoryState(accord, email), before);
    });
  });

  describe(`merge strategy secondary-wins [${db.label}]`, () => {
    let accord!: TestAccord;
    accordPerSuite(
      db,
      appDb,
      (a) => {
        accord = a;
      },
      { env: { MERGE_STRATEGY: 'secondary-wins' } },
    );

    it("keeps the secondary's values on conflicts, still deep and with arrays unioned", async () => {
      const { email, password, social, b } = await suggestedPair(accord, 'secondary-wins');
      await accord.app.management.updateUser(social.user_id, {
        user_metadata: { theme: 'dark', prefs: { lang: 'en', notify: { email: true } }, tags: ['a', 'b'] },
        app_metadata: { plan: 'pro', roles: ['admin'] },
      });
      await accord.app.management.updateUser(password.user_id, {
        user_metadata: { theme: 'light', prefs: { lang: 'fr', notify: { sms: false } }, tags: ['b', 'c'] },
        app_metadata: { roles: ['user', 'admin'] },
      });
      const expected = {
        user_metadata: { theme: 'light', prefs: { lang: 'fr', notify: { sms: false, email: true } }, tags: ['b', 'c', 'a'] },
        app_metadata: { roles: ['user', 'admin'], plan: 'pro' },
      };
      await b.submit('/link/start', {}, { where: { candidate: password.user_id } });
      let page = await enterPassword(b, email);
      assert.deepEqual(previewMerged(page), expected);
      assert.match(mainText(page), /theme updated: "light"/);
      page = await b.submit('/link/confirm');
      assert.equal(page.url, `${APP_URL}/profile`);
      const user = (await getUser(accord, social.user_id))!;
      assert.deepEqual({ user_metadata: user.user_metadata, app_metadata: user.app_metadata }, expected);
    });
  });

  describe(`link attempts are rate limited, LINK_RATE_LIMIT=3 (case 22) [${db.label}]`, () => {
    let accord!: TestAccord;
    accordPerSuite(
      db,
      appDb,
      (a) => {
        accord = a;
      },
      { env: { LINK_RATE_LIMIT: '3' } },
    );

    it('answers the 4th link start of a user with 429, and not other users', async () => {
      const { email, password, b, page } = await suggestedPair(accord, 'limited');
      const before = await directoryState(accord, email);
      const csrf = csrfOf(page);
      for (let attempt = 1; attempt <= 3; attempt++) {
        const res = await b.post(`${APP_URL}/link/start`, { _csrf: csrf, candidate: password.user_id });
        assert.equal(res.status, 303, `attempt ${attempt}`);
        assert.equal(res.headers.location, '/link/authorize');
      }
      const limited = await b.post(`${APP_URL}/link/start`, { _csrf: csrf, candidate: password.user_id });
      assert.equal(limited.status, 429);
      assert.match(mainText(limited), /Too many link attempts/);
      assert.deepEqual(await directoryState(accord, email), before);

      const other = await suggestedPair(accord, 'not-limited');
      const res = await other.b.post(`${APP_URL}/link/start`, { _csrf: csrfOf(other.page), candidate: other.password.user_id });
      assert.equal(res.status, 303, 'the limit is per user');
    });
  });
}
