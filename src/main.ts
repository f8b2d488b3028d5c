import 'dotenv/config';
import type { Server } from 'node:http';
import { ConfigError, loadTenantConfig } from './config.ts';
import { createLogger } from './platform/logger.ts';
import { createTenant } from './tenant/tenant.ts';

/** The composition root: starts the tenant (and, in a later release, the app) in one process. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadTenantConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`accord: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const tenant = await createTenant({ config, logger });
  const server: Server = await new Promise((resolve, reject) => {
    const s = tenant.app.listen(config.port, config.host, () => resolve(s));
    s.once('error', reject);
  });
  console.log([
    `Accord tenant is running (${tenant.database.dialect === 'sqlite' ? `SQLite at ${config.sqliteFile}` : 'PostgreSQL'}).`,
    `  Issuer / OpenID configuration: ${config.url}/.well-known/openid-configuration`,
    `  Management API v2:             ${config.url}/api/v2/  (OpenAPI: ${config.url}/api/v2/openapi.json)`,
    ...(tenant.mailer.transport === 'outbox' ? [`  Mail outbox (development):     ${config.url}/dev/mail`] : []),
    ...(config.demoIdp ? [`  Demo social IdP:               ${config.url}/demo-idp`] : []),
    `  Create a Management API client: npm run accord -- clients create --name "My backend" --scopes "read:users update:users"`,
  ].join('\n'));
  logger.info({ database: tenant.database.dialect, host: config.host, port: config.port }, 'tenant listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // Stop accepting, let in-flight requests finish, then close the database.
    server.close(async () => {
      await tenant.close();
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => { server.closeAllConnections(); }, 10_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('accord: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
