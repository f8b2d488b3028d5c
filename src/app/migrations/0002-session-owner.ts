import type { Kysely, Migration } from 'kysely';
import { sessionOwner } from '../sessions/session-owner.ts';

export const addSessionOwners: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.alterTable('app_sessions').addColumn('user_id', 'text').execute();
    await db.schema.alterTable('app_sessions').addColumn('tenant_sid', 'text').execute();
    await db.schema.alterTable('app_sessions').addColumn('signed_in_at', 'bigint').execute();
    await db.schema.createIndex('app_sessions_user_id').on('app_sessions').column('user_id').execute();
    await db.schema.createIndex('app_sessions_tenant_sid').on('app_sessions').column('tenant_sid').execute();
    await db.schema
      .createTable('app_session_revocations')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('revoked_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    // Sessions from before this migration: their owner, so a back-channel logout finds them too.
    // Their sign-in time is unknown (null), so any revocation of their user ends them.
    for (let after = ''; ; ) {
      const rows = (await db.selectFrom('app_sessions').select(['sid', 'sess']).where('sid', '>', after).orderBy('sid').limit(500).execute()) as {
        sid: string;
        sess: string;
      }[];
      if (rows.length === 0) break;
      for (const row of rows) {
        const owner = sessionOwner(parseJson(row.sess));
        if (owner.userId)
          await db
            .updateTable('app_sessions')
            .set({ user_id: owner.userId, tenant_sid: owner.tenantSid ?? null })
            .where('sid', '=', row.sid)
            .execute();
      }
      after = rows[rows.length - 1]!.sid;
    }
  },
};

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
