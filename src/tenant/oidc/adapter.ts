import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Kysely } from 'kysely';
import type { Schema } from '../../platform/database.ts';
import { epochSeconds } from '../../platform/time.ts';
import type { ClientRegistry } from '../clients/client-registry.ts';

/**
 * oidc-provider's storage on Accord's database, so sessions, grants and codes survive a
 * restart and are shared by every tenant process. Clients come from the client registry.
 */
export function createAdapterFactory(db: Kysely<Schema>, clients: ClientRegistry) {
  return class DatabaseAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const row = {
        model: this.model,
        id,
        payload: JSON.stringify(payload),
        grant_id: payload.grantId ?? null,
        user_code: payload.userCode ?? null,
        uid: payload.uid ?? null,
        account_id: payload.accountId ?? null,
        expires_at: expiresIn ? epochSeconds() + expiresIn : null,
        consumed_at: null,
      };
      await db.insertInto('oidc_payloads').values(row)
        .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet({
          payload: row.payload, grant_id: row.grant_id, user_code: row.user_code, uid: row.uid, account_id: row.account_id, expires_at: row.expires_at,
        })).execute();
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return clients.asOidcMetadata(id);
      return this.#findBy('id', id);
    }

    findByUserCode(userCode: string) {
      return this.#findBy('user_code', userCode);
    }

    findByUid(uid: string) {
      return this.#findBy('uid', uid);
    }

    async consume(id: string): Promise<void> {
      await db.updateTable('oidc_payloads').set({ consumed_at: epochSeconds() })
        .where('model', '=', this.model).where('id', '=', id).execute();
    }

    async destroy(id: string): Promise<void> {
      await db.deleteFrom('oidc_payloads').where('model', '=', this.model).where('id', '=', id).execute();
    }

    // oidc-provider calls this once per token model. Other models carry the grant id too: an
    // Interaction that switches accounts revokes the old grant and must itself survive.
    async revokeByGrantId(grantId: string): Promise<void> {
      await db.deleteFrom('oidc_payloads').where('model', '=', this.model).where('grant_id', '=', grantId).execute();
    }

    async #findBy(column: 'id' | 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
      const row = await db.selectFrom('oidc_payloads').select(['payload', 'expires_at', 'consumed_at'])
        .where('model', '=', this.model).where(column, '=', value).executeTakeFirst();
      if (!row) return undefined;
      if (row.expires_at !== null && Number(row.expires_at) <= epochSeconds()) return undefined;
      const payload = JSON.parse(row.payload) as AdapterPayload;
      return row.consumed_at !== null ? { ...payload, consumed: Number(row.consumed_at) } : payload;
    }
  };
}
