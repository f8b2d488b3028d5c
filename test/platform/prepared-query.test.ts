import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { prepareQuery } from '../../src/platform/prepared-query.ts';
import { testDatabases } from '../helpers/databases.ts';

for (const variant of testDatabases()) {
  describe(`prepareQuery [${variant.label}]`, () => {
    let database: Database;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ database, cleanup } = await variant.open());
    });
    after(async () => {
      await cleanup();
    });

    it("compiles once and runs with each call's values, keeping the fixed ones", async () => {
      const { db } = database;
      const insert = prepareQuery(['name', 'value'], (p) =>
        db.insertInto('tenant_secrets').values({ name: p.name, value: p.value, created_at: '2026-01-01T00:00:00.000Z' }),
      );
      const byName = prepareQuery(['name'], (p) => db.selectFrom('tenant_secrets').select(['value', 'created_at']).where('name', '=', p.name).limit(1));
      await db.executeQuery(insert({ name: 'prepared-a', value: 'one' }));
      await db.executeQuery(insert({ name: 'prepared-b', value: 'two' }));
      assert.deepEqual((await db.executeQuery(byName({ name: 'prepared-b' }))).rows, [{ value: 'two', created_at: '2026-01-01T00:00:00.000Z' }]);
      // Inside a transaction too, and a value that looks like SQL stays a value.
      await db.transaction().execute(async (trx) => {
        await trx.executeQuery(insert({ name: "x'); drop table users; --", value: 'three' }));
        assert.equal((await trx.executeQuery(byName({ name: "x'); drop table users; --" }))).rows[0]?.value, 'three');
      });
      assert.equal((await db.executeQuery(byName({ name: 'absent' }))).rows.length, 0);
    });

    it('refuses a placeholder that is not a bound parameter', () => {
      const { db } = database;
      assert.throws(
        () => prepareQuery(['name', 'unused'], (p) => db.selectFrom('tenant_secrets').selectAll().where('name', '=', p.name)),
        /"unused" is not a bound parameter/,
      );
      assert.throws(() => prepareQuery(['column'], (p) => db.selectFrom('tenant_secrets').select(p.column as 'name')), /"column" is not a bound parameter/);
    });
  });
}
