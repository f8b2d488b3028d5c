import 'dotenv/config';
import type { Server } from 'node:http';
import { loadAppConfig, usesExternalTenant } from './app/app-config.ts';
import { createApp, type AccordApp } from './app/app.ts';
import { ConfigError } from './platform/env.ts';
import { loadTenantConfig, type TenantConfig } from './tenant/tenant-config.ts';
import { wireEmbeddedApp } from './embedded-wiring.ts';
import { createLogger, type Logger } from './platform/logger.ts';
import { createTenant, type Tenant } from './tenant/tenant.ts';

type Role = 'all' | 'tenant' | 'app';

function listen(app: { listen: AccordApp['app']['listen'] }, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => resolve(server));
    server.once('error', reject);
  });
}

function tenantLines(tenant: Tenant, config: TenantConfig): string[] {
  return [
    `Accord tenant is running (${tenant.database.dialect === 'sqlite' ? `SQLite at ${config.sqliteFile}` : 'PostgreSQL'}).`,
    `  Issuer / OpenID configuration: ${config.url}/.well-known/openid-configuration`,
    `  Management API v2:             ${config.url}/api/v2/  (OpenAPI: ${config.url}/api/v2/openapi.json)`,
    ...(tenant.mailer.transport === 'outbox' ? [`  Mail outbox (development):     ${config.url}/dev/mail`] : []),
    ...(config.demoIdp ? [`  Demo social IdP:               ${config.url}/demo-idp`] : []),
    `  Create a Management API client: npm run accord -- clients create --name "My backend" --scopes "read:users update:users"`,
  ];
}

/**
 * The composition root, the only module that knows both halves: starts the tenant, the app,
 * or both (`npm start`, wiring the app to the embedded tenant). With ISSUER_BASE_URL or
 * AUTH0_DOMAIN set the app runs alone against that tenant.
 */
async function main(): Promise<void> {
  const arg = process.argv[2];
  if (arg !== undefined && !['all', 'tenant', 'app'].includes(arg)) throw new ConfigError(`Unknown role "${arg}": use all, tenant or app.`);
  const role: Role = (arg as Role | undefined) ?? (usesExternalTenant() ? 'app' : 'all');
  if (role === 'all' && usesExternalTenant())
    throw new ConfigError('ISSUER_BASE_URL/AUTH0_DOMAIN is set: run the app alone (npm start app), or unset it to use the embedded tenant.');

  const tenantConfig = role === 'app' ? undefined : loadTenantConfig();
  const logger: Logger = createLogger(tenantConfig?.logLevel ?? process.env.LOG_LEVEL ?? 'info');
  const servers: Server[] = [];
  const closers: (() => Promise<void>)[] = [];
  const lines: string[] = [];

  let tenant: Tenant | undefined;
  if (tenantConfig) {
    tenant = await createTenant({ config: tenantConfig, logger });
    closers.push(() => tenant!.close());
    servers.push(await listen(tenant.app, tenantConfig.port, tenantConfig.host));
    lines.push(...tenantLines(tenant, tenantConfig));
  }
  if (role !== 'tenant') {
    const appUrl = (process.env.APP_URL ?? `http://localhost:${process.env.PORT ?? 3000}`).replace(/\/+$/, '');
    const wiring = tenant && role === 'all' ? await wireEmbeddedApp(tenant, appUrl) : undefined;
    const config = loadAppConfig(process.env, wiring);
    const app = await createApp({ config, logger });
    closers.unshift(() => app.close());
    servers.push(await listen(app.app, config.port, config.host));
    lines.unshift(
      `Accord app is running: ${config.url}/  (tenant: ${config.issuer}${wiring ? ', embedded; app clients provisioned' : ''})`,
      ...(lines.length ? [''] : []),
    );
  }
  console.log(lines.join('\n'));
  logger.info({ role }, 'accord listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // Stop accepting, let in-flight requests finish, then close the databases.
    let open = servers.length;
    for (const server of servers) {
      server.close(async () => {
        if (--open > 0) return;
        for (const close of closers) await close();
        logger.info('stopped');
        process.exit(0);
      });
      server.closeIdleConnections();
    }
    setTimeout(() => {
      for (const server of servers) server.closeAllConnections();
    }, 10_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`accord: ${err.message}`);
    process.exit(2);
  }
  console.error('accord: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
