import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { booleanSetting, ConfigError, databaseTimeoutsOf, parseEnv, postgresUrl, sharedEnvFields, withoutTrailingSlash } from '../platform/env.ts';
import type { PostgresTimeouts } from '../platform/postgres-pool.ts';
import { loadTlsCredentials, localUrl, requireHttpsWithTls, type TlsCredentials } from '../platform/tls.ts';
import type { TrustProxy } from '../platform/trust-proxy.ts';
import { MIN_SESSION_SECRET_LENGTH, SESSION_SECRET_ADVICE, sessionSecretWeakness } from './session-secret.ts';

/** The app's settings. It knows its tenant only by URL and credentials, as it would know Auth0. */
export interface AppConfig {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  /** Public URL of the app, no trailing slash; callbacks are `${url}/callback` and `${url}/link/callback`. */
  url: string;
  name: string;
  /** The tenant (issuer), no trailing slash: `https://TENANT.auth0.com` or the embedded tenant. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** How the app authenticates at the token endpoint: Auth0 applications default to client_secret_post. */
  clientAuthMethod: 'client_secret_basic' | 'client_secret_post';
  management: { clientId: string; clientSecret: string; audience: string };
  sessionSecret: string;
  sessionTtlSeconds: number;
  redisUrl: string | undefined;
  /** Starts every key the app writes in Redis (`accord:`): sessions under `<prefix>sess:`, rate limits under `<prefix>rl:`. */
  redisPrefix: string;
  databaseUrl: string | undefined;
  sqliteFile: string;
  /** `primary-wins`, `secondary-wins`, or a path to an ES module exporting a merge function. */
  mergeStrategy: string;
  /** Seconds a re-authentication for a link may be old (`max_age`), and a link ticket's lifetime. */
  linkMaxAge: number;
  /** Seconds since sign-in within which the user may start a link or unlink without signing in again. */
  recentLoginMaxAge: number;
  /** Link attempts (starts and callbacks) per user in 15 minutes. */
  linkAttemptsPer15Min: number;
  /** Whether the suggested-linking middleware runs after sign-in. */
  suggestions: boolean;
  /** Ask the tenant to give an unlinked account back the metadata it had when it was linked. */
  restoreMetadataOnUnlink: boolean;
  /** Milliseconds the app reuses Management API reads for pages (never for link or unlink checks). */
  managementCacheTtlMs: number;
  /** Express `trust proxy`: the load balancers whose X-Forwarded-* (client address, https) count. */
  trustProxy: TrustProxy;
  /** The app database's PostgreSQL timeouts, in milliseconds. */
  databaseTimeouts?: PostgresTimeouts | undefined;
  /** Milliseconds the app waits for the tenant (its OpenID endpoints, the Management API) before a 503. */
  tenantTimeoutMs: number;
  /** TLS_CERT_FILE and TLS_KEY_FILE: the app serves https itself; unset, plain http (or https at a proxy). */
  tls?: TlsCredentials | undefined;
  /** Redis: opening the connection, and waiting for one command's answer, in milliseconds. */
  redisTimeouts?: { connectTimeoutMs: number; commandTimeoutMs: number } | undefined;
  /** What is accepted outside production but would be refused in it: logged at start. */
  warnings: string[];
}

export class AppConfigError extends ConfigError {}

