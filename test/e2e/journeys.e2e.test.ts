/**
 * The product in a real browser (Debian's Chromium through playwright-core), the way a
 * person uses it: the app and the tenant listen on ports of 127.0.0.1, every click is a
 * click (or, in journey 7, a key), and every journey ends by checking what the page shows
 * and what the tenant holds, read through its Management API. Every page a journey lands
 * on, the tenant's included, is checked by axe-core. A failing journey leaves a screenshot
 * and the HTML of its pages under test-results/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { maskEmail } from '../../src/app/web/display.ts';
import type { StoredMail } from '../../src/tenant/mail/mailer.ts';
import { createVerifiedPasswordAccount, DATABASE_CONNECTION, PASSWORD, startTestAccord, type TestAccord } from '../helpers/accord.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { testAppDatabases } from '../helpers/app-databases.ts';
import { browserTestsUnavailable, launchChromium, Person, saveArtifacts } from '../helpers/chromium.ts';
import { testDatabases } from '../helpers/databases.ts';

const DEMO = 'demo-social';
const EMAIL_CODE = 'email';

interface TenantUser {
  user_id: string;
  email_verified?: boolean;
  logins_count?: number;
  identities: { provider: string; user_id: string; connection: string }[];
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The users with this email at the tenant, each as its id and the connections of its identities. */
async function accountsOf(accord: TestAccord, email: string): Promise<{ user_id: string; connections: string[] }[]> {
  const users = (await accord.usersByEmail(email)) as unknown as TenantUser[];
  return users.map((u) => ({ user_id: u.user_id, connections: u.identities.map((i) => i.connection) })).sort((a, b) => a.user_id.localeCompare(b.user_id));
}

async function tenantUser(accord: TestAccord, id: string): Promise<TenantUser> {
  return (await accord.user(id)) as unknown as TenantUser;
}

/** The one user of `email` whose main identity is on `connection`. */
async function userOn(accord: TestAccord, email: string, connection: string): Promise<TenantUser> {
  const found = ((await accord.usersByEmail(email)) as unknown as TenantUser[]).filter((u) => u.identities[0]?.connection === connection);
  assert.equal(found.length, 1, `one ${connection} user for ${email}`);
  return found[0]!;
}

// ——— What the pages show ———

/** The profile's sign-in methods as shown: each method, and whether it is the main one. */
async function profileMethods(person: Person): Promise<string[]> {
  const rows = person.page.locator('section[aria-labelledby="methods"] li.identity');
  return Promise.all((await rows.all()).map(async (row) => {
    const method = (await row.locator('.account-method').innerText()).trim();
    return (await row.getByText('Main account').count()) > 0 ? `${method} (main)` : method;
  }));
}

/** The words of one section of the profile, or undefined when the profile does not show it. */
async function profileSection(person: Person, id: 'suggested' | 'kept'): Promise<string | undefined> {
  const section = person.page.locator(`section[aria-labelledby="${id}"]`);
  return (await section.count()) ? (await section.innerText()).replace(/\s+/g, ' ') : undefined;
}

async function flash(person: Person): Promise<string> {
  return (await person.page.locator('.flash').innerText()).trim();
}

// ——— What a person does ———

/** Who a person says they are at the demo IdP. */
interface DemoIdentity { email: string; name: string }

/** The pages of one Accord, as patterns of URLs a person lands on. */
function sitemap(accord: TestAccord) {
  const app = escapeRe(accord.appUrl);
  const tenant = escapeRe(accord.tenantUrl);
  return {
    home: `${accord.appUrl}/`,
    profile: `${accord.appUrl}/profile`,
    suggestions: new RegExp(`^${app}/link/suggestions\\b`),
    preview: new RegExp(`^${app}/link/preview\\b`),
    linkCallback: new RegExp(`^${app}/link/callback\\?`),
    chooser: new RegExp(`^${tenant}/login/[^/?]+$`),
    connection: (name: string) => new RegExp(`^${tenant}/login/[^/]+/${escapeRe(name)}(\\?|$)`),
    signup: new RegExp(`^${tenant}/login/[^/]+/${DATABASE_CONNECTION}/signup`),
    emailCode: new RegExp(`^${tenant}/login/[^/]+/${EMAIL_CODE}/code\\?`),
    demoIdp: new RegExp(`^${tenant}/demo-idp/interaction/`),
    /** The demo IdP asks who you are, unless it remembers you and sends you on to `landing`. */
    demoIdpOr: (landing: string | RegExp) => new RegExp(`^${tenant}/demo-idp/interaction/|${typeof landing === 'string' ? `^${escapeRe(landing)}$` : landing.source}`),
    signedOut: new RegExp(`^${tenant}/oidc/|^${app}/$`),
  };
}

