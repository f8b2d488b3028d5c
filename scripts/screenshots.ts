/**
 * `npm run screenshots`: starts Accord as `npm start` does (on free ports, with fresh
 * databases in a temporary folder), walks the suggested-linking journey in Chromium and
 * saves the main pages at desktop (1280 px) and phone (390 px) widths in docs/screenshots/,
 * then the detours: an expired link step, the wrong account during a proof, a rate limit and
 * the tenant unavailable (through a proxy in front of the tenant that stops answering).
 * Every page is checked by axe on the way, as in the browser tests.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { browserTestsUnavailable, launchChromium, Person } from '../test/helpers/chromium.ts';
import { childEnv, freePort, ROOT, runCli, startAccord } from '../test/helpers/processes.ts';
import { startTcpProxy } from '../test/helpers/tcp-proxy.ts';

const OUT = join(ROOT, 'docs', 'screenshots');
const EMAIL = 'ada@example.com';
const PASSWORD = 'Analytical-Engine-1843';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

const unavailable = browserTestsUnavailable();
if (unavailable) {
  console.error(`screenshots: ${unavailable}`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'accord-screenshots-'));
const [tenantPort, appPort] = [await freePort(), await freePort()];
// The tenant is reached (by the app and the browser) through a proxy, to show it unavailable.
const tenantProxy = await startTcpProxy({ host: '127.0.0.1', port: tenantPort });
const tenantUrl = `http://127.0.0.1:${tenantProxy.port}`;
const appUrl = `http://127.0.0.1:${appPort}`;
const env = childEnv({
  NODE_ENV: 'development',
  DATA_DIR: dir,
  TENANT_PORT: String(tenantPort),
  PORT: String(appPort),
  TENANT_URL: tenantUrl,
  APP_URL: appUrl,
  LOG_LEVEL: 'info',
  // Every page reads the tenant as it is now, so the unavailable tenant shows at once.
  MANAGEMENT_CACHE_TTL: '0',
});
const accord = await startAccord(env);
const browser = await launchChromium();
mkdirSync(OUT, { recursive: true });

/**
 * The page as it is now at both widths, without reloading it (a page's one-time message
 * would be gone): a phone is the same page narrowed to 390 px, at twice the pixel density.
 */
