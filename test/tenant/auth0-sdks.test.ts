/**
 * Auth0's own SDKs from npm, run against the tenant with configuration alone, as their READMEs
 * configure them for Auth0: the `auth0` Management API SDK, `express-openid-connect` 3.x and
 * Passport's `passport-auth0`. They build the tenant's URLs as `https://<domain>/…` and expect
 * the issuer `https://<domain>/`, so the tenant serves https here, with a certificate made for
 * the test. What they fetch with trusts the test's CA (added to the default roots, never a
 * check turned off): fetch through undici's global dispatcher, passport-auth0's node-oauth
 * through its own agent.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import session from 'express-session';
import passport from 'passport';
import Auth0Strategy from 'passport-auth0';
import { ManagementClient } from 'auth0';
import eoc from 'express-openid-connect';
import { Agent as FetchAgent, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
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

/** The apps' addresses (in-process, never listened on): the callbacks registered at the tenant. */
const APP = 'http://127.0.0.1:3998';
const EOC_APP = 'http://127.0.0.1:3997';

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

/** An app as express-openid-connect 3.x's README sets one up: `auth()` with the tenant as issuerBaseURL, a protected page. */
function eocApp(options: { issuerBaseURL: string; clientID: string; clientSecret?: string; responseType?: 'code' }): express.Express {
  const app = express();
  app.use(
    eoc.auth({
      authRequired: false,
      auth0Logout: true,
      issuerBaseURL: options.issuerBaseURL,
      baseURL: EOC_APP,
      clientID: options.clientID,
      ...(options.clientSecret ? { clientSecret: options.clientSecret } : {}),
      ...(options.responseType ? { authorizationParams: { response_type: options.responseType, scope: 'openid profile email' } } : {}),
      secret: randomBytes(24).toString('hex'),
    }),
  );
  app.get('/profile', eoc.requiresAuth(), (req, res) => {
    res.send(`<pre id="user">${html(JSON.stringify({ user: req.oidc.user, idTokenIssuer: req.oidc.idTokenClaims?.iss }))}</pre>`);
  });
  app.get('/', (_req, res) => {
    res.send('<h1>express-openid-connect sample</h1>');
  });
  return app;
}

const userOf = <T = Signed>(b: WebBrowser): T => {
  const json = /<pre id="user">([^<]*)<\/pre>/.exec(b.page.text)?.[1];
  assert.ok(json, `${b.page.url} ${b.page.status}: ${b.page.text.slice(0, 500)}`);
  return JSON.parse(json.replaceAll('&#34;', '"').replaceAll('&#38;', '&').replaceAll('&#60;', '<').replaceAll('&#62;', '>')) as T;
};

describe("Auth0's SDKs against the tenant over https", { skip: unavailable }, () => {
  const db = testDatabases()[0]!;
  let dir: string;
  let cert: TestCertificate;
  let t: TestTenant;
  let server: DrainableServer;
  let tenantUrl: string;
  let domain: string;
  let app: express.Express;
  let cleanup: (() => Promise<void>) | undefined;
  const dispatcher = getGlobalDispatcher();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'accord-sdks-'));
    cert = makeTestCertificate(dir);
    setGlobalDispatcher(new FetchAgent({ connect: { ca: [...rootCertificates, cert.ca] } }));
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
    setGlobalDispatcher(dispatcher);
    await server?.drain();
    await t?.close();
    await cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  const browser = () => new WebBrowser({ [APP]: app, [tenantUrl]: tenantUrl }, { ca: cert.ca });

  describe('passport-auth0', () => {
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

  describe('the auth0 Management API SDK', () => {
    it('gets, searches, updates, links (link_with) and unlinks users, as a backend written for Auth0 does', async () => {
      const m2m = await t.tenant.clients.create({ name: 'Backend', grantTypes: ['client_credentials'], scopes: ['read:users', 'update:users'] });
      const management = new ManagementClient({ domain, clientId: m2m.client_id, clientSecret: m2m.client_secret });
      const email = uniqueEmail('sdk');
      const primary = await t.tenant.directory.createUser({ connection: DATABASE_CONNECTION, email, password: PASSWORD, email_verified: true }, SYSTEM_ACTOR);
      const secondary = await t.tenant.directory.createUser({ connection: 'email', email, email_verified: true }, SYSTEM_ACTOR);

      const got = await management.users.get(primary.user_id);
      assert.equal(got.email, email);
      assert.equal(got.identities?.[0]?.connection, DATABASE_CONNECTION);
      const found = await management.users.list({ q: `email:"${email}"`, search_engine: 'v3' });
      assert.deepEqual(found.data.map((u) => u.user_id).sort(), [primary.user_id, secondary.user_id].sort());
      const byEmail = await management.users.listUsersByEmail({ email });
      assert.equal(byEmail.length, 2);

      const updated = await management.users.update(primary.user_id, { user_metadata: { theme: 'dark' } });
      assert.deepEqual(updated.user_metadata, { theme: 'dark' });

      // link_with: the secondary's id_token, issued by the tenant to the calling client.
      const idToken = await t.idToken(secondary.user_id, m2m.client_id, { iss: `${tenantUrl}/` });
      const identities = await management.users.identities.link(primary.user_id, { link_with: idToken });
      assert.deepEqual(identities.map((i) => i.connection).sort(), [DATABASE_CONNECTION, 'email'].sort());
      const [provider, id] = secondary.user_id.split('|') as [string, string];
      const left = await management.users.identities.delete(primary.user_id, provider as never, id);
      assert.deepEqual(
        (left as { connection: string }[]).map((i) => i.connection),
        [DATABASE_CONNECTION],
      );
      await assert.rejects(management.users.get('auth0|nobody'), (err: { statusCode?: number }) => err.statusCode === 404);
    });
  });

  describe('express-openid-connect 3.x', () => {
    it('signs in with its defaults (implicit: id_token with form_post) and with the code flow, the issuer https://<domain>/', async () => {
      const client = await t.tenant.clients.create({
        name: 'express-openid-connect sample',
        grantTypes: ['implicit', 'authorization_code'],
        scopes: [],
        redirectUris: [`${EOC_APP}/callback`],
        postLogoutRedirectUris: [EOC_APP],
      });
      const issuerBaseURL = `https://${domain}`;
      for (const sample of [
        eocApp({ issuerBaseURL, clientID: client.client_id }),
        eocApp({ issuerBaseURL, clientID: client.client_id, clientSecret: client.client_secret, responseType: 'code' }),
      ]) {
        const email = uniqueEmail('eoc');
        const b = new WebBrowser({ [EOC_APP]: sample, [tenantUrl]: tenantUrl }, { ca: cert.ca });
        await b.open(`${EOC_APP}/profile`);
        assert.match(b.page.url, new RegExp(`^${tenantUrl}/login/[^/]+$`), `${b.page.status} ${b.page.text.slice(0, 300)}`);
        await b.open(`${b.page.url}/demo-social`);
        await enterDemoIdentity(b, { email, name: 'Ada Lovelace' });
        assert.equal(b.page.url, `${EOC_APP}/profile`, `${b.history.slice(-4).join('\n')}\n${b.page.status} ${b.page.text.slice(0, 500)}`);
        const signed = userOf<{ user: { email: string; sub: string }; idTokenIssuer: string }>(b);
        assert.equal(signed.user.email, email);
        assert.equal(signed.idTokenIssuer, `${tenantUrl}/`);
      }
    });
  });
});
