import type { Kysely, Migration } from 'kysely';

export const createAppTables: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('app_sessions')
      .addColumn('sid', 'text', (c) => c.primaryKey())
      .addColumn('sess', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('app_sessions_expires_at').on('app_sessions').column('expires_at').execute();

    await db.schema
      .createTable('app_kept_separate')
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('candidate_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('app_kept_separate_pk', ['user_id', 'candidate_id'])
      .execute();
  },
};
