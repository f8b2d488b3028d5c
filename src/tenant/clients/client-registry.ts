import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AdapterPayload } from 'oidc-provider';
import type { Database, Schema } from '../tenant-database.ts';
import { tenantError } from '../tenant-errors.ts';
import { executeNow } from '../../platform/database.ts';
import { prepareQuery } from '../../platform/prepared-query.ts';
import { responseTypesForGrants } from '../oidc/response-types.ts';

/**
 * The Management API scopes of a person's own token (Auth0's "current user" scopes): each
 * acts only on the user that is the token's `sub`. A token issued to a person carries these
 * and nothing else.
 */
export const USER_SCOPES = ['read:current_user', 'update:current_user_identities', 'update:current_user_metadata'] as const;

/** The Management API scopes a client can be granted (Auth0's names). */
export const MANAGEMENT_SCOPES = [
  'read:users',
  'update:users',
  'create:users',
  'delete:users',
  'read:logs',
  'read:logs_users',
  'read:connections',
  ...USER_SCOPES,
] as const;

/** Auth0's grant names; `implicit` gives a client the implicit and hybrid response types (see response-types.ts). */
export const GRANT_TYPES = ['client_credentials', 'authorization_code', 'implicit', 'refresh_token'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

/**
 * Auth0's application types, as its dashboard names them: a single-page app is a public client
 * (no secret: `token_endpoint_auth_method: none`, PKCE required); a regular web app signs people
 * in with a secret; a machine-to-machine app only asks for client-credentials tokens.
 */
export type AppType = 'spa' | 'regular_web' | 'non_interactive';

export interface ClientSummary {
  client_id: string;
  name: string;
  app_type: AppType;
  token_endpoint_auth_method: 'client_secret_basic' | 'none';
  grant_types: GrantType[];
  scopes: string[];
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  web_origins: string[];
  /** Where the tenant sends OpenID Connect Back-Channel Logout tokens; null: none registered. */
  backchannel_logout_uri: string | null;
  created_at: string;
}

export interface CreateClientInput {
  name: string;
  /** A single-page app: a public client with no secret (Auth0's "Single Page Application"). */
  spa?: boolean;
  grantTypes: GrantType[];
  scopes: string[];
  redirectUris?: string[];
  /** Where RP-initiated logout may return to (Auth0's "Allowed Logout URLs"), matched exactly. */
  postLogoutRedirectUris?: string[];
  /** Origins whose pages may call the token and userinfo endpoints (CORS; Auth0's "Allowed Web Origins"). */
  webOrigins?: string[];
  /** OpenID Connect Back-Channel Logout: the client's endpoint for logout tokens (Auth0's "Back-Channel Logout URI"). */
  backchannelLogoutUri?: string | undefined;
}

/** A client that registered a back-channel logout URI: where an account's logout tokens go. */
export interface BackchannelClient {
  client_id: string;
  backchannel_logout_uri: string;
}

/**
 * Why `uri` cannot be a redirect target, or undefined if it can: an absolute http(s) URL
 * without a fragment (OpenID Connect forbids one, and oidc-provider would otherwise reject
 * the whole client at the first request instead of here).
 */
export function uriProblem(uri: string): string | undefined {
  if (!URL.canParse(uri)) return 'is not an absolute URL';
  const url = new URL(uri);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (uri.includes('#')) return 'must not contain a fragment (#…)';
  return undefined;
}

/**
 * Why `value` cannot be a web origin, or undefined if it can: `scheme://host[:port]` exactly as
 * browsers send it in `Origin` (http or https, lowercase host, no default port, no path, query,
 * fragment, credentials or trailing slash), so that it is compared with a plain string match.
 */
export function originProblem(value: string): string | undefined {
  if (!URL.canParse(value)) return 'is not an origin such as https://app.example.com';
  const url = new URL(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (url.origin !== value) return `is not an origin: give only scheme://host[:port], with no path or trailing slash (here ${url.origin})`;
  return undefined;
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

function appTypeOf(publicClient: boolean, grants: readonly GrantType[]): AppType {
  if (publicClient) return 'spa';
  return grants.includes('authorization_code') || grants.includes('implicit') ? 'regular_web' : 'non_interactive';
}

function toSummary(row: Schema['clients']): ClientSummary {
  const grants = JSON.parse(row.grant_types) as GrantType[];
  return {
    client_id: row.client_id,
    name: row.name,
    app_type: appTypeOf(row.secret_hash === null, grants),
    token_endpoint_auth_method: row.secret_hash === null ? 'none' : 'client_secret_basic',
    grant_types: grants,
    scopes: row.scopes.split(' ').filter(Boolean),
    redirect_uris: JSON.parse(row.redirect_uris) as string[],
    post_logout_redirect_uris: JSON.parse(row.post_logout_redirect_uris) as string[],
    web_origins: JSON.parse(row.web_origins) as string[],
    backchannel_logout_uri: row.backchannel_logout_uri,
    created_at: row.created_at,
  };
}

/** Checks the input and returns the columns it sets (everything but id, secret and creation time). */
function validatedColumns(input: CreateClientInput) {
  const unknown = input.scopes.filter((s) => !(MANAGEMENT_SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    throw tenantError('invalid_body', `Unknown scopes: ${unknown.join(', ')}. Known: ${MANAGEMENT_SCOPES.join(', ')}.`);
  }
  if (input.name.trim().length === 0) throw tenantError('invalid_body', 'A client needs a name.');
  if (input.spa) {
    // A public client cannot prove who it is at the token endpoint: no grant that rests on that.
    if (input.grantTypes.includes('client_credentials')) {
      throw tenantError(
        'invalid_body',
        'A single-page app has no secret, so it cannot use the client_credentials grant; create a machine-to-machine client for that.',
      );
    }
    if (input.scopes.length > 0) {
      throw tenantError(
        'invalid_body',
        'A single-page app cannot be granted Management API scopes; its users get their own scopes (read:current_user…) when they sign in.',
      );
    }
    if (!input.grantTypes.includes('authorization_code')) throw tenantError('invalid_body', 'A single-page app needs the authorization_code grant.');
    if ((input.redirectUris ?? []).length === 0) throw tenantError('invalid_body', 'A single-page app needs at least one callback URL (redirect URI).');
  }
  const uris = (list: string[] | undefined, what: string) => {
    for (const uri of list ?? []) {
      const problem = uriProblem(uri);
      if (problem) throw tenantError('invalid_body', `The ${what} "${uri}" ${problem}; give an absolute http(s) URL such as https://app.example.com/callback.`);
    }
    return JSON.stringify([...new Set(list ?? [])]);
  };
  for (const origin of input.webOrigins ?? []) {
    const problem = originProblem(origin);
    if (problem) throw tenantError('invalid_body', `The web origin "${origin}" ${problem}.`);
  }
  const backchannelProblem = input.backchannelLogoutUri === undefined ? undefined : uriProblem(input.backchannelLogoutUri);
  if (backchannelProblem) {
    throw tenantError(
      'invalid_body',
      `The back-channel logout URI "${input.backchannelLogoutUri}" ${backchannelProblem}; give an absolute http(s) URL such as https://app.example.com/backchannel-logout.`,
    );
  }
  return {
    name: input.name.trim(),
    grant_types: JSON.stringify([...new Set(input.grantTypes)]),
    scopes: [...new Set(input.scopes)].join(' '),
    redirect_uris: uris(input.redirectUris, 'redirect URI'),
    post_logout_redirect_uris: uris(input.postLogoutRedirectUris, 'logout URI'),
    web_origins: JSON.stringify([...new Set(input.webOrigins ?? [])]),
    backchannel_logout_uri: input.backchannelLogoutUri ?? null,
  };
}

export class ClientRegistry {
  /** A client by id, compiled once: oidc-provider reads its client on most requests of a sign-in. */
  readonly #byId;
  /** Compiled once too: every link of the Management API asks it (a linked secondary's sessions end). */
  readonly #backchannel;

  /**
   * @param committed where reads of committed data run at once (the tenant's database): the
   * back-channel recipients are read so, not queued behind the writes under way.
   */
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly committed?: Pick<Database, 'reader' | 'runNow'>,
  ) {
    this.#byId = prepareQuery(['clientId'], (p) => db.selectFrom('clients').selectAll().where('client_id', '=', p.clientId));
    this.#backchannel = prepareQuery([], () =>
      db.selectFrom('clients').select(['client_id', 'backchannel_logout_uri']).where('backchannel_logout_uri', 'is not', null).orderBy('client_id'),
    );
  }

  async #row(clientId: string) {
    return (await this.db.executeQuery(this.#byId({ clientId }))).rows[0];
  }

  /**
   * Creates a client; the secret is shown once, here, and stored only as a hash. A single-page
   * app gets none (`client_secret` is undefined).
   */
  create(input: CreateClientInput & { spa: true }): Promise<ClientSummary & { client_secret: undefined }>;
  create(input: CreateClientInput & { spa?: false }): Promise<ClientSummary & { client_secret: string }>;
  create(input: CreateClientInput): Promise<ClientSummary & { client_secret: string | undefined }>;
  async create(input: CreateClientInput): Promise<ClientSummary & { client_secret: string | undefined }> {
    return this.#insert(input, input.spa ? undefined : randomBytes(32).toString('base64url'));
  }

  async #insert<Secret extends string | undefined>(input: CreateClientInput, clientSecret: Secret): Promise<ClientSummary & { client_secret: Secret }> {
    const columns = validatedColumns(input);
    const row = {
      client_id: alphanumeric(32),
      ...columns,
      secret_hash: clientSecret === undefined ? null : hashClientSecret(clientSecret),
      first_party: 1,
      created_at: new Date().toISOString(),
    };
    await this.db.insertInto('clients').values(row).execute();
    return { ...toSummary(row), client_secret: clientSecret };
  }

  /**
   * Idempotent registration for development wiring: the client named `input.name` gets
   * exactly this configuration and a new secret (secrets are stored only hashed, so an
   * existing one cannot be handed out again; the old one stops working). Creates the client
   * if no client has this name; if several do, the oldest is the one kept up to date.
   */
  async provision(input: Omit<CreateClientInput, 'spa'>): Promise<ClientSummary & { client_secret: string }> {
    const columns = validatedColumns(input);
    const existing = await this.db
      .selectFrom('clients')
      .selectAll()
      .where('name', '=', columns.name)
      .orderBy('created_at')
      .orderBy('client_id')
      .executeTakeFirst();
    const clientSecret = randomBytes(32).toString('base64url');
    if (!existing) return this.#insert(input, clientSecret);
    const changes = { ...columns, secret_hash: hashClientSecret(clientSecret) };
    await this.db.updateTable('clients').set(changes).where('client_id', '=', existing.client_id).execute();
    return { ...toSummary({ ...existing, ...changes }), client_secret: clientSecret };
  }

  async list(): Promise<ClientSummary[]> {
    const rows = await this.db.selectFrom('clients').selectAll().orderBy('created_at').execute();
    return rows.map(toSummary);
  }

  /** Every client that registered a back-channel logout URI. */
  async backchannelClients(): Promise<BackchannelClient[]> {
    const query = this.#backchannel({});
    const { rows } = await (this.committed === undefined ? this.db.executeQuery(query) : executeNow(this.committed, this.committed.reader, query));
    return rows.map((row) => ({ client_id: row.client_id, backchannel_logout_uri: row.backchannel_logout_uri! }));
  }

  async get(clientId: string): Promise<ClientSummary | undefined> {
    const row = await this.#row(clientId);
    return row ? toSummary(row) : undefined;
  }

  /**
   * Whether any client lists `origin` among its web origins. A CORS preflight names no client,
   * so this is all it can be checked against; the request that follows is checked against its
   * own client's origins.
   */
  async isWebOrigin(origin: string): Promise<boolean> {
    // LIKE narrows the rows (its wildcards may match too much, never too little); the exact test is in JSON.
    const rows = await this.db
      .selectFrom('clients')
      .select('web_origins')
      .where('web_origins', 'like', `%${JSON.stringify(origin)}%`)
      .execute();
    return rows.some((row) => (JSON.parse(row.web_origins) as string[]).includes(origin));
  }

  /** A client's web origins; none for an unknown client. */
  async webOriginsOf(clientId: string): Promise<readonly string[]> {
    const row = await this.#row(clientId);
    return row ? (JSON.parse(row.web_origins) as string[]) : [];
  }

  /** The client as oidc-provider reads it; `client_secret` holds the hash (see compareClientSecret). */
  async asOidcMetadata(clientId: string): Promise<AdapterPayload | undefined> {
    const row = await this.#row(clientId);
    if (!row) return undefined;
    const grantTypes = JSON.parse(row.grant_types) as GrantType[];
    return {
      client_id: row.client_id,
      client_name: row.name,
      ...(row.secret_hash ? { client_secret: row.secret_hash } : {}),
      grant_types: grantTypes,
      response_types: responseTypesForGrants(grantTypes),
      redirect_uris: JSON.parse(row.redirect_uris) as string[],
      post_logout_redirect_uris: JSON.parse(row.post_logout_redirect_uris) as string[],
      web_origins: JSON.parse(row.web_origins) as string[],
      // With a back-channel URI the id_token carries `sid`, so a logout token naming one tenant
      // session (sign-out) finds the client's sessions of it.
      ...(row.backchannel_logout_uri ? { backchannel_logout_uri: row.backchannel_logout_uri, backchannel_logout_session_required: true } : {}),
      token_endpoint_auth_method: row.secret_hash ? 'client_secret_basic' : 'none',
      id_token_signed_response_alg: 'RS256',
      management_scopes: row.scopes,
    };
  }
}
