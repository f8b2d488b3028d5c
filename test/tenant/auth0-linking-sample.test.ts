import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import express, { type NextFunction, type Request, type Response } from 'express';
import { auth, requiresAuth } from 'express-openid-connect-v1';
import { SYSTEM_ACTOR } from '../../src/tenant/directory/audit.ts';
import { DEMO_CONNECTION } from '../../src/tenant/connections/oidc/demo-idp.ts';
import { testDatabases } from '../helpers/databases.ts';
import { DATABASE_CONNECTION, enterDemoIdentity, enterPassword, PASSWORD } from '../helpers/accord.ts';
import { freePort } from '../helpers/processes.ts';
import { startTestTenant, type TestTenant } from '../helpers/tenant.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { WebBrowser } from '../helpers/web-browser.ts';

/*
 * Auth0's account-linking sample (auth0-samples/auth0-link-accounts-sample, RegularWebApp) run
 * against the tenant. None of its code is here: this app does what the sample does, with the
 * library the sample uses (express-openid-connect 1.x from npm) configured as the sample
 * configures it (sign-in with its defaults: the implicit flow, response_type=id_token with
 * response_mode=form_post; a second `auth()` router under /link for the re-authentication;
 * auth0Logout), and the sample's six Management API calls as plain HTTP with the same
 * client's credentials (client-credentials token, get user, the v3 search for the suggestion,
 * PATCH of the metadata, link_with, unlink). Only configuration points it at the tenant.
 */

interface Identity {
  provider: string;
  user_id: string;
  connection: string;
}
interface ManagedUser {
  user_id: string;
  email: string;
  picture: string;
  identities: Identity[];
  user_metadata?: Record<string, unknown>;
  app_metadata?: Record<string, unknown>;
}

/** The sample's settings (its .env): where the tenant is, where the app is, and the one client it uses for both. */
interface SampleEnv {
  ISSUER_BASE_URL: string;
  BASE_URL: string;
  CLIENT_ID: string;
  CLIENT_SECRET: string;
  APP_SESSION_SECRET: string;
}

