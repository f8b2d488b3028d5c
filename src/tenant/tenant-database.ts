import type { Generated } from 'kysely';
import { openDatabase, type Database as OpenedDatabase, type DatabaseOptions } from '../platform/database.ts';
import type { RateLimitHitsTable } from '../platform/rate-limit-counters.ts';

export interface UsersTable {
  user_id: string;
  connection: string;
  email: string | null;
  email_normalized: string | null;
  email_verified: number;
  name: string | null;
  given_name: string | null;
  family_name: string | null;
  nickname: string | null;
  picture: string | null;
  phone_number: string | null;
  phone_verified: number;
  blocked: number;
  user_metadata: string;
  app_metadata: string;
  created_at: string;
  updated_at: string;
  last_login: string | null;
  logins_count: number;
}

export interface IdentitiesTable {
  provider: string;
  user_id: string;
  owner_id: string;
  connection: string;
  is_social: number;
  is_main: number;
  profile_data: string | null;
  /**
   * The normalized email of a database or passwordless identity, unique per connection
   * (linked or not); null for upstream identities, whose provider owns uniqueness.
   */
  connection_email: string | null;
  linked_at: string;
}

export interface CredentialsTable {
  provider: string;
  user_id: string;
  password_hash: string;
  updated_at: string;
}

export interface LinkSnapshotsTable {
  id: Generated<number>;
  primary_id: string;
  provider: string;
  identity_user_id: string;
  snapshot: string;
  created_at: string;
}

export interface AuditEventsTable {
  seq: Generated<number>;
  log_id: string;
  date: string;
  type: string;
  description: string;
  actor: string | null;
  client_id: string | null;
  user_id: string | null;
  details: string;
}

export interface ClientsTable {
  client_id: string;
  name: string;
  secret_hash: string | null;
  grant_types: string;
  scopes: string;
  redirect_uris: string;
  /** JSON array of the URIs RP-initiated logout may return to. */
  post_logout_redirect_uris: string;
  /** JSON array of the origins allowed to call the token and userinfo endpoints from a browser (CORS). */
  web_origins: string;
  /** Where OpenID Connect Back-Channel Logout tokens are sent; null when the client registered none. */
  backchannel_logout_uri: string | null;
  first_party: number;
  created_at: string;
}

export interface OidcPayloadsTable {
  model: string;
  id: string;
  payload: string;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
  /** The account a session, grant or token belongs to, so revoking an account is one indexed delete. */
  account_id: string | null;
  expires_at: number | null;
  consumed_at: number | null;
}

export interface TenantSecretsTable {
  name: string;
  value: string;
  created_at: string;
}

export interface MailOutboxTable {
  id: Generated<number>;
  to: string;
  subject: string;
  text: string;
  html: string;
  created_at: string;
}

/** Single-use secrets sent by mail: email-verification links, password resets, login codes. */
export interface LoginTicketsTable {
  /** SHA-256 of the secret: the secret itself is only ever in the mail. */
  id: string;
  kind: string;
  connection: string;
  email_normalized: string;
  /** The identity it concerns, when one exists (`provider|user_id`). */
  identity: string | null;
  /** The login attempt (interaction uid) a code is bound to. */
  interaction_uid: string | null;
  attempts: number;
  expires_at: number;
  consumed_at: number | null;
  created_at: string;
}

/** The tenant's tables: its directory, its OpenID Provider's state, its mail and sign-in limits. */
export interface Schema {
  users: UsersTable;
  identities: IdentitiesTable;
  credentials: CredentialsTable;
  link_snapshots: LinkSnapshotsTable;
  audit_events: AuditEventsTable;
  clients: ClientsTable;
  oidc_payloads: OidcPayloadsTable;
  tenant_secrets: TenantSecretsTable;
  mail_outbox: MailOutboxTable;
  login_tickets: LoginTicketsTable;
  /** Sign-in rate limits shared by every tenant process (PostgreSQL; see RateLimitCounters). */
  rate_limit_hits: RateLimitHitsTable;
}

/** The tenant's database; the app's tables, when they share it, are typed by the app (AppSchema). */
export type Database = OpenedDatabase<Schema>;

export function openTenantDatabase(options: DatabaseOptions): Database {
  return openDatabase<Schema>(options);
}
