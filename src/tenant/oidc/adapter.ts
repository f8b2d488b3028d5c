import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Kysely, QueryResult } from 'kysely';
import type { Database, Schema } from '../tenant-database.ts';
import { prepareQuery } from '../../platform/prepared-query.ts';
import { epochSeconds } from '../../platform/time.ts';
import type { ClientRegistry } from '../clients/client-registry.ts';

/**
 * oidc-provider's statements, compiled once (see prepareQuery); the model is a parameter. The
 * lookups have no `limit`: Kysely binds it as a parameter, and SQLite re-plans a statement
 * whose LIMIT is bound each time it runs (docs/performance.md). Each finds one row: (model, id)
 * is the key, and uids and user codes are random and never reused.
 */
function adapterQueries(db: Kysely<Schema>) {
  const findBy = (column: 'id' | 'uid' | 'user_code') =>
    prepareQuery(['model', 'value'], (p) =>
      db.selectFrom('oidc_payloads').select(['payload', 'expires_at', 'consumed_at']).where('model', '=', p.model).where(column, '=', p.value),
    );
  return {
    upsert: prepareQuery(['model', 'id', 'payload', 'grant_id', 'user_code', 'uid', 'account_id', 'expires_at'], (p) =>
      db
        .insertInto('oidc_payloads')
        .values({ ...p, consumed_at: null })
        .onConflict((oc) =>
          oc.columns(['model', 'id']).doUpdateSet((eb) => ({
            payload: eb.ref('excluded.payload'),
            grant_id: eb.ref('excluded.grant_id'),
            user_code: eb.ref('excluded.user_code'),
            uid: eb.ref('excluded.uid'),
            account_id: eb.ref('excluded.account_id'),
            expires_at: eb.ref('excluded.expires_at'),
          })),
        ),
    ),
    findById: findBy('id'),
    findByUid: findBy('uid'),
    findByUserCode: findBy('user_code'),
    consume: prepareQuery(['model', 'id', 'at'], (p) =>
      db.updateTable('oidc_payloads').set({ consumed_at: p.at }).where('model', '=', p.model).where('id', '=', p.id),
    ),
    destroy: prepareQuery(['model', 'id'], (p) => db.deleteFrom('oidc_payloads').where('model', '=', p.model).where('id', '=', p.id)),
    revokeByGrantId: prepareQuery(['model', 'grantId'], (p) => db.deleteFrom('oidc_payloads').where('model', '=', p.model).where('grant_id', '=', p.grantId)),
  };
}

/**
 * oidc-provider's storage on Accord's database, so sessions, grants and codes survive a
 * restart and are shared by every tenant process. Clients come from the client registry.
 * A sign-in writes some ten of these rows; on SQLite they join the group commit.
 */
export function createAdapterFactory(database: Database, clients: ClientRegistry) {
  const { db, reader } = database;
  const queries = adapterQueries(db);
  return class DatabaseAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      await database.write(
        queries.upsert({
          model: this.model,
          id,
          payload: JSON.stringify(payload),
          grant_id: payload.grantId ?? null,
          user_code: payload.userCode ?? null,
          uid: payload.uid ?? null,
          account_id: payload.accountId ?? null,
          expires_at: expiresIn ? epochSeconds() + expiresIn : null,
        }),
      );
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return clients.asOidcMetadata(id);
      return this.#found(await reader.executeQuery(queries.findById({ model: this.model, value: id })));
    }

    async findByUserCode(userCode: string) {
      return this.#found(await reader.executeQuery(queries.findByUserCode({ model: this.model, value: userCode })));
    }

    async findByUid(uid: string) {
      return this.#found(await reader.executeQuery(queries.findByUid({ model: this.model, value: uid })));
    }

    async consume(id: string): Promise<void> {
      await database.write(queries.consume({ model: this.model, id, at: epochSeconds() }));
    }

    async destroy(id: string): Promise<void> {
      await database.write(queries.destroy({ model: this.model, id }));
    }

    // oidc-provider calls this once per token model. Other models carry the grant id too: an
    // Interaction that switches accounts revokes the old grant and must itself survive.
    async revokeByGrantId(grantId: string): Promise<void> {
      await database.write(queries.revokeByGrantId({ model: this.model, grantId }));
    }

    #found({ rows }: QueryResult<{ payload: string; expires_at: number | string | null; consumed_at: number | string | null }>): AdapterPayload | undefined {
      const row = rows[0];
      if (!row) return undefined;
      if (row.expires_at !== null && Number(row.expires_at) <= epochSeconds()) return undefined;
      const payload = JSON.parse(row.payload) as AdapterPayload;
      return row.consumed_at !== null ? { ...payload, consumed: Number(row.consumed_at) } : payload;
    }
  };
}
