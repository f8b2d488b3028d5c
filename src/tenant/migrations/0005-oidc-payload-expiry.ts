import type { Kysely, Migration } from 'kysely';

export const indexOidcPayloadExpiry: Migration = {
  async up(db: Kysely<any>) {
    // Expired OpenID Provider state is deleted in the background (OidcPayloadPruner).
    await db.schema.createIndex('oidc_payloads_expires').on('oidc_payloads').column('expires_at').execute();
  },
};