const envSchema = z.object({
  ...sharedEnvFields,
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  APP_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  APP_NAME: z.string().min(1).default('Accord'),
  ISSUER_BASE_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  AUTH0_DOMAIN: z
    .string()
    .regex(/^[a-z0-9.-]+(:\d+)?$/i, 'AUTH0_DOMAIN is a host name such as example.eu.auth0.com')
    .optional(),
  CLIENT_ID: z.string().min(1).optional(),
  CLIENT_SECRET: z.string().min(1).optional(),
  CLIENT_AUTH_METHOD: z.enum(['client_secret_basic', 'client_secret_post']).optional(),
  MANAGEMENT_CLIENT_ID: z.string().min(1).optional(),
  MANAGEMENT_CLIENT_SECRET: z.string().min(1).optional(),
  MANAGEMENT_AUDIENCE: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  SESSION_SECRET: z
    .string()
    .min(MIN_SESSION_SECRET_LENGTH, `SESSION_SECRET must be at least ${MIN_SESSION_SECRET_LENGTH} characters. ${SESSION_SECRET_ADVICE}`)
    .optional(),
  SESSION_TTL: z.coerce.number().int().min(60).default(86_400),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'REDIS_URL must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_PREFIX: z
    .string()
    .regex(/^[\w:.-]{1,64}$/, 'REDIS_PREFIX is up to 64 letters, digits and _ : . -')
    .default('accord:'),
  APP_DATABASE_URL: postgresUrl('APP_DATABASE_URL').optional(),
  MERGE_STRATEGY: z.string().min(1).default('primary-wins'),
  LINK_MAX_AGE: z.coerce.number().int().min(30).max(3600).default(300),
  RECENT_LOGIN_MAX_AGE: z.coerce.number().int().min(30).max(86_400).default(600),
  LINK_RATE_LIMIT: z.coerce.number().int().min(1).default(10),
  LINK_SUGGESTIONS: booleanSetting.default(true),
  RESTORE_METADATA_ON_UNLINK: booleanSetting.default(false),
  REDIS_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(50).max(600_000).default(2_000),
  MANAGEMENT_CACHE_TTL: z.coerce.number().min(0).max(300).default(5),
  TENANT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
});

/** The tenant and credentials the composition root provisions when the app runs with the embedded tenant. */
export interface EmbeddedTenantWiring {
  issuer: string;
  clientId: string;
  clientSecret: string;
  managementClientId: string;
  managementClientSecret: string;
}

/**
 * The app's public URL before its settings are read in full (the composition root registers the
 * app's callbacks at the embedded tenant with it): APP_URL, or localhost on PORT, https when
 * TLS_CERT_FILE is set. loadAppConfig checks the settings themselves.
 */
export function appUrlOf(env: NodeJS.ProcessEnv = process.env): string {
  return withoutTrailingSlash(env.APP_URL ?? `${env.TLS_CERT_FILE ? 'https' : 'http'}://localhost:${env.PORT ?? 3000}`);
}

/** True when the environment names an external tenant (Auth0 or any compatible issuer). */
export function usesExternalTenant(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.ISSUER_BASE_URL || env.AUTH0_DOMAIN);
}

/**
 * A development session secret kept in DATA_DIR so sessions survive a restart; production
 * must set SESSION_SECRET (several instances must share it).
 */
function developmentSessionSecret(dataDir: string): string {
  const file = resolve(dataDir, 'app-session-secret');
  if (existsSync(file)) {
    const kept = readFileSync(file, 'utf8').trim();
    // An empty or truncated file (a crash mid-write, a hand edit) is replaced, not used.
    if (kept.length >= 32) {
      chmodSync(file, 0o600);
      return kept;
    }
  }
  const secret = randomBytes(32).toString('base64url');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, secret, { mode: 0o600 });
  chmodSync(file, 0o600);
  return secret;
}

/**
 * Where the app listens, read before anything starts (the port is taken first, so a port in use
 * ends the start at once); validates every app setting on the way, as loadAppConfig will.
 */
export function appListenAddress(env: NodeJS.ProcessEnv = process.env): { host: string; port: number; tls: TlsCredentials | undefined } {
  const e = parseEnv(envSchema, env, AppConfigError);
  return { host: e.HOST, port: e.PORT, tls: loadTlsCredentials(e.TLS_CERT_FILE, e.TLS_KEY_FILE) };
}

/**
 * Reads the app's environment once. With ISSUER_BASE_URL or AUTH0_DOMAIN the app needs its
 * client and management credentials from the environment; otherwise `embedded` supplies them.
 */
