import { z } from 'zod';
import type { PostgresTimeouts } from './postgres-pool.ts';
import { trustProxySetting } from './trust-proxy.ts';

/** A setting that cannot be used: the process says which and why, and does not start. */
export class ConfigError extends Error {}

/** A PostgreSQL URL setting, refused with its name when it is not one. */
export function postgresUrl(name: string) {
  return z.string().regex(/^postgres(ql)?:\/\//, `${name} must be a postgres:// URL`);
}

/** true/false, on/off or 1/0. */
export const booleanSetting = z.enum(['true', 'false', 'on', 'off', '1', '0']).transform((v) => ['true', 'on', '1'].includes(v));

/** The settings the tenant and the app read alike, with the same defaults. */
export const sharedEnvFields = {
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: postgresUrl('DATABASE_URL').optional(),
  DATA_DIR: z.string().default('var'),
  TRUST_PROXY: trustProxySetting,
  DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
  /** PEM certificate (chain) and key: the half serves https itself (see tls.ts). */
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
};

/** Zod's issues as one line: `NAME: what is wrong; …`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Parses `env` with `schema`, or throws `invalid` (a ConfigError) naming every bad setting. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv, invalid: new (message: string) => ConfigError = ConfigError): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new invalid(`Invalid environment: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

/** A URL as the code keeps it: without trailing slashes. */
export function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The PostgreSQL timeouts of the shared settings. */
export function databaseTimeoutsOf(e: { DB_CONNECT_TIMEOUT_MS: number; DB_STATEMENT_TIMEOUT_MS: number }): PostgresTimeouts {
  return { connectTimeoutMs: e.DB_CONNECT_TIMEOUT_MS, statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS };
}
