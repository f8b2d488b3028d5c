import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AdapterPayload } from 'oidc-provider';
import type { Schema } from '../../platform/database.ts';
import { AccordError } from '../../platform/errors.ts';

/** The Management API scopes a client can be granted (Auth0's names). */
export const MANAGEMENT_SCOPES = [
  'read:users', 'update:users', 'create:users', 'delete:users',
  'read:logs', 'read:logs_users', 'read:connections',
  'read:current_user', 'update:current_user_identities',
] as const;

export const GRANT_TYPES = ['client_credentials', 'authorization_code', 'refresh_token'] as const;
export type GrantType = typeof GRANT_TYPES[number];

export interface ClientSummary {
  client_id: string;
  name: string;
  grant_types: GrantType[];
  scopes: string[];
  redirect_uris: string[];
  created_at: string;
}

export interface CreateClientInput {
  name: string;
  grantTypes: GrantType[];
  scopes: string[];
  redirectUris?: string[];
}

/**
 * Client secrets are 256-bit random values, so a fast hash is enough to make a stolen
 * database useless for authenticating (unlike passwords, they cannot be guessed).
 */
export function hashClientSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('base64url')}`;
}

export function clientSecretMatches(storedHash: string, presented: string): boolean {
  const a = Buffer.from(storedHash);
  const b = Buffer.from(hashClientSecret(presented));
  return a.length === b.length && timingSafeEqual(a, b);
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Auth0-style client ids: 32 letters and digits (never starting with `-`, which CLIs read as a flag). */
function alphanumeric(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length)) {
      // 248 = 62 * 4: rejecting larger bytes keeps the distribution uniform.
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

function toSummary(row: Schema['clients']): ClientSummary {
  return {
    client_id: row.client_id,
    name: row.name,
    grant_types: JSON.parse(row.grant_types) as GrantType[],
    scopes: row.scopes.split(' ').filter(Boolean),
    redirect_uris: JSON.parse(row.redirect_uris) as string[],
    created_at: row.created_at,
  };
}

export class ClientRegistry {
  constructor(private readonly db: Kysely<Schema>) {}

  /** Creates a client; the secret is shown once, here, and stored only as a hash. */
  async create(input: CreateClientInput): Promise<ClientSummary & { client_secret: string }> {
    const unknown = input.scopes.filter((s) => !(MANAGEMENT_SCOPES as readonly string[]).includes(s));
    if (unknown.length > 0) {
      throw new AccordError('invalid_body', `Unknown scopes: ${unknown.join(', ')}. Known: ${MANAGEMENT_SCOPES.join(', ')}.`);
    }
    if (input.name.trim().length === 0) throw new AccordError('invalid_body', 'A client needs a name.');
    const clientId = alphanumeric(32);
    const clientSecret = randomBytes(32).toString('base64url');
    const row = {
      client_id: clientId,
      name: input.name.trim(),
      secret_hash: hashClientSecret(clientSecret),
      grant_types: JSON.stringify([...new Set(input.grantTypes)]),
      scopes: [...new Set(input.scopes)].join(' '),
      redirect_uris: JSON.stringify(input.redirectUris ?? []),
      first_party: 1,
      created_at: new Date().toISOString(),
    };
    await this.db.insertInto('clients').values(row).execute();
    return { ...toSummary(row), client_secret: clientSecret };
  }

  async list(): Promise<ClientSummary[]> {
    const rows = await this.db.selectFrom('clients').selectAll().orderBy('created_at').execute();
    return rows.map(toSummary);
  }

  async get(clientId: string): Promise<ClientSummary | undefined> {
    const row = await this.db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();
    return row ? toSummary(row) : undefined;
  }

  /** The client as oidc-provider reads it; `client_secret` holds the hash (see compareClientSecret). */
  async asOidcMetadata(clientId: string): Promise<AdapterPayload | undefined> {
    const row = await this.db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();
    if (!row) return undefined;
    const grantTypes = JSON.parse(row.grant_types) as GrantType[];
    return {
      client_id: row.client_id,
      client_name: row.name,
      ...(row.secret_hash ? { client_secret: row.secret_hash } : {}),
      grant_types: grantTypes,
      response_types: grantTypes.includes('authorization_code') ? ['code'] : [],
      redirect_uris: JSON.parse(row.redirect_uris) as string[],
      token_endpoint_auth_method: row.secret_hash ? 'client_secret_basic' : 'none',
      id_token_signed_response_alg: 'RS256',
      management_scopes: row.scopes,
    };
  }
}
