import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import { Passport } from 'passport';
import { databaseAnswers, healthRoutes, Readiness } from '../platform/health.ts';
import { onlyUnder } from '../platform/only-under.ts';
import type { Logger } from '../platform/logger.ts';
import { ejsViewEngine } from '../platform/view-engine.ts';
import type { AppConfig } from './app-config.ts';
import { openAppDatabase, type AppDatabase } from './app-database.ts';
import { migrateApp } from './migrations/app-migrations.ts';
import { authRoutes } from './auth/auth-routes.ts';
import { BACKCHANNEL_LOGOUT_PATH, backchannelLogoutRoute } from './auth/backchannel-logout-route.ts';
import { LogoutTokenVerifier } from './auth/logout-tokens.ts';
import { connectToTenant } from './auth/tenant-oidc.ts';
import { AccountLinker } from './linking/account-linker.ts';
import { CandidateFinder, SuggestionCheck } from './linking/candidates.ts';
import { KeptSeparate } from './linking/kept-separate.ts';
import { linkAttemptStore } from './linking/link-attempt-limit.ts';
import { linkingRoutes } from './linking/linking-routes.ts';
import { loadMergeStrategy } from './linking/merge-strategies.ts';
import { ManagementClient } from './management/management-client.ts';
import { profileRoutes } from './profile/profile-routes.ts';
import { createSessionStore } from './sessions/create-session-store.ts';
import { sessionMiddleware, whileRedisConnected } from './sessions/session-middleware.ts';
import { csrfProtection } from './web/csrf.ts';
import { errorPage, notFound } from './web/http-errors.ts';
import { pageLocals, showFlashOnRender } from './web/page-locals.ts';
import { securityHeaders } from './web/security-headers.ts';
import './web/session-data.ts';

export interface AccordApp {
  app: Express;
  config: AppConfig;
  management: ManagementClient;
  /** What /readyz says besides its dependencies: `drain()` at shutdown turns it false. */
  readiness: Readiness;
  close(): Promise<void>;
}

export interface CreateAppOptions {
  config: AppConfig;
  logger: Logger;
  /** An open app database (tests pass one); otherwise opened from the config. */
  database?: AppDatabase;
}

const publicDir = fileURLToPath(new URL('../../public', import.meta.url));
const viewsDir = fileURLToPath(new URL('../../views', import.meta.url));

/**
 * The account-linking web app: an OpenID relying party of the tenant and a Management API
 * client. It reaches the tenant only over HTTP, as it would reach Auth0.
 */