export function loadAppConfig(env: NodeJS.ProcessEnv = process.env, embedded?: EmbeddedTenantWiring): AppConfig {
  const e = parseEnv(envSchema, env, AppConfigError);
  const production = e.NODE_ENV === 'production';

  const external = e.ISSUER_BASE_URL ?? (e.AUTH0_DOMAIN ? `https://${e.AUTH0_DOMAIN}` : undefined);
  let wiring: EmbeddedTenantWiring;
  if (external) {
    const missing = (['CLIENT_ID', 'CLIENT_SECRET', 'MANAGEMENT_CLIENT_ID', 'MANAGEMENT_CLIENT_SECRET'] as const).filter((k) => !e[k]);
    if (missing.length)
      throw new AppConfigError(`With ISSUER_BASE_URL or AUTH0_DOMAIN the app also needs ${missing.join(', ')} (see README "Running against Auth0").`);
    wiring = {
      issuer: external,
      clientId: e.CLIENT_ID!,
      clientSecret: e.CLIENT_SECRET!,
      managementClientId: e.MANAGEMENT_CLIENT_ID!,
      managementClientSecret: e.MANAGEMENT_CLIENT_SECRET!,
    };
  } else if (embedded) {
    wiring = embedded;
  } else {
    throw new AppConfigError(
      'The app needs a tenant: set ISSUER_BASE_URL (or AUTH0_DOMAIN), CLIENT_ID, CLIENT_SECRET, MANAGEMENT_CLIENT_ID and MANAGEMENT_CLIENT_SECRET, or start it with the embedded tenant (npm start).',
    );
  }
  if (production && !e.SESSION_SECRET) throw new AppConfigError(`SESSION_SECRET is required when NODE_ENV=production. ${SESSION_SECRET_ADVICE}`);
  // Refused in production; elsewhere (a developer's own value) said at start, so it is not a surprise later.
  const weakness = e.SESSION_SECRET === undefined ? undefined : sessionSecretWeakness(e.SESSION_SECRET);
  if (weakness && production) throw new AppConfigError(`SESSION_SECRET is too weak: ${weakness}. ${SESSION_SECRET_ADVICE}`);
  const warnings = weakness ? [`SESSION_SECRET is too weak (${weakness}); it would be refused with NODE_ENV=production. ${SESSION_SECRET_ADVICE}`] : [];

  const issuer = withoutTrailingSlash(wiring.issuer);
  const tls = loadTlsCredentials(e.TLS_CERT_FILE, e.TLS_KEY_FILE);
  const url = withoutTrailingSlash(e.APP_URL ?? localUrl(e.PORT, tls));
  requireHttpsWithTls('APP_URL', url, tls);
  const dataDir = resolve(e.DATA_DIR);
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    url,
    name: e.APP_NAME,
    issuer,
    clientId: wiring.clientId,
    clientSecret: wiring.clientSecret,
    // The embedded tenant registers its clients for client_secret_basic.
    clientAuthMethod: e.CLIENT_AUTH_METHOD ?? (external ? 'client_secret_post' : 'client_secret_basic'),
    management: {
      clientId: wiring.managementClientId,
      clientSecret: wiring.managementClientSecret,
      audience: e.MANAGEMENT_AUDIENCE ?? `${issuer}/api/v2/`,
    },
    sessionSecret: e.SESSION_SECRET ?? developmentSessionSecret(dataDir),
    sessionTtlSeconds: e.SESSION_TTL,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    databaseUrl: e.APP_DATABASE_URL ?? e.DATABASE_URL,
    sqliteFile: resolve(dataDir, 'app.sqlite'),
    mergeStrategy: e.MERGE_STRATEGY,
    linkMaxAge: e.LINK_MAX_AGE,
    recentLoginMaxAge: e.RECENT_LOGIN_MAX_AGE,
    linkAttemptsPer15Min: e.LINK_RATE_LIMIT,
    suggestions: e.LINK_SUGGESTIONS,
    restoreMetadataOnUnlink: e.RESTORE_METADATA_ON_UNLINK,
    trustProxy: e.TRUST_PROXY,
    databaseTimeouts: databaseTimeoutsOf(e),
    redisTimeouts: { connectTimeoutMs: e.REDIS_CONNECT_TIMEOUT_MS, commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS },
    tenantTimeoutMs: e.TENANT_TIMEOUT_MS,
    tls,
    managementCacheTtlMs: e.MANAGEMENT_CACHE_TTL * 1000,
    warnings,
  };
}
