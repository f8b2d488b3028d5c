import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { prepareQuery, statementNameOf } from '../../src/platform/prepared-query.ts';
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

    it('a query with a statement name is known by it, and runs again and again with new values (kept prepared on PostgreSQL)', async () => {
      const { db } = database;
      const insert = prepareQuery(['name', 'value'], (p) =>
        db.insertInto('tenant_secrets').values({ name: p.name, value: p.value, created_at: '2026-01-01T00:00:00.000Z' }),
      );
      const byName = prepareQuery(['name'], (p) => db.selectFrom('tenant_secrets').select(['value']).where('name', '=', p.name), {
        statementName: 'accord_test_secret_by_name',
      });
      assert.equal(statementNameOf(byName({ name: 'any' }).sql), 'accord_test_secret_by_name');
      assert.equal(statementNameOf(insert({ name: 'n', value: 'v' }).sql), undefined);
      for (const name of ['named-a', 'named-b', 'named-c']) await db.executeQuery(insert({ name, value: name.toUpperCase() }));
      for (let round = 0; round < 3; round++) {
        for (const name of ['named-a', 'named-b', 'named-c', 'named-absent']) {
          const expected = name === 'named-absent' ? [] : [{ value: name.toUpperCase() }];
          assert.deepEqual((await db.executeQuery(byName({ name }))).rows, expected);
          await db.transaction().execute(async (trx) => {
            assert.deepEqual((await trx.executeQuery(byName({ name }))).rows, expected);
            if (database.dialect === 'postgres') {
              // Prepared on this connection under its name, by the query just run.
              const { rows } = await sql<{ name: string }>`select name from pg_prepared_statements where name = 'accord_test_secret_by_name'`.execute(trx);
              assert.equal(rows.length, 1);
            }
          });
        }
      }
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
