import type { Kysely, Migration } from 'kysely';

export const createRateLimitHits: Migration = {
  async up(db: Kysely<any>) {
    // Sign-in rate limits counted in the database, so every tenant process shares them.
    await db.schema
      .createTable('rate_limit_hits')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('hits', 'integer', (c) => c.notNull())
      .addColumn('resets_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('rate_limit_hits_resets').on('rate_limit_hits').column('resets_at').execute();
  },
};