export async function createApp(options: CreateAppOptions): Promise<AccordApp> {
  const { config, logger } = options;
  for (const warning of config.warnings) logger.warn(warning);
  const database =
    options.database ?? openAppDatabase({ databaseUrl: config.databaseUrl, sqliteFile: config.sqliteFile, timeouts: config.databaseTimeouts, logger });
  await migrateApp(database);
  const sessions = await createSessionStore({
    redisUrl: config.redisUrl,
    redisKeyPrefix: config.redisPrefix,
    redisTimeouts: config.redisTimeouts,
    database,
    logger,
    sessionTtlMs: config.sessionTtlSeconds * 1000,
  });
  const mergeStrategy = await loadMergeStrategy(config.mergeStrategy);
  const management = new ManagementClient({
    issuer: config.issuer,
    audience: config.management.audience,
    clientId: config.management.clientId,
    clientSecret: config.management.clientSecret,
    timeoutMs: config.tenantTimeoutMs,
    readCacheTtlMs: config.managementCacheTtlMs,
  });
  const oidc = await connectToTenant({
    issuer: config.issuer,
    appUrl: config.url,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    clientAuthMethod: config.clientAuthMethod,
    timeoutMs: config.tenantTimeoutMs,
  });
  const logoutTokens = new LogoutTokenVerifier({ ...oidc.logoutTokens, clientId: config.clientId, claims: sessions.claims });
  const keptSeparate = new KeptSeparate(database.db);
  const finder = new CandidateFinder(management, keptSeparate);
  const linker = new AccountLinker(management, mergeStrategy);
  const suggestions = config.suggestions ? new SuggestionCheck(finder, logger) : undefined;

  const passport = new Passport();
  passport.use(oidc.loginStrategy);
  passport.use(oidc.linkStrategy);
  passport.serializeUser((user, done) => done(null, user));
  passport.deserializeUser((user: Express.User, done) => done(null, user));

  const app = express();
  app.disable('x-powered-by');
  // Every page is personal and rendered anew: a body hash (ETag) per response would never be reused.
  app.disable('etag');
  app.set('trust proxy', config.trustProxy);
  app.set('views', viewsDir);
  app.engine('ejs', ejsViewEngine(viewsDir));
  app.set('view engine', 'ejs');
  // Compiled templates are reused except in development (Express would decide from NODE_ENV alone).
  app.set('view cache', config.env !== 'development');
  app.locals.appName = config.name;
  showFlashOnRender(app);
  app.use(securityHeaders(new URL(config.issuer).origin));
  const readiness = new Readiness();
  // Each router at the root is entered only for its own paths (onlyUnder), not walked by every
  // page. A route added to one of these routers must sit under the prefixes given here.
  app.use(
    onlyUnder(
      ['/healthz', '/readyz'],
      healthRoutes({
        readiness,
        checks: {
          database: databaseAnswers(database),
          ...(sessions.pingRedis ? { redis: sessions.pingRedis } : {}),
          tenant: tenantAnswers(config.issuer, config.tenantTimeoutMs),
        },
      }),
    ),
  );
  // Mounted at /css only: a static lookup in front of every page costs a file-system miss each time.
  app.use('/css', express.static(join(publicDir, 'css'), { index: false, maxAge: '1h' }));
  app.use(express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 }));
  // Server to server, before the session and the browser's CSRF check: the tenant has neither a
  // cookie nor a form token, and its signed logout token is the proof.
  if (sessions.redisConnected) app.use(whileRedisConnected(sessions.redisConnected));
  app.use(onlyUnder([BACKCHANNEL_LOGOUT_PATH], backchannelLogoutRoute({ verifier: logoutTokens, sessions: sessions.store, claims: sessions.claims, logger })));
  app.use(
    sessionMiddleware({
      secret: config.sessionSecret,
      store: sessions.store,
      secure: config.url.startsWith('https://'),
      // Unset: express-session asks Express (req.secure), which follows `trust proxy` above.
      proxy: undefined,
      ttlSeconds: config.sessionTtlSeconds,
    }),
  );
  // No passport.initialize(): since passport 0.6, session() sets up everything it did on `req`
  // (it only adds an object kept for strategies written for passport 0.4).
  app.use(passport.session());
  app.use(csrfProtection(new URL(config.url).origin, config.sessionSecret));
  app.use(pageLocals);

  app.use(
    onlyUnder(
      ['/login', '/callback', '/logout'],
      authRoutes({
        passport,
        oidc,
        appUrl: config.url,
        recentLoginMaxAge: config.recentLoginMaxAge,
        onSignIn: suggestions && ((req, _user, returnTo) => suggestions.afterSignIn(req, returnTo)),
      }),
    ),
  );
  if (suggestions) app.use(suggestions.middleware());
  app.get('/', (req, res) => {
    if (req.user) return res.redirect(303, '/profile');
    res.render('app/home', { title: 'Sign in', ended: req.query.ended === '1' });
  });
  // Under its prefix, so other pages do not walk its routes.
  app.use(
    '/link',
    linkingRoutes({
      passport,
      management,
      finder,
      keptSeparate,
      linker,
      claims: sessions.claims,
      linkMaxAge: config.linkMaxAge,
      recentLoginMaxAge: config.recentLoginMaxAge,
      linkAttemptsPer15Min: config.linkAttemptsPer15Min,
      linkAttemptStore: linkAttemptStore({
        redis: sessions.redis && { client: sessions.redis, prefix: `${config.redisPrefix}rl:link-attempts:` },
        database,
      }),
    }),
  );
  app.use(
    onlyUnder(
      ['/profile'],
      profileRoutes({
        management,
        finder,
        keptSeparate,
        suggestions,
        recentLoginMaxAge: config.recentLoginMaxAge,
        restoreMetadataOnUnlink: config.restoreMetadataOnUnlink,
      }),
    ),
  );
  app.use(notFound);
  app.use(errorPage(logger));

  return {
    app,
    config,
    management,
    readiness,
    async close() {
      await sessions.close();
      if (!options.database) await database.close();
    },
  };
}

/** The tenant answers its discovery document (as it does for Auth0: the issuer's own URL). */
function tenantAnswers(issuer: string, timeoutMs: number): () => Promise<void> {
  return async () => {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`the tenant answered ${res.status}`);
  };
}
