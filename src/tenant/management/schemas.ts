import { z } from 'zod';
import { SORT_FIELDS } from '../directory/directory.ts';
import { METADATA_LIMITS } from '../directory/metadata-limits.ts';

/** Schemas of the Management API's inputs and outputs; routes and the OpenAPI document share them. */

/** Every string that reaches a text column: PostgreSQL text cannot hold U+0000, so it is refused here (a 400, not a 500). */
const text = () => z.string().regex(/^[^\u0000]*$/, 'must not contain U+0000');

// Depth and size are checked by the directory (on the merged value too); documented here.
const metadata = z
  .record(text(), z.unknown())
  .refine((v) => Object.keys(v).length <= 100, 'at most 100 top-level keys')
  .describe(
    `At most 100 top-level keys, ${METADATA_LIMITS.maxDepth} levels of nesting (this object is level 1) and ${METADATA_LIMITS.maxBytes} bytes as JSON once merged.`,
  );
const shortText = text().min(1).max(300);
const booleanString = z.enum(['true', 'false']).transform((v) => v === 'true');
const pageNumber = z
  .string()
  .regex(/^\d{1,6}$/, 'must be a non-negative integer')
  .transform(Number)
  .default(0);
const perPage = z
  .string()
  .regex(/^\d{1,3}$/, 'must be an integer')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 100, 'must be between 1 and 100')
  .default(50);

export const userIdParams = z.object({ id: text().min(1).max(512) }).strict();

export const listUsersQuery = z
  .object({
    q: text().max(2000).optional(),
    search_engine: z.enum(['v3']).optional(),
    page: pageNumber,
    per_page: perPage,
    include_totals: booleanString.default(false),
    sort: z
      .string()
      .regex(new RegExp(`^(${SORT_FIELDS.join('|')}):(1|-1)$`), `must be field:1 or field:-1 with field one of ${SORT_FIELDS.join(', ')}`)
      .transform((s) => {
        const [field, direction] = s.split(':');
        return { field: field as (typeof SORT_FIELDS)[number], direction: Number(direction) as 1 | -1 };
      })
      .optional(),
  })
  .strict();

export const createUserBody = z
  .object({
    connection: shortText,
    email: text().min(3).max(320),
    password: z.string().min(1).max(256).optional(),
    email_verified: z.boolean().optional(),
    name: shortText.optional(),
    given_name: shortText.optional(),
    family_name: shortText.optional(),
    nickname: shortText.optional(),
    picture: z
      .url()
      .max(2000)
      .refine((v) => !v.includes('\u0000'), 'must not contain U+0000')
      .optional(),
    blocked: z.boolean().optional(),
    user_metadata: metadata.optional(),
    app_metadata: metadata.optional(),
  })
  .strict();

const nullableText = shortText.nullable();
export const updateUserBody = z
  .object({
    email: text().min(3).max(320).optional(),
    email_verified: z.boolean().optional(),
    name: nullableText.optional(),
    given_name: nullableText.optional(),
    family_name: nullableText.optional(),
    nickname: nullableText.optional(),
    picture: z
      .url()
      .max(2000)
      .refine((v) => !v.includes('\u0000'), 'must not contain U+0000')
      .nullable()
      .optional(),
    blocked: z.boolean().optional(),
    password: z.string().min(1).max(256).optional(),
    user_metadata: metadata.optional(),
    app_metadata: metadata.optional(),
  })
  .strict();

export const usersByEmailQuery = z.object({ email: text().min(1).max(320) }).strict();

export const linkBody = z
  .object({
    link_with: z.string().min(1).max(16_384).optional(),
    provider: text().min(1).max(128).optional(),
    user_id: z.union([text().min(1).max(512), z.number().int().nonnegative()]).optional(),
    connection_id: z
      .string()
      .regex(/^con_[A-Za-z0-9]+$/)
      .optional(),
  })
  .strict();

export const unlinkParams = z
  .object({
    id: text().min(1).max(512),
    provider: text().min(1).max(128),
    user_id: text().min(1).max(512),
  })
  .strict();

export const unlinkQuery = z.object({ restore_metadata: booleanString.default(false) }).strict();

export const pageQuery = z
  .object({
    page: pageNumber,
    per_page: perPage,
    include_totals: booleanString.default(false),
    // Auth0 accepts a sort on logs; events are always newest first here, so only that order is offered.
    sort: z.literal('date:-1').optional(),
  })
  .strict();

export const connectionsQuery = z
  .object({
    strategy: z.enum(['auth0', 'email', 'oidc']).optional(),
    name: z.string().max(128).optional(),
  })
  .strict();

// ------------------------------------------------------------------ outputs (documentation)

const profileData = z
  .object({
    email: z.string(),
    email_verified: z.boolean(),
    name: z.string(),
    given_name: z.string(),
    family_name: z.string(),
    nickname: z.string(),
    picture: z.string(),
    phone_number: z.string(),
    phone_verified: z.boolean(),
  })
  .partial();

export const identitySchema = z.object({
  provider: z.string(),
  user_id: z.string(),
  connection: z.string(),
  isSocial: z.boolean(),
  profileData: profileData.optional(),
});

export const userSchema = profileData.extend({
  user_id: z.string(),
  email_verified: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
  last_login: z.string().optional(),
  logins_count: z.number().int(),
  blocked: z.boolean(),
  identities: z.array(identitySchema),
  user_metadata: z.record(z.string(), z.unknown()),
  app_metadata: z.record(z.string(), z.unknown()),
});

export const usersPageSchema = z.object({
  start: z.number().int(),
  limit: z.number().int(),
  length: z.number().int(),
  total: z.number().int(),
  users: z.array(userSchema),
});

export const logEventSchema = z.object({
  log_id: z.string(),
  date: z.string(),
  type: z.string(),
  description: z.string(),
  actor: z.string().nullable(),
  client_id: z.string().nullable(),
  user_id: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});

export const logsPageSchema = z.object({
  start: z.number().int(),
  limit: z.number().int(),
  length: z.number().int(),
  total: z.number().int(),
  logs: z.array(logEventSchema),
});

export const connectionSchema = z.object({
  id: z.string(),
  name: z.string(),
  display_name: z.string(),
  strategy: z.string(),
  realms: z.array(z.string()),
  is_domain_connection: z.boolean(),
  options: z.record(z.string(), z.unknown()),
});
