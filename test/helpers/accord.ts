import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { after, before } from 'node:test';
import { createClient } from 'redis';
import { loadAppConfig, type AppConfig } from '../../src/app/app-config.ts';
import { createApp, type AccordApp } from '../../src/app/app.ts';
import type { TenantConfig } from '../../src/tenant/tenant-config.ts';
import { wireEmbeddedApp } from '../../src/embedded-wiring.ts';
import { createLogger, type Logger } from '../../src/platform/logger.ts';
import { createTenant, type Tenant } from '../../src/tenant/tenant.ts';
import type { StoredMail } from '../../src/tenant/mail/mailer.ts';
import { adminApi, type AdminApi } from './admin-api.ts';
import type { OpenedAppDatabase, TestAppDatabase } from './app-databases.ts';
import type { TestDatabase } from './databases.ts';
import { freePort } from './processes.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';
import { testConfig } from './tenant.ts';
import { WebBrowser, type Page } from './web-browser.ts';

/** The app's public URL in tests that serve it in-process: never listened on. */
export const APP_URL = 'http://127.0.0.1:3999';
export const PASSWORD = 'Correct-horse-9';
export const DATABASE_CONNECTION = 'Username-Password-Authentication';

export interface TestAccord {
  tenant: Tenant;
  tenantUrl: string;
  /** APP_URL, or with `listen` the URL the app listens on. */
  appUrl: string;
  app: AccordApp;
  appConfig: AppConfig;
  /** With `tenantProxy`: the proxy the tenant is reached through, to cut it. */
  tenantProxy?: TcpProxy;
  /** The app's own database (sessions, unless in Redis). */
  appDatabase: OpenedAppDatabase['database'];
  browser(): WebBrowser;
  /** The tenant's Management API, as an administrator. */
  admin: AdminApi;
  /** The tenant's view of a user, through its Management API (as the app sees it). */
  user(userId: string): Promise<{
    user_id: string;
    identities: { provider: string; user_id: string; connection: string }[];
    user_metadata?: Record<string, unknown>;
    app_metadata?: Record<string, unknown>;
    email_verified?: boolean;
  }>;
  usersByEmail(email: string): Promise<{ user_id: string }[]>;
  mailTo(email: string, subject: RegExp): Promise<StoredMail>;
  close(): Promise<void>;
}

/**
 * Accord as `npm start` runs it, in-process: the tenant listening on a free port of
 * 127.0.0.1 (the app reaches it over HTTP, as it would reach Auth0), the app wired to it.
 */
