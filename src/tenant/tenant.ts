import express, { Router, type Express } from 'express';
import helmet from 'helmet';
import type Provider from 'oidc-provider';
import { fileURLToPath } from 'node:url';
import type { TenantConfig } from './tenant-config.ts';
import { openTenantDatabase, type Database } from './tenant-database.ts';
import { isDependencyError, RETRY_AFTER_SECONDS } from '../platform/dependency-errors.ts';
import { tenantErrors } from './tenant-errors.ts';
import { databaseAnswers, healthRoutes, Readiness } from '../platform/health.ts';
import { type Handler, onlyUnder, routersUnder } from '../platform/only-under.ts';
import { replayHeaders } from '../platform/static-headers.ts';
import { ejsViewEngine } from '../platform/view-engine.ts';
import type { Logger } from '../platform/logger.ts';
import { migrateTenant } from './migrations/tenant-migrations.ts';
import { AVATARS_PATH, avatarRoute, profileDefaults } from './avatars.ts';
import { ClientRegistry } from './clients/client-registry.ts';
import { ConnectionRegistry } from './connections.ts';
import { databaseAccountRoutes } from './connections/database/account-routes.ts';
import { databaseConnection } from './connections/database/database-connection.ts';
import { passwordlessConnection } from './connections/passwordless/passwordless-connection.ts';
import { createDemoIdp, DEMO_IDP_PATH } from './connections/oidc/demo-idp.ts';
import { oidcConnection, upstreamCallbackRoutes, useInProcessFetch } from './connections/oidc/oidc-connection.ts';
import { Directory } from './directory/directory.ts';
import { linkWithVerifier } from './management/link-with.ts';
import { managementRateLimiter } from './management/management-rate-limit.ts';
import { managementRouter } from './management/router.ts';
import { managementRoutes } from './management/routes.ts';
import { loadTenantKeys, type TenantKeys } from './oidc/keys.ts';
import { createOidcProvider, issuerOf, managementAudience } from './oidc/provider.ts';
import { auth0LogoutRoute, END_SESSION_PATH, tenantLogoutUrls } from './oidc/logout.ts';
import { auth0TokenRequest } from './oidc/token-request.ts';
import { refuseBareToken } from './oidc/response-types.ts';
import { OidcPayloadPruner } from './oidc/payload-pruner.ts';
import { cacheablePublicMetadata, publishAtTenantUrl } from './oidc/published-urls.ts';
import { webOriginPreflight } from './oidc/web-origins.ts';
import { storeNoRequestContext } from './oidc/request-context.ts';
import { BackchannelLogout } from './oidc/backchannel-logout.ts';
import { AccountSessions } from './oidc/revoke-sessions.ts';
import { CsrfTokens } from './login/csrf.ts';
import { interactionRouter, straightToNamedConnection } from './login/interaction-router.ts';
import type { ConnectionStrategy } from './login/login-environment.ts';
import { LoginPipeline } from './login/login-pipeline.ts';
import { finalErrorHandler } from './error-pages.ts';
import { devMailRoutes } from './mail/dev-mail-routes.ts';
import { subscribeIdentityNotifications } from './mail/identity-notifications.ts';
import { OutboxMailer, SmtpMailer, type Mailer } from './mail/mailer.ts';

export interface Tenant {
  app: Express;
  config: TenantConfig;
  database: Database;
  directory: Directory;
  clients: ClientRegistry;
  keys: TenantKeys;
  provider: Provider;
  mailer: Mailer;
  /** Sends back-channel logout tokens; `settled()` waits for the deliveries under way. */
  backchannelLogout: BackchannelLogout;
  /** What /readyz says besides its database: `drain()` at shutdown turns it false. */
  readiness: Readiness;
  close(): Promise<void>;
}

/** How often expired sessions, grants, codes and tokens of the OpenID Provider are deleted. */
const PRUNE_INTERVAL_MS = 10 * 60_000;
const cssDir = fileURLToPath(new URL('../../public/css', import.meta.url));
const viewsDir = fileURLToPath(new URL('../../views', import.meta.url));

/** The sign-in methods the tenant offers, by connection strategy. */
const STRATEGIES: ConnectionStrategy[] = [databaseConnection, passwordlessConnection, oidcConnection];

/**
 * Builds the tenant: database (migrated), keys, directory, OpenID Provider and Management
 * API on one Express app. Pass `database` to reuse an open one (tests do).
 */