/** From the app's start page: Sign in → the tenant's chooser → Continue with `method` → `expect`. */
async function chooseSignIn(person: Person, accord: TestAccord, method: string, expect: RegExp): Promise<void> {
  const pages = sitemap(accord);
  await person.open(pages.home);
  await person.press({ role: 'link', name: 'Sign in' }, pages.chooser);
  await person.press({ role: 'link', name: `Continue with ${method}` }, expect);
}

/** Signs in with the demo social provider; lands on `landing`. */
async function signInWithDemo(person: Person, accord: TestAccord, identity: DemoIdentity, landing: string | RegExp): Promise<void> {
  const pages = sitemap(accord);
  await chooseSignIn(person, accord, 'Demo social', pages.demoIdpOr(landing));
  if (pages.demoIdp.test(person.url)) await demoIdpForm(person, identity, landing);
}

async function demoIdpForm(person: Person, identity: DemoIdentity, landing: string | RegExp): Promise<void> {
  assert.equal(await person.heading(), 'Sign in to Demo social');
  await person.type('Name', identity.name);
  await person.type('Email', identity.email);
  await person.check('This email is verified', true);
  await person.press({ role: 'button', name: 'Continue' }, landing);
}

async function signInWithPassword(person: Person, accord: TestAccord, email: string, landing: string | RegExp): Promise<void> {
  await chooseSignIn(person, accord, 'Email and password', sitemap(accord).connection(DATABASE_CONNECTION));
  await person.type('Email address', email);
  await person.type('Password', PASSWORD);
  await person.press({ role: 'button', name: 'Sign in' }, landing);
}

/** Signs in with a code: asks for it, reads it in the outbox (as from a mailbox) and types it. */
async function signInWithEmailCode(person: Person, accord: TestAccord, email: string, landing: string | RegExp): Promise<void> {
  const pages = sitemap(accord);
  await chooseSignIn(person, accord, 'Email code', pages.connection(EMAIL_CODE));
  const sentAfter = Date.now() - 1000;
  await person.type('Email', email);
  await person.press({ role: 'button', name: 'Email me a code' }, pages.emailCode);
  assert.match(await person.mainText(), new RegExp(`We sent a 6-digit code to ${escapeRe(email)}`));
  await person.type('Code', await mailedCode(accord, email, sentAfter));
  await person.press({ role: 'button', name: 'Sign in' }, landing);
}

async function mailedCode(accord: TestAccord, email: string, sentAfter: number): Promise<string> {
  for (const deadline = Date.now() + 3000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 25))) {
    const mails = (await (await fetch(`${accord.tenantUrl}/dev/mail.json`)).json()) as StoredMail[];
    const code = mails.filter((m) => m.to === email && Date.parse(m.created_at) >= sentAfter).map((m) => /^\s+(\d{6})\s*$/m.exec(m.text)?.[1]).find(Boolean);
    if (code) return code;
  }
  assert.fail(`no code mailed to ${email}`);
}

/** Signs out with the header's button, confirming at the tenant when it asks; ends on the start page. */
async function signOut(person: Person, accord: TestAccord): Promise<void> {
  const pages = sitemap(accord);
  await person.press({ role: 'button', name: 'Sign out' }, pages.signedOut);
  // The tenant asks only while it still has a session (a link ends the secondary's).
  if (person.url !== pages.home) {
    assert.match(await person.heading(), /^Sign out of /);
    await person.press({ role: 'button', name: 'Sign out' }, pages.home);
  }
  assert.equal(await person.heading(), 'One person, one account');
  assert.equal(await person.page.getByRole('button', { name: 'Sign out' }).count(), 0, 'signed out of the app');
}

/** At "Link these accounts?": Link → the tenant asks for that account's password → the merge preview. */
async function proveWithPassword(person: Person, accord: TestAccord, email: string): Promise<void> {
  const pages = sitemap(accord);
  await person.press({ role: 'button', name: 'Link Email and password account' }, pages.connection(DATABASE_CONNECTION));
  assert.equal(await person.locate({ label: 'Email address' }).inputValue(), email, 'the tenant knows which account to ask for');
  await person.type('Password', PASSWORD);
  await person.press({ role: 'button', name: 'Sign in' }, pages.preview);
  assert.equal(await person.heading(), 'Review and link');
}