export async function startTestAccord(options: {
  tenantDatabase: Awaited<ReturnType<TestDatabase['open']>>['database'];
  appDatabase: OpenedAppDatabase['database'];
  tenant?: Partial<TenantConfig>;
  env?: Record<string, string>;
  /** Where both halves log (e.g. to assert what is logged); silent by default. */
  logger?: Logger;
  /** Serve the app on a free port of 127.0.0.1 too, for a real browser; that URL is then its APP_URL. */
  listen?: boolean;
  /** With REDIS_URL in `env`: the app's REDIS_PREFIX, whose keys are deleted at close. */
  redisKeyPrefix?: string;
  /** Reach the tenant (its URL, the issuer) through a TCP proxy the test controls. */
  tenantProxy?: boolean;
}): Promise<TestAccord> {
  const port = await freePort();
  const appPort = options.listen ? await freePort() : undefined;
  const appUrl = appPort ? `http://127.0.0.1:${appPort}` : APP_URL;
  const tenantProxy = options.tenantProxy ? await startTcpProxy({ host: '127.0.0.1', port }) : undefined;
  const tenantUrl = `http://127.0.0.1:${tenantProxy?.port ?? port}`;
  const tenant = await createTenant({
    config: testConfig({ url: tenantUrl, port, ...options.tenant }),
    logger: options.logger?.child({ half: 'tenant' }) ?? createLogger('silent'),
    database: options.tenantDatabase,
  });
  const server: Server = await new Promise((resolve) => {
    const s = tenant.app.listen(port, '127.0.0.1', () => resolve(s));
  });
  const wiring = await wireEmbeddedApp(tenant, appUrl);
  const appConfig = loadAppConfig(
    {
      NODE_ENV: 'test',
      APP_URL: appUrl,
      SESSION_SECRET: randomBytes(32).toString('base64url'),
      DATA_DIR: '/tmp',
      // Tests change the tenant behind the app's back (other browsers, the Management API) and
      // look at the next page at once; the read cache has its own tests.
      MANAGEMENT_CACHE_TTL: '0',
      ...options.env,
      ...(options.redisKeyPrefix ? { REDIS_PREFIX: options.redisKeyPrefix } : {}),
    },
    wiring,
  );
  const app = await createApp({
    config: appConfig,
    logger: options.logger?.child({ half: 'app' }) ?? createLogger('silent'),
    database: options.appDatabase,
  });
  const appServer: Server | undefined =
    appPort === undefined
      ? undefined
      : await new Promise((resolve) => {
          const s = app.app.listen(appPort, '127.0.0.1', () => resolve(s));
        });

  const admin = adminApi(tenant, tenantUrl);
  const read = async (path: string) => {
    const res = await admin('GET', path);
    assert.equal(res.status, 200, `GET /api/v2${path}: ${res.status}`);
    return res.body;
  };

  return {
    tenant,
    tenantUrl,
    appUrl,
    ...(tenantProxy ? { tenantProxy } : {}),
    app,
    appConfig,
    appDatabase: options.appDatabase,
    // The tenant is reached on its real port: oidc-provider builds redirects from the Host it is called on.
    browser: () => new WebBrowser({ [appUrl]: appServer ? appUrl : app.app, [tenantUrl]: tenantUrl }),
    admin,
    user: (id) => read(`/users/${encodeURIComponent(id)}`) as ReturnType<TestAccord['user']>,
    usersByEmail: (email) => read(`/users-by-email?email=${encodeURIComponent(email)}`) as ReturnType<TestAccord['usersByEmail']>,
    async mailTo(email, subject) {
      const deadline = Date.now() + 3000;
      for (;;) {
        const res = await fetch(`${tenantUrl}/dev/mail.json`);
        const found = ((await res.json()) as StoredMail[]).find((m) => m.to === email && subject.test(m.subject));
        if (found) return found;
        assert.ok(Date.now() < deadline, `no mail "${subject}" to ${email}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      for (const s of appServer ? [appServer, server] : [server]) {
        await new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        });
      }
      await tenantProxy?.close();
      await app.close();
      await tenant.close();
      if (options.redisKeyPrefix && appConfig.redisUrl) {
        const redis = createClient({ url: appConfig.redisUrl });
        await redis.connect();
        for await (const keys of redis.scanIterator({ MATCH: `${options.redisKeyPrefix}*`, COUNT: 100 })) if (keys.length > 0) await redis.del(keys);
        await redis.close();
      }
    },
  };
}

/** Registers before/after hooks that start Accord on fresh databases for a suite. */
export function accordPerSuite(
  db: TestDatabase,
  appDb: TestAppDatabase,
  onStart: (accord: TestAccord) => void,
  options: { tenant?: Partial<TenantConfig>; env?: Record<string, string>; logger?: Logger; listen?: boolean; redisKeyPrefix?: string } = {},
): void {
  let cleanup: (() => Promise<void>) | undefined;
  before(async () => {
    const tenantDb = await db.open();
    const appDatabase = await appDb.open();
    const accord = await startTestAccord({ tenantDatabase: tenantDb.database, appDatabase: appDatabase.database, ...options });
    cleanup = async () => {
      await accord.close();
      await appDatabase.cleanup();
      await tenantDb.cleanup();
    };
    onStart(accord);
  });
  after(async () => {
    await cleanup?.();
  });
}

// ——— What a person does at the tenant's pages (the browser is on the connection's page) ———

/** On the database connection's sign-in page: signs in with email and password. */
export async function enterPassword(b: WebBrowser, email: string, password = PASSWORD): Promise<Page> {
  assert.match(b.page.url, new RegExp(`/login/[^/]+/${DATABASE_CONNECTION}`), `expected the password page, at ${b.page.url}`);
  return b.submit(/\/Username-Password-Authentication$/, { email, password });
}

/** On the database connection's sign-in page: goes to sign-up and creates the account. */
export async function signUpHere(b: WebBrowser, email: string, password = PASSWORD): Promise<Page> {
  const base = new URL(b.page.url).pathname.replace(/\/signup$/, '');
  await b.open(`${base}/signup`);
  return b.submit(/\/signup$/, { email, password });
}

/**
 * On the database connection's sign-in page: creates the account, then signs in with it from
 * the "Check your email" page (sign-up alone signs no one in: docs/security.md case 39).
 */
export async function signUpAndSignIn(b: WebBrowser, email: string, password = PASSWORD): Promise<Page> {
  const base = new URL(b.page.url).pathname.replace(/\/signup$/, '');
  const checkMail = await signUpHere(b, email, password);
  assert.match(checkMail.text, /Check your email/, checkMail.text.slice(0, 500));
  await b.open(`${base}?login_hint=${encodeURIComponent(email)}`);
  return enterPassword(b, email, password);
}

/** On the demo IdP's page: signs in as this person. */
export async function enterDemoIdentity(b: WebBrowser, person: { email: string; name?: string; verified?: boolean }): Promise<Page> {
  assert.match(b.page.url, /\/demo-idp\/interaction\//, `expected the demo IdP, at ${b.page.url}`);
  return b.submit(
    /\/demo-idp\/interaction\//,
    {
      action: 'login',
      email: person.email,
      name: person.name ?? 'Ada Lovelace',
      ...(person.verified === false ? {} : { email_verified: 'on' }),
    },
    { where: {} },
  );
}

/** On the email-code page: asks for a code, reads it from the outbox and enters it. */
export async function enterEmailCode(b: WebBrowser, accord: TestAccord, email: string): Promise<Page> {
  const sentAt = Date.now();
  await b.submit(/\/email$/, { email });
  assert.match(b.page.text, /6-digit code/, b.page.text.slice(0, 500));
  let code: string | undefined;
  const deadline = Date.now() + 3000;
  while (!code) {
    const mails = (await (await fetch(`${accord.tenantUrl}/dev/mail.json`)).json()) as StoredMail[];
    const mail = mails.find((m) => m.to === email && Date.parse(m.created_at) >= sentAt - 1000 && /^\s+(\d{6})\s*$/m.test(m.text));
    code = mail ? /^\s+(\d{6})\s*$/m.exec(mail.text)![1] : undefined;
    if (!code) {
      assert.ok(Date.now() < deadline, `no code mailed to ${email}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return b.submit(/\/email\/code$/, { code });
}

/** Starts the app's sign-in with a connection; the browser ends on that connection's page. */
export function startSignIn(b: WebBrowser, connection: string, appUrl = APP_URL): Promise<Page> {
  return b.open(`${appUrl}/login?connection=${encodeURIComponent(connection)}`);
}

/** A password account with a verified email, signed out at the end (the browser is discarded). */
export async function createVerifiedPasswordAccount(accord: TestAccord, email: string): Promise<void> {
  const b = accord.browser();
  await startSignIn(b, DATABASE_CONNECTION, accord.appUrl);
  await signUpHere(b, email);
  const mail = await accord.mailTo(email, /verify|confirm/i);
  const link = /https?:\/\/\S+verify\S*/.exec(mail.text)?.[0];
  assert.ok(link, 'the verification mail has a link');
  const page = await b.open(link);
  assert.equal(page.status, 200, page.text.slice(0, 300));
}
