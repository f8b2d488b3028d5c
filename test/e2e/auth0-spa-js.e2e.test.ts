/**
 * A single-page app built on Auth0's SPA SDK, `@auth0/auth0-spa-js` from npm (its browser bundle
 * served from node_modules; nothing of Auth0's samples copied), on its own origin, against the
 * tenant over https, in one Chromium session: sign-in by redirect, silent renewal in a hidden
 * cross-site iframe (web_message), refresh-token rotation, a user token for /api/v2/ called from
 * the page (CORS), client-side linking with link_with after a popup sign-in, and logout.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium as playwright, type BrowserContext, type Page } from 'playwright-core';
import { createLogger } from '../../src/platform/logger.ts';
import { createTenant, type Tenant } from '../../src/tenant/tenant.ts';
import { browserTestsUnavailable, CHROMIUM, saveArtifacts } from '../helpers/chromium.ts';
import { STRONG_PASSWORD, TEST_ACTOR } from '../helpers/management.ts';
import { freePort, ROOT } from '../helpers/processes.ts';
import { makeTestCertificate, tlsTestsUnavailable } from '../helpers/tls.ts';
import { testConfig } from '../helpers/tenant.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';

const CONNECTION = 'Username-Password-Authentication';
const SDK_BUNDLE = join(ROOT, 'node_modules/@auth0/auth0-spa-js/dist/auth0-spa-js.production.js');
const SDK_VERSION = (JSON.parse(readFileSync(join(ROOT, 'node_modules/@auth0/auth0-spa-js/package.json'), 'utf8')) as { version: string }).version;

const unavailable = browserTestsUnavailable() ?? tlsTestsUnavailable();
if (unavailable) console.log(`# Auth0 SPA SDK test skipped: ${unavailable}`);

function listening(server: Server, port: number): Promise<void> {
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
}

function closed(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Signs in on the tenant's password page, wherever it is open (the tab or a popup). */
async function signInOnTenant(page: Page, email: string): Promise<void> {
  await page.waitForSelector('input[name="password"]');
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', STRONG_PASSWORD);
  await page.click('button[type="submit"]');
}

describe(`Auth0's SPA SDK (@auth0/auth0-spa-js ${SDK_VERSION}) against the tenant over https`, { skip: unavailable }, () => {
  let dir: string;
  let tenant: Tenant;
  let tenantServer: Server;
  let spaServer: Server;
  let context: BrowserContext;
  let tenantUrl: string;
  let spaOrigin: string;
  let spaId: string;
  let spki: string;
  const primaryEmail = uniqueEmail('spa-primary');
  const secondaryEmail = uniqueEmail('spa-secondary');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'accord-spa-'));
    const cert = makeTestCertificate(dir);
    spki = cert.spki;
    // The tenant on localhost, the app on 127.0.0.1: two sites, so the silent sign-in's iframe is cross-site.
    const tenantPort = await freePort();
    tenantUrl = `https://localhost:${tenantPort}`;
    tenant = await createTenant({ config: testConfig({ url: tenantUrl, port: tenantPort }), logger: createLogger('silent') });
    tenantServer = createHttpsServer({ cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) }, tenant.app);
    await listening(tenantServer, tenantPort);
    const spaPort = await freePort();
    spaOrigin = `http://127.0.0.1:${spaPort}`;
    const spa = await tenant.clients.create({
      name: 'Auth0 SPA SDK app',
      spa: true,
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: [],
      redirectUris: [`${spaOrigin}/`],
      postLogoutRedirectUris: [`${spaOrigin}/`],
      webOrigins: [spaOrigin],
    });
    spaId = spa.client_id;
    for (const email of [primaryEmail, secondaryEmail]) {
      await tenant.directory.createUser({ connection: CONNECTION, email, email_verified: true, password: STRONG_PASSWORD }, TEST_ACTOR);
    }
    // The app: one page that loads the SDK's browser bundle; the test drives the SDK through it.
    const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>SPA</title>
