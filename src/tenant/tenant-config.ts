import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, databaseTimeoutsOf, formatIssues, parseEnv, sharedEnvFields, withoutTrailingSlash } from '../platform/env.ts';
import type { PostgresTimeouts } from '../platform/postgres-pool.ts';
import { loadTlsCredentials, localUrl, requireHttpsWithTls, type TlsCredentials } from '../platform/tls.ts';
import type { TrustProxy } from '../platform/trust-proxy.ts';
import { uriProblem } from './clients/client-registry.ts';
import { connectionsConfigSchema, defaultConnections, type ConnectionConfig } from './connections.ts';

const envSchema = z.object({
  ...sharedEnvFields,
  TENANT_PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  TENANT_URL: z.url().optional(),
  TENANT_NAME: z.string().min(1).default('Accord'),
  TENANT_CONFIG: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MANAGEMENT_TOKEN_TTL: z.coerce.number().int().min(60).max(2_592_000).default(86_400),
  MANAGEMENT_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(3_000),
  MAIL_TRANSPORT: z.enum(['outbox', 'smtp']).optional(),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'SMTP_URL must be an smtp:// or smtps:// URL')
    .optional(),
  MAIL_FROM: z.string().min(3).optional(),
  DEMO_IDP: z.enum(['on', 'off']).optional(),
  ALLOWED_LOGOUT_URLS: z.string().optional(),
});

/** An absolute http(s) URL without a fragment: where a browser may be sent after sign-out. */
const logoutUrl = z.string().refine((uri) => uriProblem(uri) === undefined, { message: 'must be an absolute http(s) URL without a fragment' });

const tenantFileSchema = z
  .object({
    name: z.string().min(1).optional(),
    connections: connectionsConfigSchema.optional(),
    allowed_logout_urls: z.array(logoutUrl).optional(),
  })
  .strict();

export interface TenantConfig {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  /** The tenant's URL, without a trailing slash; its OpenID issuer is this with one (`issuerOf`), as Auth0's `https://TENANT.auth0.com/`. */
  url: string;
  name: string;
  databaseUrl: string | undefined;
  sqliteFile: string;
  dataDir: string;
  logLevel: string;
  managementTokenTtl: number;
  managementRateLimitPerMinute: number;
  connections: ConnectionConfig[];
  mail: { transport: 'outbox' | 'smtp'; smtpUrl: string | undefined; from: string };
  /** The built-in demo social IdP at /demo-idp (development and tests; off in production unless asked). */
  demoIdp: boolean;
  /**
   * Whose X-Forwarded-For counts as the client's address (rate limits). Published URLs never
   * depend on it: they all come from `url`.
   */
  trustProxy: TrustProxy;
  /**
   * The tenant's Allowed Logout URLs (Auth0's tenant setting): where a logout that names no
   * client (no client_id, no id_token_hint) may return to, matched exactly. None by default.
   */
  allowedLogoutUrls?: readonly string[] | undefined;
  /** PostgreSQL's connect (and pool-wait) and statement timeouts, in milliseconds. */
  databaseTimeouts?: PostgresTimeouts | undefined;
  /** TLS_CERT_FILE and TLS_KEY_FILE: the tenant serves https itself; unset, plain http (or https at a proxy). */
  tls?: TlsCredentials | undefined;
  /** The database connection's sign-in rate limits (shared by every process on PostgreSQL); unset fields take the defaults in README. */
  loginRateLimits?: Partial<LoginRateLimits> | undefined;
}

/** Requests allowed per IP address (and email, for password attempts) in each window. */
export interface LoginRateLimits {
  windowMs: number;
  /** Failed password logins per IP and email. */
  loginPerIpAndEmail: number;
  /** Password login attempts per IP, whatever the email. */
  loginPerIp: number;
  signupPerIp: number;
  /** Password-reset requests per IP. */
  forgotPerIp: number;
}

/** Reads env (and the optional tenant config file) once, validating everything. */
export function loadTenantConfig(env: NodeJS.ProcessEnv = process.env): TenantConfig {
  const e = parseEnv(envSchema, env);

  let file: z.infer<typeof tenantFileSchema> = {};
  if (e.TENANT_CONFIG) {
    const path = resolve(e.TENANT_CONFIG);
    if (!existsSync(path)) throw new ConfigError(`TENANT_CONFIG points to ${path}, which does not exist`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ConfigError(`TENANT_CONFIG ${path} is not valid JSON: ${(err as Error).message}`);
    }
    const f = tenantFileSchema.safeParse(raw);
    if (!f.success) throw new ConfigError(`Invalid tenant config ${path}: ${formatIssues(f.error)}`);
    file = f.data;
  }

  const tls = loadTlsCredentials(e.TLS_CERT_FILE, e.TLS_KEY_FILE);
  const url = withoutTrailingSlash(e.TENANT_URL ?? localUrl(e.TENANT_PORT, tls));
  requireHttpsWithTls('TENANT_URL', url, tls);
  const production = e.NODE_ENV === 'production';
  const transport = e.MAIL_TRANSPORT ?? (e.SMTP_URL || production ? 'smtp' : 'outbox');
  if (transport === 'smtp' && !e.SMTP_URL) {
    throw new ConfigError(
      'SMTP_URL is required to send mail (NODE_ENV=production or MAIL_TRANSPORT=smtp); MAIL_TRANSPORT=outbox keeps mail in the database instead.',
    );
  }
  const name = file.name ?? e.TENANT_NAME;
  const envLogoutUrls = (e.ALLOWED_LOGOUT_URLS ?? '').split(/[\s,]+/).filter(Boolean);
  for (const uri of envLogoutUrls) {
    if (!logoutUrl.safeParse(uri).success)
      throw new ConfigError(`Invalid environment: ALLOWED_LOGOUT_URLS: "${uri}" must be an absolute http(s) URL without a fragment`);
  }
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.TENANT_PORT,
    url,
    name,
    databaseUrl: e.DATABASE_URL,
    dataDir: resolve(e.DATA_DIR),
    sqliteFile: resolve(e.DATA_DIR, 'accord.sqlite'),
    logLevel: e.LOG_LEVEL,
    managementTokenTtl: e.MANAGEMENT_TOKEN_TTL,
    managementRateLimitPerMinute: e.MANAGEMENT_RATE_LIMIT_PER_MINUTE,
    connections: file.connections ?? defaultConnections(),
    mail: { transport, smtpUrl: e.SMTP_URL, from: e.MAIL_FROM ?? `"${name}" <no-reply@${new URL(url).hostname}>` },
    demoIdp: e.DEMO_IDP ? e.DEMO_IDP === 'on' : !production,
    trustProxy: e.TRUST_PROXY,
    databaseTimeouts: databaseTimeoutsOf(e),
    tls,
    allowedLogoutUrls: [...new Set([...(file.allowed_logout_urls ?? []), ...envLogoutUrls])],
  };
}