export async function createTenant(options: { config: TenantConfig; logger: Logger; database?: Database }): Promise<Tenant> {
  const { config, logger } = options;
  const database =
    options.database ?? openTenantDatabase({ databaseUrl: config.databaseUrl, sqliteFile: config.sqliteFile, timeouts: config.databaseTimeouts, logger });
  await migrateTenant(database);
  const keys = await loadTenantKeys(database.db);
  // Before any OpenID Provider (the tenant's, the demo IdP's) serves a request.
  storeNoRequestContext();
  // The demo IdP's connection replaces a listed `demo-social` (keeping its linking policy and trust).
  const demoIdp = config.demoIdp ? await createDemoIdp({ config, database }) : undefined;
  const connections = new ConnectionRegistry(
    demoIdp ? [...config.connections.filter((c) => c.name !== demoIdp.connection.name), demoIdp.connection] : config.connections,
  );
  if (demoIdp) useInProcessFetch(connections.byName(demoIdp.connection.name)!, demoIdp.fetch);
  const directory = new Directory(database, connections);
  const clients = new ClientRegistry(database.db, database);
  const backchannelLogout = new BackchannelLogout({ issuer: issuerOf(config.url), signingKey: keys.signing[0]!, clients, logger });
  const accountSessions = new AccountSessions(database, backchannelLogout);
  // A linked secondary keeps nothing it held as a user of its own: its sessions and grants end.
  directory.onIdentityChange(async (change) => {
    if (change.type === 'identity.linked') await accountSessions.end(change.secondaryId);
  });
  // A blocked or deleted user is signed out everywhere, at the tenant and at every client.
  directory.onAccountChange(async (change) => {
    await accountSessions.end(change.userId);
  });
  const pruner = new OidcPayloadPruner(database, logger);
  pruner.start(PRUNE_INTERVAL_MS);
  const provider = createOidcProvider({ config, database, keys, clients, directory, backchannelLogout });
  const tenantLogout = tenantLogoutUrls(config.allowedLogoutUrls ?? [], config.url.startsWith('https:'));
  provider.use(tenantLogout.returnToTenantLogoutUrl);
  provider.use(straightToNamedConnection(connections));
  provider.on('server_error', (ctx, err) => {
    if (!isDependencyError(err)) return void logger.error({ err }, 'oidc-provider server error');
    // A database outage (logged once by the pool) is a 503 the client may retry, not a server
    // error: the token endpoint's JSON says so in OAuth's words; pages are set by renderError.
    ctx.status = 503;
    ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
    const body = ctx.body as { error?: unknown } | undefined;
    if (body && typeof body === 'object' && body.error === 'server_error') {
      ctx.body = { error: 'temporarily_unavailable', error_description: tenantErrors.definitions.temporarily_unavailable.message };
    }
  });

  const mailer: Mailer = config.mail.transport === 'smtp' ? new SmtpMailer(config.mail.smtpUrl!, config.mail.from) : new OutboxMailer(database);
  subscribeIdentityNotifications({ directory, connections, mailer, tenantName: config.name, logger });

  const app = express();
  app.set('views', viewsDir);
  app.engine('ejs', ejsViewEngine(viewsDir));
  app.set('view engine', 'ejs');
  // Compiled pages are reused except in development, as in the app: Express would decide from
  // NODE_ENV alone, and a tenant configured for test or production without it compiled every
  // page (read, include, EJS compile) on every render.
  app.set('view cache', config.env !== 'development');
  app.locals.tenantName = config.name;
  app.disable('x-powered-by');
  // Every response is dynamic and most are no-store: a body hash per response would cost CPU
  // on every call and buy nothing. Static files keep serve-static's own ETags.
  app.disable('etag');
  // Whose X-Forwarded-For is the client's address (rate limits): only the proxies TRUST_PROXY names.
  app.set('trust proxy', config.trustProxy);
  // Request lines are debug-level: without debug, no per-request listener at all.
  if (logger.isLevelEnabled('debug')) {
    app.use((req, res, next) => {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        // Paths only: query strings may carry emails or hints, headers carry tokens.
        logger.debug({ method: req.method, path: req.path, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request');
      });
      next();
    });
  }

  const managementLimit = managementRateLimiter(database, config.managementRateLimitPerMinute, logger);
  const managementApi = managementRouter({
    routes: managementRoutes({
      directory,
      connections,
      verifyLinkWith: linkWithVerifier(keys.signing),
      shown: profileDefaults(config.url),
    }),
    issuer: config.url,
    audience: managementAudience(config.url),
    keys: keys.signing,
    rateLimitPerMinute: config.managementRateLimitPerMinute,
    perClient: managementLimit.limiter,
    webOrigins: clients,
    logger,
  });
  // The API answers JSON only, so it skips helmet's page policies (CSP, framing, COOP…):
  // ~15 headers per call on the hottest path. It still forbids MIME sniffing and caching.
  // First of the root's layers, in one: no other layer serves a path under /api/v2.
  app.use('/api/v2', (req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    managementApi(req, res, next);
  });
  // After the API, which publishes no URL built from a request (its issuer and audience are
  // TENANT_URL's): rewriting the headers of its every call bought nothing.
  app.use(publishAtTenantUrl(config.url));

  const readiness = new Readiness();
  // Each router at the root is entered only for its own paths (onlyUnder, routersUnder), and
  // consecutive ones sit behind one test: most requests are oidc-provider's and pass them all.
  // A route added to one of these routers must sit under the prefixes given here.
  app.use(
    routersUnder([
      [['/healthz', '/readyz'], healthRoutes({ readiness, checks: { database: databaseAnswers(database) } })],
      [[AVATARS_PATH], avatarRoute()],
    ]),
  );
  app.use(cacheablePublicMetadata());
  const oidc = provider.callback();
  app.post('/oauth/token', ...auth0TokenRequest(clients, oidc));
  // Helmet's headers are fixed, so they are computed once (replayHeaders).
  app.use(
    replayHeaders(
      helmet({
        // No form-action: a finished sign-in form redirects to the client's redirect_uri, on its own origin.
        contentSecurityPolicy: { directives: { 'frame-ancestors': ["'none'"], 'form-action': null } },
        frameguard: { action: 'deny' },
      }),
    ),
  );
  // A sign-in in a popup (Auth0's loginWithPopup) answers its opener by postMessage: the
  // sign-in's pages must not cut the popup off from it, as Cross-Origin-Opener-Policy:
  // same-origin does. Every other page keeps it.
  app.use(
    onlyUnder(['/authorize', '/login'], (_req, res, next) => {
      res.removeHeader('Cross-Origin-Opener-Policy');
      next();
    }),
  );
  // The tenant's own pages, behind one test. No path is under both one of their prefixes and
  // END_SESSION_PATH, /authorize or a CORS path of webOriginPreflight, so they may come before
  // those layers; of their own prefixes only /login/callback lies under another, and stays first.
  const pages: Array<[string[], Handler]> = [
    [['/login/callback'], upstreamCallbackRoutes({ config, connections })],
    [
      ['/login'],
      interactionRouter(
        {
          config,
          database,
          provider,
          directory,
          connections,
          mailer,
          logger,
          pipeline: new LoginPipeline(directory),
          csrf: new CsrfTokens(keys.cookies[0]!),
        },
        STRATEGIES,
      ),
    ],
    // Mounted at /css only: serve-static stat()s the path of every request it sees, a
    // file-system miss in front of every sign-in page.
    [['/css'], Router().use('/css', express.static(cssDir, { index: false, maxAge: '1h' }))],
    [['/account'], databaseAccountRoutes({ config, database, directory, mailer, logger, accountSessions, clients, csrf: new CsrfTokens(keys.cookies[0]!) })],
    [['/v2/logout'], auth0LogoutRoute(clients, config.allowedLogoutUrls)],
  ];
  if (mailer instanceof OutboxMailer) pages.push([['/dev/mail', '/dev/mail.json'], devMailRoutes(mailer)]);
  if (demoIdp) pages.push([[DEMO_IDP_PATH], Router().use(DEMO_IDP_PATH, demoIdp.router)]);
  app.use(routersUnder(pages));
  app.get(END_SESSION_PATH, tenantLogout.remember);
  app.use(onlyUnder(['/authorize'], refuseBareToken()));
  app.use(webOriginPreflight(clients));
  app.use(oidc);
  app.use(finalErrorHandler({ logger, tenantName: config.name }));

  return {
    app,
    config,
    database,
    directory,
    clients,
    keys,
    provider,
    mailer,
    backchannelLogout,
    readiness,
    close: async () => {
      await pruner.stop();
      await managementLimit.close();
      backchannelLogout.close();
      if (!options.database) await database.close();
    },
  };
}