<script src="/auth0-spa-js.production.js"></script></head><body><main><h1>SPA</h1></main></body></html>`;
    spaServer = createHttpServer((req, res) => {
      if (req.url === '/auth0-spa-js.production.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(SDK_BUNDLE));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
    });
    await listening(spaServer, spaPort);
    // A browser profile of its own that allows third-party cookies: Chromium's test contexts and
    // its third-party-cookie phase-out block them, and the silent sign-in's iframe (cross-site, as
    // at Auth0) needs the tenant's session cookie. Without them, getTokenSilently answers
    // login_required, as it does against Auth0 in such a browser.
    mkdirSync(join(dir, 'profile', 'Default'), { recursive: true });
    writeFileSync(join(dir, 'profile', 'Default', 'Preferences'), JSON.stringify({ profile: { cookie_controls_mode: 0, block_third_party_cookies: false } }));
    context = await playwright.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-features=TrackingProtection3pcd',
        `--ignore-certificate-errors-spki-list=${spki}`,
      ],
    });
  });

  after(async () => {
    await context?.close();
    if (spaServer) await closed(spaServer);
    if (tenantServer) await closed(tenantServer);
    await tenant?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs in by redirect, renews silently, rotates refresh tokens, calls /api/v2, links with link_with and logs out', async () => {
    const page = await context.newPage();
    try {
      const options = {
        domain: new URL(tenantUrl).host,
        clientId: spaId,
        audience: `${tenantUrl}/api/v2/`,
        redirectUri: `${spaOrigin}/`,
        connection: CONNECTION,
      };
      await page.goto(`${spaOrigin}/`);
      // The SDK as an app configures it: refresh tokens, kept in localStorage across the redirect.
      const setUp = `window.makeClient = (extra = {}) => auth0.createAuth0Client({
        domain: ${JSON.stringify(options.domain)}, clientId: ${JSON.stringify(options.clientId)},
        authorizationParams: { redirect_uri: ${JSON.stringify(options.redirectUri)}, audience: ${JSON.stringify(options.audience)},
          scope: 'openid profile email read:current_user update:current_user_identities', connection: ${JSON.stringify(options.connection)} },
        ...extra });`;
      await page.evaluate(setUp);

      // 1. Sign-in by redirect.
      await page.evaluate(`makeClient({ useRefreshTokens: true, cacheLocation: 'localstorage' }).then((c) => c.loginWithRedirect())`);
      await page.waitForURL(/\/login\//);
      await signInOnTenant(page, primaryEmail);
      await page.waitForURL((url) => url.origin === spaOrigin && url.searchParams.has('code'));
      await page.evaluate(setUp);
      const signedIn = (await page.evaluate(`(async () => {
        const client = await makeClient({ useRefreshTokens: true, cacheLocation: 'localstorage' });
        await client.handleRedirectCallback();
        window.client = client;
        const user = await client.getUser();
        const claims = await client.getIdTokenClaims();
        return { email: user.email, sub: user.sub, iss: claims.iss, picture: user.picture };
      })()`)) as { email: string; sub: string; iss: string; picture: string };
      assert.equal(signedIn.email, primaryEmail);
      assert.equal(signedIn.iss, `${tenantUrl}/`);
      assert.ok(signedIn.picture);

      // 2. Silent renewal: another client without refresh tokens asks in a hidden cross-site iframe (prompt=none, web_message).
      const silent = (await page.evaluate(`(async () => {
        const fresh = await makeClient({ cacheLocation: 'memory' });
        const token = await fresh.getTokenSilently({ cacheMode: 'off' });
        return { token, user: (await fresh.getUser()).email };
      })()`)) as { token: string; user: string };
      assert.equal(silent.user, primaryEmail);
      const silentClaims = JSON.parse(Buffer.from(silent.token.split('.')[1]!, 'base64url').toString()) as Record<string, string>;
      assert.equal(silentClaims.aud, options.audience);
      assert.equal(silentClaims.sub, signedIn.sub);

      // 3. Refresh-token rotation: each renewal through the refresh token returns a new one; the old one is refused after.
      const refreshTokenInCache = `Object.keys(localStorage).filter((k) => k.startsWith('@@auth0spajs@@::') && !k.endsWith('@@user@@'))
        .map((k) => JSON.parse(localStorage.getItem(k)).body.refresh_token).find(Boolean)`;
      const firstRefresh = (await page.evaluate(refreshTokenInCache)) as string;
      assert.ok(firstRefresh, 'offline_access gave the SDK a refresh token (no prompt=consent)');
      const rotated = (await page.evaluate(`(async () => {
        const token = await window.client.getTokenSilently({ cacheMode: 'off' });
        return { token, refresh: ${refreshTokenInCache} };
      })()`)) as { token: string; refresh: string };
      assert.ok(rotated.refresh && rotated.refresh !== firstRefresh, 'rotated');
      const replay = (await page.evaluate(
        `fetch(${JSON.stringify(`${tenantUrl}/oauth/token`)}, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', client_id: ${JSON.stringify(spaId)}, refresh_token: ${JSON.stringify(firstRefresh)} }) }).then((r) => r.json())`,
      )) as { error?: string };
      assert.equal(replay.error, 'invalid_grant', 'a used refresh token is refused');

      // 4. The user's token for /api/v2/, from the page (CORS for the app's web origin).
      const me = (await page.evaluate(`(async () => {
        const token = await window.client.getTokenSilently();
        const res = await fetch(${JSON.stringify(`${tenantUrl}/api/v2/users/`)} + encodeURIComponent(${JSON.stringify(signedIn.sub)}), { headers: { Authorization: 'Bearer ' + token } });
        return { token, status: res.status, body: await res.json() };
      })()`)) as { token: string; status: number; body: { email: string; identities: unknown[] } };
      assert.equal(me.status, 200, JSON.stringify(me.body));
      assert.equal(me.body.email, primaryEmail);

      // 5. Logout through the SDK (Auth0's /v2/logout), back to the app; the tenant's session is over.
      const leaving = page.waitForURL((url) => url.origin !== spaOrigin);
      // The SDK navigates away while this runs, so its promise never settles here.
      page.evaluate(`window.client.logout({ logoutParams: { returnTo: ${JSON.stringify(`${spaOrigin}/`)} } })`).catch(() => {});
      await leaving;
      await page.waitForURL((url) => url.origin === spaOrigin || /\/(v2|oidc)\/logout/.test(url.pathname));
      await page.waitForLoadState('load');
      if (new URL(page.url()).origin !== spaOrigin) {
        // No id_token_hint: the tenant asks first (docs/security.md case 44).
        await page.click('button[name="logout"]');
        await page.waitForURL((url) => url.origin === spaOrigin);
      }
      await page.evaluate(setUp);
      const afterLogout = (await page.evaluate(`(async () => {
        const stored = await makeClient({ useRefreshTokens: true, cacheLocation: 'localstorage' });
        const fresh = await makeClient({ cacheLocation: 'memory' });
        const silent = await fresh.getTokenSilently({ cacheMode: 'off' }).then(() => 'token', (e) => e.error);
        return { authenticated: await stored.isAuthenticated(), silent };
      })()`)) as { authenticated: boolean; silent: string };
      assert.deepEqual(afterLogout, { authenticated: false, silent: 'login_required' });

      // 6. Client-side linking as Auth0's SPA sample does it: the second account signs in in a
      // popup (web_message), and its id_token goes to link_with with the first account's token.
      const popupOpened = context.waitForEvent('page');
      const secondIdToken = page.evaluate(`(async () => {
        const other = await makeClient({ cacheLocation: 'memory' });
        await other.loginWithPopup({ authorizationParams: { prompt: 'login', max_age: 0 } });
        return (await other.getIdTokenClaims()).__raw;
      })()`) as Promise<string>;
      await signInOnTenant(await popupOpened, secondaryEmail);
      const linked = (await page.evaluate(`(async () => {
        const res = await fetch(${JSON.stringify(`${tenantUrl}/api/v2/users/`)} + encodeURIComponent(${JSON.stringify(signedIn.sub)}) + '/identities', {
          method: 'POST',
          headers: { Authorization: 'Bearer ' + ${JSON.stringify(me.token)}, 'Content-Type': 'application/json' },
          body: JSON.stringify({ link_with: ${JSON.stringify(await secondIdToken)} }),
        });
        return { status: res.status, body: await res.json() };
      })()`)) as { status: number; body: { user_id: string }[] };
      assert.equal(linked.status, 201, JSON.stringify(linked.body));
      assert.equal(linked.body.length, 2);
      const primary = await tenant.directory.getUser(signedIn.sub);
      assert.equal(primary.identities.length, 2);
    } catch (err) {
      console.log(`# artifacts: ${(await saveArtifacts(context, 'auth0-spa-js')).join(', ')}`);
      throw err;
    } finally {
      await page.close();
    }
  });
});
