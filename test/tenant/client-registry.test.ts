import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { ClientRegistry } from '../../src/tenant/clients/client-registry.ts';
import { testDatabases } from '../helpers/databases.ts';

for (const variant of testDatabases({ sqlite: 'file' })) {
  describe(`the clients' back-channel recipients [${variant.label}]`, () => {
    let database: Database;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ database, cleanup } = await variant.open());
    });
    after(async () => {
      await cleanup();
    });

    it('reads as committed the same recipients as through the database, and on SQLite does not wait behind a write under way', async () => {
      const committed = new ClientRegistry(database.db, database);
      const through = new ClientRegistry(database.db);
      const tag = `${Date.now()}`;
      for (const [i, uri] of ['https://a.example/bcl', undefined, 'https://b.example/bcl'].entries()) {
        await through.create({ name: `bcl-${tag}-${i}`, grantTypes: ['client_credentials'], scopes: ['read:users'], backchannelLogoutUri: uri });
      }
      const expected = await through.backchannelClients();
      assert.ok(expected.some((c) => c.backchannel_logout_uri === 'https://b.example/bcl'));
      assert.deepEqual(await committed.backchannelClients(), expected);

      // A write transaction held open: on a SQLite file the read is answered at once from what is committed.
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const writing = database.transact(() => held);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const waited = Symbol('waited');
      const answer = await Promise.race([committed.backchannelClients(), new Promise((resolve) => setTimeout(resolve, 1_000, waited))]);
      release();
      await writing;
      if (database.dialect === 'sqlite') assert.deepEqual(answer, expected);
      assert.deepEqual(await committed.backchannelClients(), expected);
    });
  });
}