async function shoot(name: string, person: Person): Promise<void> {
  const { page } = person;
  await page.screenshot({ path: join(OUT, `${name}-desktop.png`), fullPage: true, scale: 'css' });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: join(OUT, `${name}-mobile.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  console.log(`  docs/screenshots/${name}-desktop.png, ${name}-mobile.png`);
}

/** The tenant's Management API, as an administrator (a client made with the CLI). */
async function managementApi(): Promise<(path: string, init?: RequestInit) => Promise<unknown>> {
  const created = await runCli(['clients', 'create', '--name', 'Screenshots', '--scopes', 'read:users update:users create:users'], env);
  if (created.code !== 0) throw new Error(`accord clients create: ${created.stderr}`);
  const { client_id, client_secret } = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
  const token = (
    (await (
      await fetch(`${tenantUrl}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'client_credentials', client_id, client_secret, audience: `${tenantUrl}/api/v2/` }),
      })
    ).json()) as { access_token: string }
  ).access_token;
  return async (path, init = {}) => {
    const res = await fetch(`${tenantUrl}/api/v2${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} /api/v2${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
}

/** Metadata on both accounts, so the merge preview has something to show (set as an administrator would). */
async function setMetadata(api: Awaited<ReturnType<typeof managementApi>>, metadata: Record<string, Record<string, unknown>>): Promise<void> {
  const users = (await api(`/users-by-email?email=${encodeURIComponent(EMAIL)}`)) as { user_id: string; identities: { connection: string }[] }[];
  for (const user of users) {
    const user_metadata = metadata[user.identities[0]!.connection];
    if (user_metadata) await api(`/users/${encodeURIComponent(user.user_id)}`, { method: 'PATCH', body: JSON.stringify({ user_metadata }) });
  }
}

let context: BrowserContext | undefined;
try {
  context = await browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 2 });
  const person = new Person(await context.newPage());
  const app = (path: string) => `${appUrl}${path}`;
  console.log('Saving screenshots:');

  // A password account, its address verified from the outbox, then signed out.
  await person.open(app('/'));
  await shoot('home', person);
  await person.press({ role: 'link', name: 'Sign in' }, /\/login\/[^/]+$/);
  await shoot('tenant-login', person);
  await person.press({ role: 'link', name: 'Continue with Email and password' }, /\/Username-Password-Authentication$/);
  await person.press({ role: 'link', name: 'Create an account' }, /\/signup$/);
  await person.type('Email address', EMAIL);
  await person.type('Password', PASSWORD);
  await person.press({ role: 'button', name: 'Create account' }, /\/signup$/);
  await person.press({ role: 'link', name: 'Continue to sign in' }, /\/Username-Password-Authentication\?/);
  await person.type('Password', PASSWORD);
  await person.press({ role: 'button', name: 'Sign in' }, app('/profile'));
  await person.open(`${tenantUrl}/dev/mail`);
  await person.press({ role: 'link', name: /\/account\/verify-email\?token=/ }, /\/account\/verify-email\?/);
  await person.open(app('/profile'));
  // The app's own sign-out: the tenant ends its session at once and returns.
  await person.press({ role: 'button', name: 'Sign out' }, app('/'));

  // The same person through the demo social provider: Accord suggests linking.
  await person.press({ role: 'link', name: 'Sign in' }, /\/login\/[^/]+$/);
  await person.press({ role: 'link', name: 'Continue with Demo social' }, /\/demo-idp\/interaction\//);
  await person.type('Name', 'Ada Lovelace');
  await person.type('Email', EMAIL);
  await person.press({ role: 'button', name: 'Continue' }, /\/link\/suggestions/);
  const api = await managementApi();
  await setMetadata(api, {
    'demo-social': { language: 'en', theme: 'dark' },
    'Username-Password-Authentication': { language: 'fr', newsletter: true, interests: ['mathematics', 'poetry'] },
  });
  await person.open(app('/link/suggestions'));
  await shoot('link-suggestion', person);

  // Link: prove the password account with a fresh sign-in, review the merge, confirm.
  await person.press({ role: 'button', name: 'Link Email and password account' }, /\/Username-Password-Authentication$/);
  await shoot('link-sign-in', person);
  await person.type('Password', PASSWORD);
  await person.press({ role: 'button', name: 'Sign in' }, app('/link/preview'));
  await shoot('merge-preview', person);
  await person.press({ role: 'button', name: 'Link accounts' }, app('/profile'));
  await shoot('profile', person);

  // Detours. Grace has a password account, a work account and a demo social one.
  const GRACE = 'grace@example.com';
  const GRACE_WORK = 'grace.work@example.com';
  for (const email of [GRACE, GRACE_WORK]) {
    await api('/users', {
      method: 'POST',
      body: JSON.stringify({ connection: 'Username-Password-Authentication', email, password: PASSWORD, email_verified: true }),
    });
  }
  // Each person in a browser profile of their own.
  const newPerson = async () => new Person(await (await browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 2 })).newPage());
  const grace = await newPerson();
  await grace.open(app('/'));
  await grace.press({ role: 'link', name: 'Sign in' }, /\/login\/[^/]+$/);
  await grace.press({ role: 'link', name: 'Continue with Demo social' }, /\/demo-idp\/interaction\//);
  await grace.type('Name', 'Grace Hopper');
  await grace.type('Email', GRACE);
  await grace.press({ role: 'button', name: 'Continue' }, /\/link\/suggestions/);

  // Two tabs on "Link these accounts?": the older tab's proof comes back to an expired step.
  const otherTab = new Person(await grace.page.context().newPage());
  await otherTab.open(app('/link/suggestions'));
  await grace.press({ role: 'button', name: 'Link Email and password account' }, /\/Username-Password-Authentication$/);
  await otherTab.press({ role: 'button', name: 'Link Email and password account' }, /\/Username-Password-Authentication$/);
  await otherTab.page.close();
  await grace.type('Password', PASSWORD);
  await grace.press({ role: 'button', name: 'Sign in' }, /\/link\/callback\?/);
  await shoot('error-link-expired', grace);

  // Link again, and prove the work account instead (the proof page's address is read-only;
  // a changed form still sends another): the app refuses it and links nothing.
  await grace.press({ role: 'button', name: 'Link again' }, /\/Username-Password-Authentication$/);
  await grace.locate({ label: 'Email address' }).evaluate((input) => input.removeAttribute('readonly'));
  await grace.locate({ label: 'Email address' }).fill(GRACE_WORK);
  await grace.type('Password', PASSWORD);
  await grace.press({ role: 'button', name: 'Sign in' }, /\/link\/callback\?/);
  await shoot('error-wrong-account', grace);
  await grace.page.close();

  // A rate limit: ten wrong passwords for one account, and the tenant stops taking more.
  const guesser = await newPerson();
  await guesser.open(app('/'));
  await guesser.press({ role: 'link', name: 'Sign in' }, /\/login\/[^/]+$/);
  await guesser.press({ role: 'link', name: 'Continue with Email and password' }, /\/Username-Password-Authentication$/);
  for (let attempt = 0; attempt <= 10; attempt++) {
    await guesser.locate({ label: 'Email address' }).fill(GRACE_WORK);
    await guesser.locate({ label: 'Password' }).fill(`Wrong-guess-${attempt}`);
    await guesser.press({ role: 'button', name: 'Sign in' }, /\/Username-Password-Authentication$/);
  }
  await shoot('error-rate-limit', guesser);
  await guesser.page.close();

  // The tenant stops answering while Ada is signed in: the app says so, and keeps her session.
  await person.open(app('/profile'));
  tenantProxy.set('refuse');
  await person.open(app('/profile'));
  await shoot('error-tenant-unavailable', person);
  tenantProxy.set('forward');
} catch (err) {
  console.error(`screenshots: the walk failed at ${context?.pages()[0]?.url() ?? 'the start'}\n${accord.output()}`);
  throw err;
} finally {
  await browser.close();
  accord.child.kill('SIGTERM');
  await accord.exited;
  await tenantProxy.close();
  rmSync(dir, { recursive: true, force: true });
}
