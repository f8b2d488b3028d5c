import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { epochSeconds } from '../../src/platform/time.ts';
import { OidcPayloadPruner } from '../../src/tenant/oidc/payload-pruner.ts';
import { testDatabases } from '../helpers/databases.ts';

for (const variant of testDatabases()) {
  describe(`expired OpenID Provider state is deleted [${variant.label}]`, () => {
    let database: Database;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ database, cleanup } = await variant.open());
    });
    after(async () => {
      await cleanup();
    });

    it('deletes what has expired, keeps the rest, and runs at start', async () => {
      const now = epochSeconds();
      const row = (id: string, expiresAt: number | null) => ({
        model: 'Session',
        id,
        payload: '{}',
        grant_id: null,
        user_code: null,
        uid: null,
        account_id: null,
        expires_at: expiresAt,
        consumed_at: null,
      });
      await database.db
        .insertInto('oidc_payloads')
        .values([row('expired', now - 60), row('just-expired', now), row('live', now + 3600), row('no-expiry', null)])
        .execute();
      const ids = async () => (await database.db.selectFrom('oidc_payloads').select('id').orderBy('id').execute()).map((r) => r.id);

      const pruner = new OidcPayloadPruner(database, createLogger('silent'));
      assert.equal(await pruner.prune(), 2);
      assert.deepEqual(await ids(), ['live', 'no-expiry']);

      await database.db
        .insertInto('oidc_payloads')
        .values(row('expired-again', now - 1))
        .execute();
      pruner.start(60_000);
      for (let waited = 0; (await ids()).includes('expired-again') && waited < 2_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      await pruner.stop();
      assert.deepEqual(await ids(), ['live', 'no-expiry']);
    });
  });
}