/**
 * Journey 1 (and, by keyboard, 7): sign up with a password, verify the address from the
 * outbox, sign out; sign in with the demo social provider with the same email; link the
 * two with a fresh password sign-in; sign in with demo social again: the same user.
 */
async function signUpThenLinkSocial(person: Person, accord: TestAccord): Promise<void> {
  const pages = sitemap(accord);
  const email = uniqueEmail('ada');

  await chooseSignIn(person, accord, 'Email and password', pages.connection(DATABASE_CONNECTION));
  await person.press({ role: 'link', name: 'Create an account' }, pages.signup);
  assert.equal(await person.heading(), 'Create your account');
  await person.type('Email address', email);
  await person.type('Password', PASSWORD);
  // The same answer as for an address that has an account (docs/security.md case 39): no sign-in yet.
  await person.press({ role: 'button', name: 'Create account' }, pages.signup);
  assert.equal(await person.heading(), 'Check your email');
  await person.press({ role: 'link', name: 'Continue to sign in' }, pages.connection(DATABASE_CONNECTION));
  assert.equal(await person.locate({ label: 'Email address' }).inputValue(), email, 'the address is filled in');
  await person.type('Password', PASSWORD);
  await person.press({ role: 'button', name: 'Sign in' }, pages.profile);
  assert.equal(await person.heading(), email);
  assert.match(await person.mainText(), /not verified/);
  const password = await userOn(accord, email, DATABASE_CONNECTION);
  assert.equal(password.email_verified, false);

  await person.open(`${accord.tenantUrl}/dev/mail`);
  await person.press({ role: 'link', name: /\/account\/verify-email\?token=/ }, new RegExp(`^${escapeRe(accord.tenantUrl)}/account/verify-email\\?`));
  assert.equal(await person.heading(), 'Email address confirmed');
  assert.equal((await tenantUser(accord, password.user_id)).email_verified, true);

  await person.open(pages.profile);
  await signOut(person, accord);

  await signInWithDemo(person, accord, { email, name: 'Ada Lovelace' }, pages.suggestions);
  assert.equal(await person.heading(), 'Link these accounts?');
  const suggestion = await person.mainText();
  assert.match(suggestion, new RegExp(`You signed in with ${escapeRe(email)}`));
  assert.match(suggestion, /Email and password/);
  assert.match(await person.page.locator('li.candidate .account-meta').innerText(), new RegExp(`^${escapeRe(maskEmail(email))} · created `), 'the candidate\'s address masked');
  const social = await userOn(accord, email, DEMO);

  await proveWithPassword(person, accord, email);
  assert.match(await person.mainText(), /Stays as your account .*Demo social account .*Becomes a sign-in method of it .*Email and password/i);
  await person.press({ role: 'button', name: 'Link accounts' }, pages.profile);
  assert.equal(await flash(person), 'Accounts linked. Both sign-in methods now lead to this account.');
  assert.equal(await person.heading(), 'Ada Lovelace');
  assert.deepEqual(await profileMethods(person), ['Demo social account (main)', 'Email and password']);
  assert.deepEqual(await accountsOf(accord, email), [{ user_id: social.user_id, connections: [DEMO, DATABASE_CONNECTION] }]);
  const logins = (await tenantUser(accord, social.user_id)).logins_count ?? 0;

  await signOut(person, accord);
  await signInWithDemo(person, accord, { email, name: 'Ada Lovelace' }, pages.profile);
  assert.deepEqual(await profileMethods(person), ['Demo social account (main)', 'Email and password']);
  assert.deepEqual(await accountsOf(accord, email), [{ user_id: social.user_id, connections: [DEMO, DATABASE_CONNECTION] }], 'the same user_id');
  assert.equal((await tenantUser(accord, social.user_id)).logins_count, logins + 1, 'the sign-in went to that user');
}

// The product's pages by title: each journey has axe check every page it lands on, and the
// last test checks that together they landed on all of these.
const PAGES_OF_THE_PRODUCT = [
  'Sign in · Accord', 'Your profile · Accord', 'Link these accounts? · Accord', 'Review and link · Accord', 'Link another account · Accord',
  'That did not work · Accord', 'Sign in · Accord Test', 'Create your account · Accord Test', 'Check your email · Accord Test', 'Development outbox · Accord Test',
  'Email address confirmed · Accord Test', 'Sign in with an email code · Accord Test', 'Enter your code · Accord Test',
  'Sign in to Demo social · Demo social', 'Sign out of Accord Test? · Accord Test',
];

