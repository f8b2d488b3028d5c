import type { Kysely, Migration } from 'kysely';

export const addClientLogoutUris: Migration = {
  async up(db: Kysely<any>) {
    // Where RP-initiated logout (/oidc/logout, Auth0's /v2/logout) may send the browser back to.
    await db.schema
      .alterTable('clients')
      .addColumn('post_logout_redirect_uris', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
  },
};
