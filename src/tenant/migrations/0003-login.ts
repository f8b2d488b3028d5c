import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../../platform/database.ts';
import { autoIdTable } from '../../platform/migrations.ts';

export const createLoginTables = (dialect: Dialect): Migration => ({
  async up(db: Kysely<any>) {
    await autoIdTable(db, dialect, 'mail_outbox', 'id')
      .addColumn('to', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('text', 'text', (c) => c.notNull())
      .addColumn('html', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('login_tickets')
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
});
