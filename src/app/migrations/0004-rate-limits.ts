import type { Kysely, Migration } from 'kysely';

export const createRateLimitHits: Migration = {
  async up(db: Kysely<any>) {
    // The link-attempt limit counted in the database (without Redis), so every app process shares it.
    await db.schema
      .createTable('app_rate_limit_hits')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('hits', 'integer', (c) => c.notNull())
      .addColumn('resets_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('app_rate_limit_hits_resets').on('app_rate_limit_hits').column('resets_at').execute();
  },
};
