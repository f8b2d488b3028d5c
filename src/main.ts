import 'dotenv/config';
import { appListenAddress, appUrlOf, loadAppConfig, usesExternalTenant } from './app/app-config.ts';
import { ConfigError } from './platform/env.ts';
import { loadTenantConfig, type TenantConfig } from './tenant/tenant-config.ts';
import { DrainableServer } from './platform/http-drain.ts';
import type { TlsCredentials } from './platform/tls.ts';
import { createLogger, type Logger } from './platform/logger.ts';
import type { Tenant } from './tenant/tenant.ts';

type Role = 'all' | 'tenant' | 'app';

/** Listens, or says in words why it cannot (a port in use is a failed start, not a running process). */
async function listen(port: number, host: string, half: string, tls: TlsCredentials | undefined): Promise<DrainableServer> {
  const server = new DrainableServer(undefined, tls);
  try {
    await server.listen(port, host);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'EADDRINUSE') throw new Error(`the ${half}'s port ${port} on ${host} is already in use (another process listens there).`);
    if (code === 'EACCES') throw new Error(`the ${half} may not listen on port ${port} on ${host} (permission denied).`);
    if (code === 'EADDRNOTAVAIL') throw new Error(`the ${half} cannot listen on ${host}: not an address of this machine (HOST).`);
    throw err;
  }
  return server;
}

/** SHUTDOWN_TIMEOUT_MS: how long a shutdown may wait for requests under way (default 10 s). */
function shutdownTimeoutMs(env: NodeJS.ProcessEnv): number {
  const value = env.SHUTDOWN_TIMEOUT_MS ?? '10000';
  const ms = Number(value);
  if (!/^\d+$/.test(value) || ms < 100 || ms > 600_000)
    throw new ConfigError(`Invalid environment: SHUTDOWN_TIMEOUT_MS: a number of milliseconds from 100 to 600000, not "${value}"`);
  return ms;
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
  const appAddress = role === 'tenant' ? undefined : appListenAddress();
  const logger: Logger = createLogger(tenantConfig?.logLevel ?? process.env.LOG_LEVEL ?? 'info');
  const shutdownMs = shutdownTimeoutMs(process.env);
  // The ports are taken first, before the halves' modules load and their databases are opened
  // and migrated: a port in use ends the start within moments. Until a half has started, its
  // port answers 503 (its /readyz too).
  const tenantServer = tenantConfig ? await listen(tenantConfig.port, tenantConfig.host, 'tenant', tenantConfig.tls) : undefined;
  const appServer = appAddress ? await listen(appAddress.port, appAddress.host, 'app', appAddress.tls) : undefined;
  const servers = [tenantServer, appServer].filter((server) => server !== undefined);
  const readiness: { drain(): void }[] = [];
  const closers: (() => Promise<void>)[] = [];
  const lines: string[] = [];

  let tenant: Tenant | undefined;
  if (tenantConfig && tenantServer) {
    const { createTenant } = await import('./tenant/tenant.ts');
    tenant = await createTenant({ config: tenantConfig, logger });
    closers.push(() => tenant!.close());
    readiness.push(tenant.readiness);
    tenantServer.serve(tenant.app);
    lines.push(...tenantLines(tenant, tenantConfig));
  }
  if (appServer) {
    const appUrl = appUrlOf(process.env);
    const { wireEmbeddedApp } = await import('./embedded-wiring.ts');
    const wiring = tenant && role === 'all' ? await wireEmbeddedApp(tenant, appUrl) : undefined;
    const config = loadAppConfig(process.env, wiring);
    const { createApp } = await import('./app/app.ts');
    const app = await createApp({ config, logger });
    closers.unshift(() => app.close());
    readiness.push(app.readiness);
    appServer.serve(app.app);
    lines.unshift(
      `Accord app is running: ${config.url}/  (tenant: ${config.issuer}${wiring ? ', embedded; app clients provisioned' : ''})`,
      ...(lines.length ? [''] : []),
    );
  }
  console.log(lines.join('\n'));
  logger.info({ role }, 'accord listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // Load balancers see /readyz fail; no new connection is accepted; requests under way finish
    // and keep-alive connections close (see DrainableServer); then the databases close.
    for (const half of readiness) half.drain();
    setTimeout(() => {
      logger.error({ timeoutMs: shutdownMs }, 'requests still under way at SHUTDOWN_TIMEOUT_MS: exiting');
      process.exit(1);
    }, shutdownMs).unref();
    try {
      await Promise.all(servers.map((server) => server.drain()));
      for (const close of closers) await close();
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`accord: ${err.message}`);
    process.exit(2);
  }
  console.error('accord: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
