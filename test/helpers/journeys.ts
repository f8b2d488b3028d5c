/**
 * What the browser journeys share (test/e2e/*.e2e.test.ts): what a person does on Accord's
 * pages, what the pages show, what the tenant holds, and the harness that gives each journey
 * its own Accord and browser profiles.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import type { StoredMail } from '../../src/tenant/mail/mailer.ts';
import { DATABASE_CONNECTION, PASSWORD, startTestAccord, type TestAccord } from './accord.ts';
import { testAppDatabases } from './app-databases.ts';
import { browserTestsUnavailable, launchChromium, Person, saveArtifacts } from './chromium.ts';
import { testDatabases } from './databases.ts';

export const DEMO = 'demo-social';
export const EMAIL_CODE = 'email';

export interface TenantUser {
  user_id: string;
  email_verified?: boolean;
  logins_count?: number;
  identities: { provider: string; user_id: string; connection: string }[];
}

export const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The users with this email at the tenant, each as its id and the connections of its identities. */
export async function accountsOf(accord: TestAccord, email: string): Promise<{ user_id: string; connections: string[] }[]> {
  const users = (await accord.usersByEmail(email)) as unknown as TenantUser[];
  return users.map((u) => ({ user_id: u.user_id, connections: u.identities.map((i) => i.connection) })).sort((a, b) => a.user_id.localeCompare(b.user_id));
}

export async function tenantUser(accord: TestAccord, id: string): Promise<TenantUser> {
  return (await accord.user(id)) as unknown as TenantUser;
}

/** The one user of `email` whose main identity is on `connection`. */
export async function userOn(accord: TestAccord, email: string, connection: string): Promise<TenantUser> {
  const found = ((await accord.usersByEmail(email)) as unknown as TenantUser[]).filter((u) => u.identities[0]?.connection === connection);
  assert.equal(found.length, 1, `one ${connection} user for ${email}`);
  return found[0]!;
}

// ——— What the pages show ———

/** The profile's sign-in methods as shown: each method, and whether it is the main one. */
export async function profileMethods(person: Person): Promise<string[]> {
  const rows = person.page.locator('section[aria-labelledby="methods"] li.identity');
  return Promise.all(
    (await rows.all()).map(async (row) => {
      const method = (await row.locator('.account-method').innerText()).trim();
      return (await row.getByText('Main account').count()) > 0 ? `${method} (main)` : method;
    }),
  );
}

/** The words of one section of the profile, or undefined when the profile does not show it. */
export async function profileSection(person: Person, id: 'suggested' | 'kept'): Promise<string | undefined> {
  const section = person.page.locator(`section[aria-labelledby="${id}"]`);
  return (await section.count()) ? (await section.innerText()).replace(/\s+/g, ' ') : undefined;
}

export async function flash(person: Person): Promise<string> {
  return (await person.page.locator('.flash').innerText()).trim();
}

// ——— What a person does ———

/** Who a person says they are at the demo IdP. */
export interface DemoIdentity {
  email: string;
  name: string;
}

/** The pages of one Accord, as patterns of URLs a person lands on. */
export function sitemap(accord: TestAccord) {
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
    demoIdpOr: (landing: string | RegExp) =>
      new RegExp(`^${tenant}/demo-idp/interaction/|${typeof landing === 'string' ? `^${escapeRe(landing)}$` : landing.source}`),
  };
}

/** From the app's start page: Sign in → the tenant's chooser → Continue with `method` → `expect`. */
export async function chooseSignIn(person: Person, accord: TestAccord, method: string, expect: RegExp): Promise<void> {
  const pages = sitemap(accord);
  await person.open(pages.home);
  await person.press({ role: 'link', name: 'Sign in' }, pages.chooser);
  await person.press({ role: 'link', name: `Continue with ${method}` }, expect);
}

/** Signs in with the demo social provider; lands on `landing`. */
export async function signInWithDemo(person: Person, accord: TestAccord, identity: DemoIdentity, landing: string | RegExp): Promise<void> {
  const pages = sitemap(accord);
  await chooseSignIn(person, accord, 'Demo social', pages.demoIdpOr(landing));
  if (pages.demoIdp.test(person.url)) await demoIdpForm(person, identity, landing);
}

export async function demoIdpForm(person: Person, identity: DemoIdentity, landing: string | RegExp): Promise<void> {
  assert.equal(await person.heading(), 'Sign in to Demo social');
  await person.type('Name', identity.name);
  await person.type('Email', identity.email);
  await person.check('This email is verified', true);
  await person.press({ role: 'button', name: 'Continue' }, landing);
}

export async function signInWithPassword(person: Person, accord: TestAccord, email: string, landing: string | RegExp): Promise<void> {
  await chooseSignIn(person, accord, 'Email and password', sitemap(accord).connection(DATABASE_CONNECTION));
  await person.type('Email address', email);
  await person.type('Password', PASSWORD);
  await person.press({ role: 'button', name: 'Sign in' }, landing);
}

/** Signs in with a code: asks for it, reads it in the outbox (as from a mailbox) and types it. */
export async function signInWithEmailCode(person: Person, accord: TestAccord, email: string, landing: string | RegExp): Promise<void> {
  const pages = sitemap(accord);
  await chooseSignIn(person, accord, 'Email code', pages.connection(EMAIL_CODE));
  const sentAfter = Date.now() - 1000;
  await person.type('Email', email);
  await person.press({ role: 'button', name: 'Email me a code' }, pages.emailCode);
  assert.match(await person.mainText(), new RegExp(`We sent a 6-digit code to ${escapeRe(email)}`));
  await person.type('Code', await mailedCode(accord, email, sentAfter));
  await person.press({ role: 'button', name: 'Sign in' }, landing);
}

