import { z } from 'zod';

/**
 * What the Management API v2 answers, as the app relies on it: the types the app reads, and
 * the checks a body passes before it is believed.
 */

export interface Auth0Identity {
  provider: string;
  user_id: string;
  connection: string;
  isSocial: boolean;
  profileData?: Record<string, unknown>;
}

export interface Auth0User {
  user_id: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  nickname?: string;
  picture?: string;
  identities: Auth0Identity[];
  user_metadata?: Record<string, unknown>;
  app_metadata?: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  last_login?: string;
  logins_count?: number;
  blocked?: boolean;
  [k: string]: unknown;
}

export interface Auth0LogEvent {
  log_id: string;
  date: string;
  type: string;
  description?: string;
  user_id?: string;
  details?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface Auth0Connection {
  id: string;
  name: string;
  display_name?: string;
  strategy: string;
  [k: string]: unknown;
}

// Minimal checks: only what the app relies on, so a surprising body becomes a
// management_error instead of a TypeError deep inside the app. Unknown fields pass through.

/** Optional fields: Auth0 omits them, Accord's tenant sometimes sends null; both mean "absent". */
const optional = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);
const record = z.record(z.string(), z.unknown());

export const identitySchema = z.looseObject({
  provider: z.string(),
  // Some social providers (e.g. GitHub) give numeric ids; the app compares strings.
  user_id: z.union([z.string(), z.number()]).transform(String),
  connection: z.string(),
  isSocial: z.boolean(),
  profileData: optional(record),
});

export const userSchema = z.looseObject({
  user_id: z.string().min(1),
  email: optional(z.string()),
  email_verified: optional(z.boolean()),
  name: optional(z.string()),
  nickname: optional(z.string()),
  picture: optional(z.string()),
  identities: z.array(identitySchema),
  user_metadata: optional(record),
  app_metadata: optional(record),
  created_at: z.string(),
  updated_at: z.string(),
  last_login: optional(z.string()),
  logins_count: optional(z.number()),
  blocked: optional(z.boolean()),
});

export const logEventSchema = z.looseObject({
  log_id: z.string(),
  date: z.string(),
  type: z.string(),
  description: optional(z.string()),
  user_id: optional(z.string()),
  details: optional(record),
});

export const connectionSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  display_name: optional(z.string()),
  strategy: z.string(),
});

// Auth0 answers an array, or `{logs: [...]}` when include_totals is on; accept both.
export const logsSchema = z.union([z.array(logEventSchema), z.looseObject({ logs: z.array(logEventSchema) }).transform((p) => p.logs)]);

export const tokenSchema = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.number().positive(),
});

/** Auth0's error body (`statusCode, error, message, errorCode`), or an OAuth error from /oauth/token. */
export const errorBodySchema = z.looseObject({
  statusCode: z.number().optional().catch(undefined),
  error: z.string().optional().catch(undefined),
  message: z.string().optional().catch(undefined),
  errorCode: z.string().optional().catch(undefined),
  error_description: z.string().optional().catch(undefined),
});