const unavailable = browserTestsUnavailable();
const databases = testDatabases({ sqlite: 'file' });
const appDatabases = testAppDatabases();

for (const [index, db] of databases.entries()) {
  const appDb = appDatabases[index]!;
  assert.equal(appDb.label, db.label, 'tenant and app databases are paired by kind');

  describe(`Accord in Chromium [${db.label}]`, { skip: unavailable }, () => {
    let browser: Browser;
    before(async () => { browser = await launchChromium(); });
    after(async () => { await browser?.close(); });
    const audited = new Map<string, string>();

    /**
     * One journey: its own Accord (tenant and app on free ports, fresh databases), fresh
     * browser profiles, and on failure the pages' screenshots and HTML under test-results/.
     */
    function journey(name: string, run: (accord: TestAccord, newPerson: (options?: { keyboard?: boolean; colorScheme?: 'light' | 'dark' }) => Promise<Person>) => Promise<void>, options: { env?: Record<string, string> } = {}): void {
      it(name, async (t: TestContext) => {
        const cleanups: (() => Promise<void>)[] = [];
        const contexts: BrowserContext[] = [];
        const people: Person[] = [];
        try {
          const tenantDb = await db.open();
          cleanups.unshift(() => tenantDb.cleanup());
          const appDatabase = await appDb.open();
          cleanups.unshift(() => appDatabase.cleanup());
          const accord = await startTestAccord({ tenantDatabase: tenantDb.database, appDatabase: appDatabase.database, listen: true, ...options });
          cleanups.unshift(() => accord.close());
          await run(accord, async (options) => {
            const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: options?.colorScheme ?? 'light' });
            contexts.push(context);
            const page = await context.newPage();
            page.setDefaultTimeout(10_000);
            const person = new Person(page, options);
            people.push(person);
            return person;
          });
        } catch (err) {
          const saved = (await Promise.all(contexts.map((c, i) => saveArtifacts(c, `${db.label}-${name.slice(0, 40)}-${i + 1}`)))).flat();
          const where = `Screenshots and HTML of the browser's pages: ${saved.join(', ')}`;
          t.diagnostic(where);
          // Also in the failure itself, which the test runner repeats in its summary.
          if (err instanceof Error) err.message += `\n${where}`;
          throw err;
        } finally {
          for (const person of people) for (const page of person.audited) audited.set(page.title, page.url);
          for (const context of contexts) await context.close();
          for (const cleanup of cleanups) await cleanup();
        }
      });
    }

    journey('1. sign up with a password, verify, sign in with demo social → link → the same user from either sign-in', async (accord, newPerson) => {
      await signUpThenLinkSocial(await newPerson(), accord);
    });

    journey('2. the same, keeping the other (password) account as the primary', async (accord, newPerson) => {
      const pages = sitemap(accord);
      const email = uniqueEmail('grace');
      await createVerifiedPasswordAccount(accord, email);
      const password = await userOn(accord, email, DATABASE_CONNECTION);
      const person = await newPerson();

      await signInWithDemo(person, accord, { email, name: 'Grace Hopper' }, pages.suggestions);
      const social = await userOn(accord, email, DEMO);
      await proveWithPassword(person, accord, email);
      await person.press({ role: 'link', name: 'Keep the other account instead' }, `${accord.appUrl}/link/preview?primary=other`);
      assert.match(await person.mainText(), /Stays as your account .*Email and password .*You will be signed in to it after linking\. Becomes a sign-in method of it .*Demo social account/i);
      await person.press({ role: 'button', name: 'Link accounts' }, pages.profile);
      assert.match(await flash(person), /^Accounts linked\. You are now signed in to the account you chose to keep/);
      assert.equal(await person.heading(), email, 'the password account\'s profile (its name is its email)');
      assert.deepEqual(await profileMethods(person), ['Email and password (main)', 'Demo social account']);
      assert.deepEqual(await accountsOf(accord, email), [{ user_id: password.user_id, connections: [DATABASE_CONNECTION, DEMO] }]);
      await assert.rejects(tenantUser(accord, social.user_id), /404/, 'the demo social user is gone');

      await signOut(person, accord);
      await signInWithDemo(person, accord, { email, name: 'Grace Hopper' }, pages.profile);
      assert.equal(await person.heading(), email);
      assert.deepEqual(await accountsOf(accord, email), [{ user_id: password.user_id, connections: [DATABASE_CONNECTION, DEMO] }], 'demo social opens the password user');
    });

    journey('3. email code + password accounts, Keep separate: not asked again at the next sign-in; undone from the profile', async (accord, newPerson) => {
      const pages = sitemap(accord);
      const email = uniqueEmail('katherine');
      await createVerifiedPasswordAccount(accord, email);
      const person = await newPerson();

      await signInWithEmailCode(person, accord, email, pages.suggestions);
      assert.match(await person.mainText(), /Email and password/);
      const separate = await accountsOf(accord, email);
      assert.equal(separate.length, 2);
      await person.press({ role: 'button', name: 'Keep separate Email and password account' }, pages.profile);
      assert.equal(await flash(person), 'We will not suggest linking that account again. You can change this on your profile.');
      assert.match((await profileSection(person, 'kept')) ?? '', /Kept separate .*Email and password/i);
      assert.equal(await profileSection(person, 'suggested'), undefined);
      assert.deepEqual(await accountsOf(accord, email), separate, 'nothing changed at the tenant');

      await signOut(person, accord);
      const from = person.visited.length;
      await signInWithEmailCode(person, accord, email, pages.profile);
      assert.ok(!person.visited.slice(from).some((url) => pages.suggestions.test(url)), 'not asked again');
      assert.deepEqual(await profileMethods(person), ['Email code (main)']);
      assert.ok(await profileSection(person, 'kept'));

      await person.press({ role: 'button', name: 'Suggest again' }, pages.profile);
      assert.equal(await flash(person), 'That account will be suggested for linking again.');
      assert.equal(await profileSection(person, 'kept'), undefined);
      assert.match((await profileSection(person, 'suggested')) ?? '', /Email and password/);
      assert.deepEqual(await accountsOf(accord, email), separate);
    });

    journey('4. signing in to the wrong account when asked to prove the other one: a clear message, nothing linked', async (accord, newPerson) => {
      const pages = sitemap(accord);
      const email = uniqueEmail('mary');
      const otherEmail = uniqueEmail('mary-work');
      await createVerifiedPasswordAccount(accord, email);
      await createVerifiedPasswordAccount(accord, otherEmail);
      const person = await newPerson();

      await signInWithDemo(person, accord, { email, name: 'Mary Jackson' }, pages.suggestions);
      const before = await accountsOf(accord, email);
      const other = await accountsOf(accord, otherEmail);
      await person.press({ role: 'button', name: 'Link Email and password account' }, pages.connection(DATABASE_CONNECTION));
      await person.type('Email address', otherEmail);
      await person.type('Password', PASSWORD);
      await person.press({ role: 'button', name: 'Sign in' }, pages.linkCallback);
      assert.match(await person.mainText(), /You signed in as a different account than the one you chose to link, so nothing was changed/);

      assert.deepEqual(await accountsOf(accord, email), before, 'nothing linked');
      assert.deepEqual(await accountsOf(accord, otherEmail), other);
      await person.press({ role: 'link', name: 'Back to your profile' }, pages.profile);
      assert.deepEqual(await profileMethods(person), ['Demo social account (main)']);
      assert.match((await profileSection(person, 'suggested')) ?? '', /Email and password/, 'still suggested');
    });

    journey('5. unlink from the profile: the identity signs in as a separate user again', async (accord, newPerson) => {
      const pages = sitemap(accord);
      const email = uniqueEmail('dorothy');
      await createVerifiedPasswordAccount(accord, email);
      const password = await userOn(accord, email, DATABASE_CONNECTION);
      const person = await newPerson();
      await signInWithDemo(person, accord, { email, name: 'Dorothy Vaughan' }, pages.suggestions);
      const social = await userOn(accord, email, DEMO);
      await proveWithPassword(person, accord, email);
      await person.press({ role: 'button', name: 'Link accounts' }, pages.profile);
      assert.deepEqual(await profileMethods(person), ['Demo social account (main)', 'Email and password']);

      await person.press({ role: 'button', name: 'Unlink Email and password' }, pages.profile);
      assert.match(await flash(person), /^Unlinked\. Your Email and password sign-in is a separate account again, without any profile information/);
      assert.deepEqual(await profileMethods(person), ['Demo social account (main)']);
      assert.match((await profileSection(person, 'suggested')) ?? '', /Email and password/);
      assert.deepEqual(await accountsOf(accord, email), [
        { user_id: password.user_id, connections: [DATABASE_CONNECTION] }, { user_id: social.user_id, connections: [DEMO] },
      ].sort((a, b) => a.user_id.localeCompare(b.user_id)), 'two users again, the unlinked one with its own id');

      await signOut(person, accord);
      await signInWithPassword(person, accord, email, pages.suggestions);
      assert.match(await person.mainText(), /Demo social account/, 'the password sign-in is its own account, offered the demo one');
      await person.press({ role: 'link', name: 'Decide later' }, pages.profile);
      assert.equal(await person.heading(), email);
      assert.deepEqual(await profileMethods(person), ['Email and password (main)']);
      assert.equal((await tenantUser(accord, password.user_id)).identities.length, 1);
      assert.equal((await tenantUser(accord, social.user_id)).identities.length, 1);
    });

    journey('6. Link another account from the profile: a new demo social identity with another email', async (accord, newPerson) => {
      const pages = sitemap(accord);
      const email = uniqueEmail('hedy');
      const socialEmail = uniqueEmail('hedy-home');
      await createVerifiedPasswordAccount(accord, email);
      const password = await userOn(accord, email, DATABASE_CONNECTION);
      const person = await newPerson();

      await signInWithPassword(person, accord, email, pages.profile);
      assert.deepEqual(await profileMethods(person), ['Email and password (main)']);
      await person.press({ role: 'link', name: 'Link another account' }, `${accord.appUrl}/link/new`);
      await person.press({ role: 'button', name: 'Continue with Demo social account' }, pages.demoIdp);
      await demoIdpForm(person, { email: socialEmail, name: 'Hedy at home' }, pages.preview);
      assert.match(await person.mainText(), /Stays as your account .*Email and password .*Becomes a sign-in method of it .*Demo social account/i);
      await person.press({ role: 'button', name: 'Link accounts' }, pages.profile);
      assert.match(await flash(person), /^Accounts linked/);
      assert.deepEqual(await profileMethods(person), ['Email and password (main)', 'Demo social account']);

      const linked = await tenantUser(accord, password.user_id);
      assert.deepEqual(linked.identities.map((i) => i.connection), [DATABASE_CONNECTION, DEMO]);
      const users = await accountsOf(accord, socialEmail);
      assert.ok(users.every((u) => u.user_id === password.user_id), 'no separate user is left for the new identity');
    });

    journey('7. journey 1 by keyboard only (Tab, Enter, Space), in dark mode', async (accord, newPerson) => {
      // Dark mode has colours of its own: axe checks their contrast on the pages of journey 1.
      await signUpThenLinkSocial(await newPerson({ keyboard: true, colorScheme: 'dark' }), accord);
    });

    journey('8. a suggestion right after verifying: the check after sign-in reads the tenant as it is now, not the app\'s read cache', async (accord, newPerson) => {
      const pages = sitemap(accord);
      const email = uniqueEmail('annie');
      const person = await newPerson();
      await chooseSignIn(person, accord, 'Email and password', pages.connection(DATABASE_CONNECTION));
      await person.press({ role: 'link', name: 'Create an account' }, pages.signup);
      await person.type('Email address', email);
      await person.type('Password', PASSWORD);
      await person.press({ role: 'button', name: 'Create account' }, pages.signup);
      assert.equal(await person.heading(), 'Check your email');

      // Not verified yet: no suggestion, and the app's read cache (whose TTL outlives this
      // journey) now holds the unverified account; only a fresh read sees it verified.
      await signInWithDemo(person, accord, { email, name: 'Annie Easley' }, pages.profile);
      assert.equal(await profileSection(person, 'suggested'), undefined);
      await person.open(`${accord.tenantUrl}/dev/mail`);
      await person.press({ role: 'link', name: /\/account\/verify-email\?token=/ }, new RegExp(`^${escapeRe(accord.tenantUrl)}/account/verify-email\\?`));
      assert.equal(await person.heading(), 'Email address confirmed');

      await person.open(pages.profile);
      await signOut(person, accord);
      await signInWithDemo(person, accord, { email, name: 'Annie Easley' }, pages.suggestions);
      assert.equal(await person.heading(), 'Link these accounts?');
      assert.match(await person.mainText(), /Email and password/);
    }, { env: { MANAGEMENT_CACHE_TTL: '60' } });

    it('7. axe checked every page of the product on the way, the tenant\'s included: no serious or critical violation', () => {
      const missing = PAGES_OF_THE_PRODUCT.filter((title) => !audited.has(title));
      assert.deepEqual(missing, [], `pages no journey landed on (checked: ${[...audited.keys()].join(', ')})`);
    });
  });
}