/** The sample's Management API use: a client-credentials token for `${ISSUER_BASE_URL}/api/v2/`, cached, and JSON calls. */
function managementApi(env: SampleEnv) {
  let token: string | undefined;
  const call = async (method: string, path: string, body?: unknown) => {
    if (!token) {
      const res = await fetch(`${env.ISSUER_BASE_URL}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: env.CLIENT_ID,
          client_secret: env.CLIENT_SECRET,
          grant_type: 'client_credentials',
          audience: `${env.ISSUER_BASE_URL}/api/v2/`,
        }),
      });
      assert.equal(res.status, 200, `token: ${await res.clone().text()}`);
      token = ((await res.json()) as { access_token: string }).access_token;
    }
    const res = await fetch(`${env.ISSUER_BASE_URL}/api/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : null,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} /api/v2${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  return {
    getUser: (id: string) => call('GET', `/users/${id}`) as Promise<ManagedUser>,
    updateUser: (id: string, body: unknown) => call('PATCH', `/users/${id}`, body),
    usersWithSameVerifiedEmail: (sub: string, email: string) =>
      call('GET', `/users?${new URLSearchParams({ search_engine: 'v3', q: `email:"${email}" AND email_verified:true -user_id:"${sub}"` })}`) as Promise<
        ManagedUser[]
      >,
    link: (primaryId: string, idToken: string) => call('POST', `/users/${primaryId}/identities`, { link_with: idToken }),
    unlink: (primaryId: string, provider: string, userId: string) => call('DELETE', `/users/${primaryId}/identities/${provider}/${userId}`),
  };
}

const html = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

type SampleRequest = Request & {
  appSession: { claims: { sub: string; email: string; email_verified: boolean }; linking?: { targetUserId: string } };
  openid: { user: { sub: string; email: string; email_verified: boolean } };
  openidTokens: { id_token: string; claims(): { sub: string } };
};

/** The sample's pages, as forms a browser submits: the profile with its suggestions and identities, linking and unlinking. */
function sampleApp(env: SampleEnv): { app: express.Express; events: string[] } {
  const api = managementApi(env);
  const events: string[] = [];
  const app = express();
  app.use(
    auth({
      required: false,
      routes: false,
      auth0Logout: true,
      httpOptions: { timeout: 10_000 },
      issuerBaseURL: env.ISSUER_BASE_URL,
      baseURL: env.BASE_URL,
      clientID: env.CLIENT_ID,
      clientSecret: env.CLIENT_SECRET,
      appSession: { secret: env.APP_SESSION_SECRET },
    }),
  );
  app.use(express.urlencoded({ extended: false }));
  app.get('/login', (_req, res) => (res as unknown as { openid: { login(o: unknown): void } }).openid.login({ returnTo: '/user' }));
  app.get('/logout', (_req, res) => (res as unknown as { openid: { logout(): void } }).openid.logout());
  app.get('/', (_req, res) => {
    res.send('<h1>Account Linking Sample</h1><a href="/login">Log in</a>');
  });

  app.get('/user', requiresAuth(), async (req, res, next) => {
    const { sub, email, email_verified: verified } = (req as SampleRequest).openid.user;
    try {
      const [user, suggested] = await Promise.all([api.getUser(sub), verified ? api.usersWithSameVerifiedEmail(sub, email) : []]);
      res.send(`<img src="${html(user.picture)}" alt=""><h1>${html(user.email)}</h1><pre id="metadata">${html(JSON.stringify(user.user_metadata ?? {}))}</pre>
        ${suggested
          .map(
            (s) => `<form action="/link" method="post"><input type="hidden" name="connection" value="${html(s.identities[0]!.connection)}">
          <input type="hidden" name="email" value="${html(s.email)}"><input type="hidden" name="userid" value="${html(s.user_id)}"><button>Link ${html(s.user_id)}</button></form>`,
          )
          .join('')}
        <ul>${user.identities
          .slice(1)
          .map(
            (i) => `<li>${html(i.provider)}|${html(i.user_id)}<form action="/link/delete" method="post">
          <input type="hidden" name="provider" value="${html(i.provider)}"><input type="hidden" name="userId" value="${html(i.user_id)}"><button>Unlink</button></form></li>`,
          )
          .join('')}</ul>
        <a href="/logout">Log out</a>`);
    } catch (err) {
      next(err);
    }
  });

  const linkRouter = auth({
    required: false,
    routes: false,
    appSession: false,
    issuerBaseURL: env.ISSUER_BASE_URL,
    baseURL: `${env.BASE_URL}/link`,
    clientID: env.CLIENT_ID,
    clientSecret: env.CLIENT_SECRET,
    handleCallback: async (req: Request, _res: Response, next: NextFunction) => {
      const sample = req as SampleRequest;
      const target = sample.openidTokens.claims().sub;
      if (target !== sample.appSession.linking?.targetUserId) {
        events.push(`wrong account ${target}`);
        return next();
      }
      const primaryId = sample.appSession.claims.sub;
      try {
        const [primary, secondary] = await Promise.all([api.getUser(primaryId), api.getUser(target)]);
        await api.updateUser(primaryId, {
          user_metadata: { ...secondary.user_metadata, ...primary.user_metadata },
          app_metadata: { ...secondary.app_metadata, ...primary.app_metadata },
        });
        await api.link(primaryId, sample.openidTokens.id_token);
        events.push(`linked ${target}`);
      } catch (err) {
        events.push(`link failed: ${(err as Error).message}`);
      }
      next();
    },
  } as Parameters<typeof auth>[0]);
  app.use('/link', requiresAuth(), linkRouter);
  app.post('/link', (req, res) => {
    const sample = req as SampleRequest;
    const { connection, email, userid } = req.body as Record<string, string>;
    sample.appSession.linking = { targetUserId: userid! };
    (res as unknown as { openid: { login(o: unknown): void } }).openid.login({
      returnTo: '/user',
      authorizationParams: { max_age: 0, login_hint: email, connection },
    });
  });
  app.post('/link/delete', async (req, res) => {
    const { provider, userId } = req.body as Record<string, string>;
    try {
      await api.unlink((req as SampleRequest).appSession.claims.sub, provider!, userId!);
      events.push(`unlinked ${provider}|${userId}`);
    } catch (err) {
      events.push(`unlink failed: ${(err as Error).message}`);
    }
    res.redirect('/user');
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    events.push(`error: ${err.message}`);
    res.status(500).send(`<h1>Error</h1><p>${html(err.message)}</p>`);
  });
  return { app, events };
}

/**
 * The tenant answered with response_mode=form_post: a page whose script posts its form to the
 * callback (WebBrowser submits it as that script would).
 */
function assertPostedTo(b: WebBrowser, callback: string) {
  assert.ok(b.history.includes(`POST ${callback}`), `form_post to ${callback}:\n${b.history.slice(-6).join('\n')}`);
}

for (const db of testDatabases()) {
  describe(`Auth0's account-linking sample (express-openid-connect 1.x, implicit flow with form_post) [${db.label}]`, () => {
    let t: TestTenant;
    let sample: { app: express.Express; events: string[] };
    let env: SampleEnv;
    const servers: Server[] = [];
    let cleanup: (() => Promise<void>) | undefined;

    before(async () => {
      const [tenantPort, appPort] = [await freePort(), await freePort()];
      const tenantUrl = `http://127.0.0.1:${tenantPort}`;
      const baseUrl = `http://127.0.0.1:${appPort}`;
      const opened = await db.open();
      // As the sample's README sets it up: Allowed Logout URLs hold the app's URL, at the tenant
      // (its logout names no client) as on the application.
      t = await startTestTenant(opened.database, { url: tenantUrl, port: tenantPort, allowedLogoutUrls: [baseUrl, `${baseUrl}/`] });
      servers.push(
        await new Promise<Server>((resolve) => {
          const s = t.tenant.app.listen(tenantPort, '127.0.0.1', () => resolve(s));
        }),
      );
      // "Regular Web Application" with the Implicit, Authorization Code and Client Credentials
      // grants, read:users update:users, both callbacks, the app as logout URL.
      const client = await t.tenant.clients.create({
        name: 'Account Linking Sample',
        grantTypes: ['implicit', 'authorization_code', 'client_credentials'],
        scopes: ['read:users', 'update:users'],
        redirectUris: [`${baseUrl}/callback`, `${baseUrl}/link/callback`],
        postLogoutRedirectUris: [baseUrl],
      });
      env = {
        ISSUER_BASE_URL: tenantUrl,
        BASE_URL: baseUrl,
        CLIENT_ID: client.client_id,
        CLIENT_SECRET: client.client_secret,
        APP_SESSION_SECRET: randomBytes(24).toString('hex'),
      };
      sample = sampleApp(env);
      servers.push(
        await new Promise<Server>((resolve) => {
          const s = sample.app.listen(appPort, '127.0.0.1', () => resolve(s));
        }),
      );
      cleanup = opened.cleanup;
    });
    after(async () => {
      for (const s of servers)
        await new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        });
      await t?.close();
      await cleanup?.();
    });

    it('signs in, suggests the account with the same verified email, links it with link_with, unlinks it, and logs out back to the app', async () => {
      const email = uniqueEmail('sample');
      const password = await t.tenant.directory.createUser({ connection: DATABASE_CONNECTION, email, password: PASSWORD, email_verified: true }, SYSTEM_ACTOR);
      await t.tenant.directory.updateUser(password.user_id, { user_metadata: { theme: 'dark' } }, SYSTEM_ACTOR);
      const b = new WebBrowser({ [env.BASE_URL]: env.BASE_URL, [env.ISSUER_BASE_URL]: env.ISSUER_BASE_URL });

      // Sign in with the social account: the tenant's chooser, the demo IdP, the id_token posted back.
      await b.open(`${env.BASE_URL}/login`);
      assert.match(b.page.url, /\/login\/[^/]+$/, b.page.text.slice(0, 300));
      await b.open(`${b.page.url}/${DEMO_CONNECTION}`);
      await enterDemoIdentity(b, { email, name: 'Ada Lovelace' });
      assertPostedTo(b, `${env.BASE_URL}/callback`);
      assert.equal(b.page.url, `${env.BASE_URL}/user`, b.page.text.slice(0, 500));
      assert.equal(b.page.status, 200, b.page.text.slice(0, 500));
      const picture = /<img src="([^"]+)"/.exec(b.page.text)![1]!;
      assert.match(picture, new RegExp(`^${env.ISSUER_BASE_URL}/avatars/`), 'Auth0 gives every user a picture');
      assert.equal((await fetch(picture.replaceAll('&#38;', '&'))).status, 200);

      // The suggestion is the password account, found by the sample's v3 search.
      const suggestion = b.form('/link', { userid: password.user_id });
      assert.equal(suggestion.fields.connection, DATABASE_CONNECTION);
      assert.equal(suggestion.fields.email, email);

      // Link: re-authenticate as the suggested account (max_age=0, its connection, login_hint) at /link/callback.
      await b.submit('/link', {}, { where: { userid: password.user_id } });
      await enterPassword(b, email);
      assertPostedTo(b, `${env.BASE_URL}/link/callback`);
      assert.deepEqual(sample.events, [`linked ${password.user_id}`]);
      assert.equal(b.page.url, `${env.BASE_URL}/user`);
      const [provider, id] = password.user_id.split('|') as [string, string];
      assert.ok(b.form('/link/delete', { provider, userId: id }), 'the linked account is listed');
      assert.doesNotMatch(b.page.text, /action="\/link"/, 'nothing left to suggest');
      assert.match(b.page.text, /&#34;theme&#34;:&#34;dark&#34;/, "the secondary's metadata merged into the primary");

      // Unlink.
      await b.submit('/link/delete', {}, { where: { provider, userId: id } });
      assert.equal(sample.events.at(-1), `unlinked ${password.user_id}`);
      assert.equal(b.page.url, `${env.BASE_URL}/user`);
      assert.ok(b.form('/link', { userid: password.user_id }), 'suggested again once unlinked');

      // Logout: the advertised end_session_endpoint with neither client_id nor id_token_hint,
      // back to the app through the tenant's Allowed Logout URLs.
      await b.open(`${env.BASE_URL}/logout`);
      const logoutRequest = b.history.find((h) => h.includes('/oidc/logout?'))!;
      assert.ok(logoutRequest, b.history.join('\n'));
      assert.doesNotMatch(logoutRequest, /client_id|id_token_hint/);
      assert.equal(new URL(b.page.url).origin, env.BASE_URL, b.history.slice(-3).join('\n'));
      assert.match(b.page.text, /Account Linking Sample/);
      await b.open(`${env.BASE_URL}/user`);
      assert.match(b.page.url, new RegExp(`^${env.ISSUER_BASE_URL}/login/`), 'signed out at the app and at the tenant: a sign-in page again');
    });
  });
}
