/**
 * Passport's Auth0 strategy (passport-auth0 from npm) signs people in against the tenant,
 * configured as its README configures it for Auth0: a domain, the client's id and secret, a
 * callback URL, `state` (so a nonce) and the session it needs, `scope: 'openid email profile'`,
 * `connection` to force a sign-in method. It builds every tenant URL as `https://<domain>/…`
 * and expects the id_token's `iss` to be `https://<domain>/`, so the tenant serves https here
 * with a certificate made for the test (the strategy's HTTP client is given its CA).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import session from 'express-session';
import passport from 'passport';
import Auth0Strategy from 'passport-auth0';
import { SYSTEM_ACTOR } from '../../src/tenant/directory/audit.ts';
import { DrainableServer } from '../../src/platform/http-drain.ts';
import { loadTlsCredentials } from '../../src/platform/tls.ts';
import { DATABASE_CONNECTION, enterDemoIdentity, enterPassword, PASSWORD } from '../helpers/accord.ts';
import { testDatabases } from '../helpers/databases.ts';
import { freePort } from '../helpers/processes.ts';
import { startTestTenant, type TestTenant } from '../helpers/tenant.ts';
import { makeTestCertificate, tlsTestsUnavailable, type TestCertificate } from '../helpers/tls.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { WebBrowser } from '../helpers/web-browser.ts';

const unavailable = tlsTestsUnavailable();
if (unavailable) console.log(`# skipped: ${unavailable}`);

/** The app's address (in-process, never listened on): the callback registered at the tenant. */
const APP = 'http://127.0.0.1:3998';

interface Signed {
  profile: { id: string; provider: string; displayName: string; emails?: { value: string }[]; picture?: string; nickname?: string };
  idTokenIssuer: string;
}

const html = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** An Express app as passport-auth0's README sets one up: session, the strategy, /login, /callback, a page for the signed-in user, /logout. */
function passportApp(options: { domain: string; clientID: string; clientSecret: string; ca: string }): express.Express {
  const strategy = new Auth0Strategy(
    { domain: options.domain, clientID: options.clientID, clientSecret: options.clientSecret, callbackURL: `${APP}/callback`, state: true },
    (_accessToken, _refreshToken, extraParams, profile, done) => {
      const idToken = (extraParams as { id_token: string }).id_token;
      const claims = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString('utf8')) as { iss: string };
      const { _raw: _r, _json: _j, ...fields } = profile;
      done(null, { profile: fields, idTokenIssuer: claims.iss } satisfies Signed);
    },
  );
  // Not in the README: the test CA, given to the strategy's OAuth client (node-oauth's setAgent,
  // "useful when dealing with your own certificates"), rather than turning certificate checks off.
  (strategy as unknown as { _oauth2: { setAgent(agent: Agent): void } })._oauth2.setAgent(new Agent({ ca: options.ca }));
  const auth = new passport.Passport();
  auth.use(strategy);
  // The whole user in the session: this app has no database.
  auth.serializeUser((user, done) => done(null, user));
  auth.deserializeUser((user: Express.User, done) => done(null, user));

  const app = express();
  app.use(session({ secret: randomBytes(16).toString('hex'), resave: false, saveUninitialized: true }));
  app.use(auth.session());
  app.get('/login', auth.authenticate('auth0', { scope: 'openid email profile' }), (_req, res) => res.redirect('/'));
  app.get(
    '/login/demo',
    auth.authenticate('auth0', { scope: 'openid email profile', connection: 'demo-social' } as passport.AuthenticateOptions),
    (_req, res) => res.redirect('/'),
  );
  app.get('/callback', (req, res, next) => {
    auth.authenticate('auth0', (err: Error | null, user: Express.User | false, info: unknown) => {
      if (err) return res.status(500).send(`<h1>Error</h1><p id="error">${html(err.message)}</p>`);
      if (!user) return res.status(401).send(`<h1>Not signed in</h1><p id="error">${html(JSON.stringify(info))}</p>`);
      req.logIn(user, (e) => (e ? next(e) : res.redirect('/user')));
    })(req, res, next);
  });
  app.get('/user', (req, res) => {
    if (!req.user) return res.redirect('/login');
    res.send(`<pre id="user">${html(JSON.stringify(req.user))}</pre>`);
  });
  app.get('/logout', (req, res, next) => {
    req.logout((err) => {
      if (err) return next(err);
      res.redirect(`https://${options.domain}/v2/logout?${new URLSearchParams({ client_id: options.clientID, returnTo: `${APP}/` })}`);
    });
  });
  app.get('/', (_req, res) => {
    res.send('<h1>Passport sample</h1>');
  });
  return app;
}

