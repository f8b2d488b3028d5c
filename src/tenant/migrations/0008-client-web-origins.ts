import type { Kysely, Migration } from 'kysely';

export const addClientWebOrigins: Migration = {
  async up(db: Kysely<any>) {
    // The origins a browser app of the client may call the token and userinfo endpoints from
    // (CORS; Auth0's "Allowed Web Origins"): a JSON array, like redirect_uris.
    await db.schema
      .alterTable('clients')
      .addColumn('web_origins', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
  },
};
