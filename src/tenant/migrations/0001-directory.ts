import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../../platform/database.ts';
import { autoIdTable } from '../../platform/migrations.ts';

export const createDirectoryTables = (dialect: Dialect): Migration => ({
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('users')
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

    await db.schema
      .createTable('identities')
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
    await db.schema.createIndex('identities_one_main').on('identities').column('owner_id').unique().where(sql.ref('is_main'), '=', 1).execute();

    await db.schema
      .createTable('credentials')
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('credentials_pk', ['provider', 'user_id'])
      .addForeignKeyConstraint('credentials_identity', ['provider', 'user_id'], 'identities', ['provider', 'user_id'], (c) => c.onDelete('cascade'))
      .execute();

    await autoIdTable(db, dialect, 'link_snapshots', 'id')
      .addColumn('primary_id', 'text', (c) => c.notNull())
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('identity_user_id', 'text', (c) => c.notNull())
      .addColumn('snapshot', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('link_snapshots_identity').on('link_snapshots').columns(['provider', 'identity_user_id']).execute();
    await db.schema.createIndex('link_snapshots_primary').on('link_snapshots').column('primary_id').execute();

    await autoIdTable(db, dialect, 'audit_events', 'seq')
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
});