const userOf = (b: WebBrowser): Signed => {
  const json = /<pre id="user">([^<]*)<\/pre>/.exec(b.page.text)?.[1];
  assert.ok(json, `${b.page.url} ${b.page.status}: ${b.page.text.slice(0, 500)}`);
  return JSON.parse(json.replaceAll('&#34;', '"').replaceAll('&#38;', '&').replaceAll('&#60;', '<').replaceAll('&#62;', '>')) as Signed;
};

describe('passport-auth0 against the tenant over https', { skip: unavailable }, () => {
  const db = testDatabases()[0]!;
  let dir: string;
  let cert: TestCertificate;
  let t: TestTenant;
  let server: DrainableServer;
  let tenantUrl: string;
  let domain: string;
  let app: express.Express;
  let cleanup: (() => Promise<void>) | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'accord-passport-'));
    cert = makeTestCertificate(dir);
    const port = await freePort();
    domain = `127.0.0.1:${port}`;
    tenantUrl = `https://${domain}`;
    const opened = await db.open();
    cleanup = opened.cleanup;
    const tls = loadTlsCredentials(cert.certFile, cert.keyFile);
    t = await startTestTenant(opened.database, { url: tenantUrl, port, tls });
    server = new DrainableServer(t.tenant.app, tls);
    await server.listen(port, '127.0.0.1');
    // A "Regular Web Application" as Auth0's dashboard makes one: code grant, a secret, the callback and the app as logout URL.
    const client = await t.tenant.clients.create({
      name: 'Passport sample',
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: [],
      redirectUris: [`${APP}/callback`],
      postLogoutRedirectUris: [`${APP}/`],
    });
    app = passportApp({ domain, clientID: client.client_id, clientSecret: client.client_secret, ca: cert.ca });
  });
  after(async () => {
    await server?.drain();
    await t?.close();
    await cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  const browser = () => new WebBrowser({ [APP]: app, [tenantUrl]: tenantUrl }, { ca: cert.ca });

  it("signs in with a password on the tenant's pages: the strategy checks the id_token (iss https://<domain>/, aud, nonce) and reads /userinfo", async () => {
    const email = uniqueEmail('passport');
    const user = await t.tenant.directory.createUser({ connection: DATABASE_CONNECTION, email, password: PASSWORD, email_verified: true }, SYSTEM_ACTOR);
    const b = browser();
    await b.open(`${APP}/login`);
    assert.match(b.page.url, new RegExp(`^${tenantUrl}/login/[^/]+$`), b.page.text.slice(0, 300));
    await b.open(`${b.page.url}/${DATABASE_CONNECTION}`);
    await enterPassword(b, email);
    assert.equal(b.page.url, `${APP}/user`, `${b.page.status} ${b.page.text.slice(0, 500)}`);
    const signed = userOf(b);
    assert.equal(signed.idTokenIssuer, `${tenantUrl}/`);
    assert.equal(signed.profile.provider, 'auth0');
    assert.equal(signed.profile.id, user.user_id);
    assert.deepEqual(signed.profile.emails, [{ value: email }]);
    assert.equal(signed.profile.nickname, email.split('@')[0]);
    assert.match(signed.profile.picture ?? '', new RegExp(`^${tenantUrl}/avatars/`));

    // Sign-out as Auth0's samples do it: /v2/logout with client_id and returnTo; the tenant asks
    // the person to confirm (Auth0 does not), then sends the browser back to the app.
    await b.open(`${APP}/logout`);
    assert.match(b.page.text, /Sign out of Accord Test\?/, b.history.slice(-3).join('\n'));
    await b.submit(/\/oidc\/logout\/confirm$/, { logout: 'yes' });
    assert.equal(b.page.url, `${APP}/`, b.history.slice(-4).join('\n'));
    await b.open(`${APP}/login`);
    assert.match(b.page.url, new RegExp(`^${tenantUrl}/login/`), 'signed out at the tenant too: its sign-in page again');
  });

  it('a forced connection (`connection`) goes straight to that sign-in method', async () => {
    const email = uniqueEmail('passport-demo');
    const b = browser();
    await b.open(`${APP}/login/demo`);
    await enterDemoIdentity(b, { email, name: 'Grace Hopper' });
    assert.equal(b.page.url, `${APP}/user`, `${b.page.status} ${b.page.text.slice(0, 500)}`);
    const signed = userOf(b);
    assert.equal(signed.profile.displayName, 'Grace Hopper');
    assert.deepEqual(signed.profile.emails, [{ value: email }]);
    assert.match(signed.profile.id, /^demo-social\|/);
  });
});
