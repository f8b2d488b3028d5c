import type { Kysely, Migration } from 'kysely';

export const createLinkClaims: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('app_claims')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('app_claims_expires_at').on('app_claims').column('expires_at').execute();
  },
};
