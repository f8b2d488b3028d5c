import { sql, type Kysely, type SqlBool } from 'kysely';
import type { Schema } from '../../platform/database.ts';

/** oidc-provider models that carry an `accountId`: what a signed-in account holds. */
const ACCOUNT_MODELS = ['Session', 'Grant', 'AccessToken', 'RefreshToken', 'AuthorizationCode'] as const;

/**
 * Ends everything an account holds at the OpenID Provider: its sessions (every browser is
 * signed out), grants, and the codes, access tokens and refresh tokens issued under them.
 * Used after a password reset, so whoever knew the old password loses what it gave them.
 *
 * Payloads are JSON text; a parameterized LIKE narrows the rows, then each payload is parsed
 * so only rows whose own `accountId` matches are deleted. Anything else issued under one of
 * the account's grants (whatever its model) goes too. Returns the number of rows deleted.
 */
export async function revokeAccountSessions(db: Kysely<Schema>, accountId: string): Promise<number> {
  const fragment = `"accountId":${JSON.stringify(accountId)}`;
  const pattern = `%${fragment.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
  return db.transaction().execute(async (trx) => {
    const rows = await trx.selectFrom('oidc_payloads').select(['model', 'id', 'payload', 'grant_id'])
      .where('model', 'in', [...ACCOUNT_MODELS])
      .where(sql<SqlBool>`${sql.ref('payload')} like ${pattern} escape '\\'`)
      .execute();
    const owned = rows.filter((row) => {
      try {
        return (JSON.parse(row.payload) as { accountId?: unknown }).accountId === accountId;
      } catch {
        return false;
      }
    });
    let deleted = 0;
    for (const row of owned) {
      const result = await trx.deleteFrom('oidc_payloads').where('model', '=', row.model).where('id', '=', row.id).executeTakeFirst();
      deleted += Number(result.numDeletedRows);
    }
    const grantIds = [...new Set(owned.flatMap((row) => (row.model === 'Grant' ? [row.id] : row.grant_id ? [row.grant_id] : [])))];
    if (grantIds.length > 0) {
      const result = await trx.deleteFrom('oidc_payloads').where('grant_id', 'in', grantIds).executeTakeFirst();
      deleted += Number(result.numDeletedRows);
    }
    return deleted;
  });
}
