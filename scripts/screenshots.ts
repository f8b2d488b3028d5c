/**
 * `npm run screenshots`: starts Accord as `npm start` does (on free ports, with fresh
 * databases in a temporary folder), walks the suggested-linking journey in Chromium and
 * saves the main pages at desktop (1280 px) and phone (390 px) widths in docs/screenshots/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { browserTestsUnavailable, launchChromium, Person } from '../test/helpers/chromium.ts';
import { childEnv, freePort, ROOT, runCli, startAccord } from '../test/helpers/processes.ts';

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
const tenantUrl = `http://127.0.0.1:${tenantPort}`;
const appUrl = `http://127.0.0.1:${appPort}`;
const env = childEnv({
  NODE_ENV: 'development',
  DATA_DIR: dir,
  TENANT_PORT: String(tenantPort),
  PORT: String(appPort),
  TENANT_URL: tenantUrl,
  APP_URL: appUrl,
  LOG_LEVEL: 'info',
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

/** Metadata on both accounts, so the merge preview has something to show (set as an administrator would). */
async function setMetadata(metadata: Record<string, Record<string, unknown>>): Promise<void> {
  const created = await runCli(['clients', 'create', '--name', 'Screenshots', '--scopes', 'read:users update:users'], env);
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
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${tenantUrl}/api/v2${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    }).then((res) => res.json());
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
  await person.press({ role: 'button', name: 'Sign out' }, /\/oidc\/|\/$/);
  if (!person.url.startsWith(appUrl)) await person.press({ role: 'button', name: 'Sign out' }, app('/'));

  // The same person through the demo social provider: Accord suggests linking.
  await person.press({ role: 'link', name: 'Sign in' }, /\/login\/[^/]+$/);
  await person.press({ role: 'link', name: 'Continue with Demo social' }, /\/demo-idp\/interaction\//);
  await person.type('Name', 'Ada Lovelace');
  await person.type('Email', EMAIL);
  await person.press({ role: 'button', name: 'Continue' }, /\/link\/suggestions/);
  await setMetadata({
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
} catch (err) {
  console.error(`screenshots: the walk failed at ${context?.pages()[0]?.url() ?? 'the start'}\n${accord.output()}`);
  throw err;
} finally {
  await browser.close();
  accord.child.kill('SIGTERM');
  await accord.exited;
  rmSync(dir, { recursive: true, force: true });
}
