import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Database } from './database.ts';

/** Migrations are code, listed in order; the same list serves SQLite and PostgreSQL. */
function migrations(dialect: Database['dialect']): Record<string, Migration> {
  const autoId = (db: Kysely<any>, table: string, column: string) =>
    dialect === 'postgres'
      ? db.schema.createTable(table).addColumn(column, 'bigserial', (c) => c.primaryKey())
      : db.schema.createTable(table).addColumn(column, 'integer', (c) => c.primaryKey().autoIncrement());
  return {
    '0001_directory': {
      async up(db: Kysely<any>) {
        await db.schema.createTable('users')
          .addColumn('user_id', 'text', (c) => c.primaryKey())
          .addColumn('connection', 'text', (c) => c.notNull())
          .addColumn('email', 'text')
          .addColumn('email_normalized', 'text')
          .addColumn('email_verified', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('name', 'text')
          .addColumn('given_name', 'text')
          .addColumn('family_name', 'text')
          .addColumn('nickname', 'text')
          .addColumn('picture', 'text')
          .addColumn('phone_number', 'text')
          .addColumn('phone_verified', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('blocked', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('user_metadata', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('app_metadata', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('last_login', 'text')
          .addColumn('logins_count', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema.createIndex('users_email_normalized').on('users').column('email_normalized').execute();
        await db.schema.createIndex('users_created_at').on('users').columns(['created_at', 'user_id']).execute();

        await db.schema.createTable('identities')
          .addColumn('provider', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('owner_id', 'text', (c) => c.notNull().references('users.user_id').onDelete('cascade'))
          .addColumn('connection', 'text', (c) => c.notNull())
          .addColumn('is_social', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('is_main', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('profile_data', 'text')
          .addColumn('connection_email', 'text')
          .addColumn('linked_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('identities_pk', ['provider', 'user_id'])
          .execute();
        await db.schema.createIndex('identities_owner').on('identities').column('owner_id').execute();
        await db.schema.createIndex('identities_connection_email').on('identities').columns(['connection', 'connection_email']).unique().execute();
        // Every user owns exactly one main identity: enforced by the database, not only by code.
        await db.schema.createIndex('identities_one_main').on('identities').column('owner_id').unique()
          .where(sql.ref('is_main'), '=', 1).execute();

        await db.schema.createTable('credentials')
          .addColumn('provider', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('credentials_pk', ['provider', 'user_id'])
          .addForeignKeyConstraint('credentials_identity', ['provider', 'user_id'], 'identities', ['provider', 'user_id'], (c) => c.onDelete('cascade'))
          .execute();

        await autoId(db, 'link_snapshots', 'id')
          .addColumn('primary_id', 'text', (c) => c.notNull())
          .addColumn('provider', 'text', (c) => c.notNull())
          .addColumn('identity_user_id', 'text', (c) => c.notNull())
          .addColumn('snapshot', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('link_snapshots_identity').on('link_snapshots').columns(['provider', 'identity_user_id']).execute();
        await db.schema.createIndex('link_snapshots_primary').on('link_snapshots').column('primary_id').execute();

        await autoId(db, 'audit_events', 'seq')
          .addColumn('log_id', 'text', (c) => c.notNull().unique())
          .addColumn('date', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('actor', 'text')
          .addColumn('client_id', 'text')
          .addColumn('user_id', 'text')
          .addColumn('details', 'text', (c) => c.notNull().defaultTo('{}'))
          .execute();
        await db.schema.createIndex('audit_events_user').on('audit_events').columns(['user_id', 'seq']).execute();
      },
    },
    '0002_tenant': {
      async up(db: Kysely<any>) {
        await db.schema.createTable('clients')
          .addColumn('client_id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('secret_hash', 'text')
          .addColumn('grant_types', 'text', (c) => c.notNull())
          .addColumn('scopes', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('redirect_uris', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('first_party', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema.createTable('oidc_payloads')
          .addColumn('model', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('grant_id', 'text')
          .addColumn('user_code', 'text')
          .addColumn('uid', 'text')
          .addColumn('expires_at', 'bigint')
          .addColumn('consumed_at', 'bigint')
          .addPrimaryKeyConstraint('oidc_payloads_pk', ['model', 'id'])
          .execute();
        await db.schema.createIndex('oidc_payloads_grant').on('oidc_payloads').column('grant_id').execute();
        await db.schema.createIndex('oidc_payloads_uid').on('oidc_payloads').column('uid').execute();
        await db.schema.createIndex('oidc_payloads_user_code').on('oidc_payloads').column('user_code').execute();

        await db.schema.createTable('tenant_secrets')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0003_login': {
      async up(db: Kysely<any>) {
        await autoId(db, 'mail_outbox', 'id')
          .addColumn('to', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('text', 'text', (c) => c.notNull())
          .addColumn('html', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createTable('login_tickets')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('connection', 'text', (c) => c.notNull())
          .addColumn('email_normalized', 'text', (c) => c.notNull())
          .addColumn('identity', 'text')
          .addColumn('interaction_uid', 'text')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('consumed_at', 'bigint')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.alterTable('oidc_payloads').addColumn('account_id', 'text').execute();
        await db.schema.createIndex('oidc_payloads_account').on('oidc_payloads').column('account_id').execute();
        await db.schema.createIndex('login_tickets_lookup').on('login_tickets').columns(['kind', 'connection', 'email_normalized']).execute();
      },
    },
    '0004_client_logout_uris': {
      async up(db: Kysely<any>) {
        // Where RP-initiated logout (/oidc/logout, Auth0's /v2/logout) may send the browser back to.
        await db.schema.alterTable('clients')
          .addColumn('post_logout_redirect_uris', 'text', (c) => c.notNull().defaultTo('[]')).execute();
      },
    },
    '0005_oidc_payload_expiry': {
      async up(db: Kysely<any>) {
        // Expired OpenID Provider state is deleted in the background (OidcPayloadPruner).
        await db.schema.createIndex('oidc_payloads_expires').on('oidc_payloads').column('expires_at').execute();
      },
    },
    '0006_rate_limits': {
      async up(db: Kysely<any>) {
        // Sign-in rate limits counted in the database, so every tenant process shares them.
        await db.schema.createTable('rate_limit_hits')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('hits', 'integer', (c) => c.notNull())
          .addColumn('resets_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('rate_limit_hits_resets').on('rate_limit_hits').column('resets_at').execute();
      },
    },
    '0007_client_backchannel_logout': {
      async up(db: Kysely<any>) {
        // OpenID Connect Back-Channel Logout: where the tenant tells a client that a user's sessions ended.
        await db.schema.alterTable('clients').addColumn('backchannel_logout_uri', 'text').execute();
      },
    },
    '0008_client_web_origins': {
      async up(db: Kysely<any>) {
        // The origins a browser app of the client may call the token and userinfo endpoints from
        // (CORS; Auth0's "Allowed Web Origins"): a JSON array, like redirect_uris.
        await db.schema.alterTable('clients')
          .addColumn('web_origins', 'text', (c) => c.notNull().defaultTo('[]')).execute();
      },
    },
  };
}

class CodeMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: Database['dialect']) {}
  async getMigrations() {
    return migrations(this.dialect);
  }
}

export interface MigrationReport {
  applied: string[];
}

/**
 * Runs a list of migrations to the latest; safe from several processes (Kysely takes a lock).
 * `tables` names the bookkeeping tables, so two lists (the tenant's, the app's) can share a database.
 */
export async function runMigrations(
  database: Database<any>, provider: MigrationProvider, tables: { migrationTableName?: string; migrationLockTableName?: string } = {},
): Promise<MigrationReport> {
  // On PostgreSQL, name the schema of Kysely's own tables: left unnamed, Kysely looks for them in
  // every schema and, finding another schema's, skips creating its own ("kysely_migration_lock does not exist").
  const migrationTableSchema = database.dialect === 'postgres'
    ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(database.db)).rows[0]?.schema
    : undefined;
  const migrator = new Migrator({ db: database.db, provider, ...tables, ...(migrationTableSchema ? { migrationTableSchema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}

/** Brings the tenant's schema up to date. */
export function migrateToLatest(database: Database): Promise<MigrationReport> {
  return runMigrations(database, new CodeMigrationProvider(database.dialect));
}
