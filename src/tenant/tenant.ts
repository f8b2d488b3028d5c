import express, { type Express } from 'express';
import helmet from 'helmet';
import type Provider from 'oidc-provider';
import { fileURLToPath } from 'node:url';
import type { TenantConfig } from '../config.ts';
import { openDatabase, type Database } from '../platform/database.ts';
import type { Logger } from '../platform/logger.ts';
import { migrateToLatest } from '../platform/migrations.ts';
import { ClientRegistry } from './clients/client-registry.ts';
import { ConnectionRegistry } from './connections.ts';
import { Directory } from './directory/directory.ts';
import { linkWithVerifier } from './management/link-with.ts';
import { managementRouter } from './management/router.ts';
import { managementRoutes } from './management/routes.ts';
import { loadTenantKeys, type TenantKeys } from './oidc/keys.ts';
import { createOidcProvider, managementAudience } from './oidc/provider.ts';
import { auth0TokenRequest } from './oidc/token-request.ts';

export interface Tenant {
  app: Express;
  config: TenantConfig;
  database: Database;
  directory: Directory;
  clients: ClientRegistry;
  keys: TenantKeys;
  provider: Provider;
  close(): Promise<void>;
}

const publicDir = fileURLToPath(new URL('../../public', import.meta.url));

/**
 * Builds the tenant: database (migrated), keys, directory, OpenID Provider and Management
 * API on one Express app. Pass `database` to reuse an open one (tests do).
 */
export async function createTenant(options: { config: TenantConfig; logger: Logger; database?: Database }): Promise<Tenant> {
  const { config, logger } = options;
  const database = options.database ?? openDatabase({ databaseUrl: config.databaseUrl, sqliteFile: config.sqliteFile });
  await migrateToLatest(database);
  const keys = await loadTenantKeys(database.db);
  const connections = new ConnectionRegistry(config.connections);
  const directory = new Directory(database, connections);
  const clients = new ClientRegistry(database.db);
  const provider = createOidcProvider({ config, database, keys, clients, directory });
  provider.on('server_error', (_ctx, err) => logger.error({ err }, 'oidc-provider server error'));

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(helmet({
    contentSecurityPolicy: { directives: { 'frame-ancestors': ["'none'"], 'form-action': ["'self'"] } },
    frameguard: { action: 'deny' },
  }));
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      // Paths only: query strings may carry emails or hints, headers carry tokens.
      logger.debug({ method: req.method, path: req.path, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request');
    });
    next();
  });

  app.get('/health', (_req, res) => { res.json({ status: 'ok' }); });
  const oidc = provider.callback();
  app.post('/oauth/token', ...auth0TokenRequest(clients, oidc));
  app.use('/api/v2', managementRouter({
    routes: managementRoutes({ directory, connections, verifyLinkWith: linkWithVerifier(keys.signing) }),
    issuer: config.url,
    audience: managementAudience(config.url),
    keys: keys.signing,
    rateLimitPerMinute: config.managementRateLimitPerMinute,
    logger,
  }));
  // After the API: serve-static stat()s the path of every request it sees (~5% of the CPU of
  // a users-by-email call), and the API answers every /api/v2 path itself, 404 included.
  app.use(express.static(publicDir, { index: false, maxAge: '1h' }));
  app.use(oidc);

  return {
    app, config, database, directory, clients, keys, provider,
    close: () => (options.database ? Promise.resolve() : database.close()),
  };
}