export async function mailedCode(accord: TestAccord, email: string, sentAfter: number): Promise<string> {
  for (const deadline = Date.now() + 3000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 25))) {
    const mails = (await (await fetch(`${accord.tenantUrl}/dev/mail.json`)).json()) as StoredMail[];
    const code = mails
      .filter((m) => m.to === email && Date.parse(m.created_at) >= sentAfter)
      .map((m) => /^\s+(\d{6})\s*$/m.exec(m.text)?.[1])
      .find(Boolean);
    if (code) return code;
  }
  assert.fail(`no code mailed to ${email}`);
}

/**
 * Signs out with the header's button; ends on the start page, signed out. The tenant ends its
 * session at once on the app's own request (its id_token_hint of the tenant session, or no tenant
 * session left: a link ends the secondary's), and asks first where it cannot trust the request
 * (docs/security.md case 44): `expect` is which of the two this sign-out must be.
 */
export async function signOut(person: Person, accord: TestAccord, expect: 'at once' | 'asked' = 'at once'): Promise<void> {
  const pages = sitemap(accord);
  const asked = person.page.getByRole('heading', { level: 1, name: /^Sign out of / });
  const home = person.page.getByRole('heading', { level: 1, name: 'One person, one account' });
  // One URL (/oidc/logout) serves both the question and the page that submits itself.
  await person.press({ role: 'button', name: 'Sign out' }, (page) =>
    asked
      .or(home)
      .waitFor()
      .then(() => page.waitForLoadState('load')),
  );
  if (expect === 'asked') {
    assert.ok(await asked.isVisible(), `the tenant asks before signing out (at ${person.url})`);
    await person.press({ role: 'button', name: 'Sign out' }, pages.home);
  }
  assert.equal(person.url, pages.home, 'signed out at once, back at the app');
  assert.equal(await person.heading(), 'One person, one account');
  assert.equal(await person.page.getByRole('button', { name: 'Sign out' }).count(), 0, 'signed out of the app');
}

/** At "Link these accounts?": Link → the tenant asks for that account's password → the merge preview. */
export async function proveWithPassword(person: Person, accord: TestAccord, email: string): Promise<void> {
  const pages = sitemap(accord);
  await person.press({ role: 'button', name: 'Link Email and password account' }, pages.connection(DATABASE_CONNECTION));
  assert.equal(await person.locate({ label: 'Email address' }).inputValue(), email, 'the tenant knows which account to ask for');
  await person.type('Password', PASSWORD);
  await person.press({ role: 'button', name: 'Sign in' }, pages.preview);
  assert.equal(await person.heading(), 'Review and link');
}

// ——— The harness ———

/** A person at a fresh browser profile, or (`tabOf`) at a second tab of another person's browser. */
export type NewPerson = (options?: { keyboard?: boolean; colorScheme?: 'light' | 'dark'; tabOf?: Person }) => Promise<Person>;
export type Journey = (name: string, run: (accord: TestAccord, newPerson: NewPerson) => Promise<void>, options?: { env?: Record<string, string> }) => void;

/**
 * Until both halves answer a real request: the tenant its discovery document and a sign-in
 * page's first step, the app its start page (each reading its database). A first journey
 * then never races a database still warming up.
 */
export async function untilReady(accord: TestAccord): Promise<void> {
  const checks = [`${accord.tenantUrl}/.well-known/openid-configuration`, `${accord.appUrl}/healthz`, `${accord.appUrl}/`];
  for (const url of checks) {
    let last = '';
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(url, { redirect: 'manual' });
        if (res.status === 200) break;
        last = `status ${res.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      assert.ok(attempt < 100, `${url} never answered 200 (${last})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * A suite of browser journeys on each database (SQLite, and PostgreSQL when DATABASE_URL is
 * set): `define` registers its journeys with `journey`; `audited` maps the title of every
 * page a journey landed on (and axe checked) to its URL.
 */
export function browserJourneys(title: string, define: (journey: Journey, audited: Map<string, string>) => void): void {
  const unavailable = browserTestsUnavailable();
  const databases = testDatabases({ sqlite: 'file' });
  const appDatabases = testAppDatabases();

  for (const [index, db] of databases.entries()) {
    const appDb = appDatabases[index]!;
    assert.equal(appDb.label, db.label, 'tenant and app databases are paired by kind');

    describe(`${title} [${db.label}]`, { skip: unavailable }, () => {
      let browser: Browser;
      before(async () => {
        browser = await launchChromium();
      });
      after(async () => {
        await browser?.close();
      });
      const audited = new Map<string, string>();

      /**
       * One journey: its own Accord (tenant and app on free ports, fresh databases), fresh
       * browser profiles, and on failure the pages' screenshots and HTML under test-results/.
       */
      const journey: Journey = (name, run, options = {}) => {
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
            await untilReady(accord);
            await run(accord, async (personOptions) => {
              const context =
                personOptions?.tabOf?.page.context() ??
                (await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: personOptions?.colorScheme ?? 'light' }));
              if (!contexts.includes(context)) contexts.push(context);
              const page = await context.newPage();
              page.setDefaultTimeout(10_000);
              const person = new Person(page, personOptions);
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
      };
      define(journey, audited);
    });
  }
}
