import type { Kysely, Migration } from 'kysely';

export const addClientBackchannelLogout: Migration = {
  async up(db: Kysely<any>) {
    // OpenID Connect Back-Channel Logout: where the tenant tells a client that a user's sessions ended.
    await db.schema.alterTable('clients').addColumn('backchannel_logout_uri', 'text').execute();
  },
};
