/**
 * Migrations read the catalog to find their own tables. On a PostgreSQL server that others use
 * too (other applications, other Accords, other test suites in their own schemas) those reads
 * must not fail because someone else dropped a schema at that moment, and must not see other
 * schemas' tables as this one's.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PostgresIntrospector, sql, type Kysely } from 'kysely';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/platform/database.ts';
import { migrateTenant } from '../../src/tenant/migrations/tenant-migrations.ts';
import { openTenantDatabase } from '../../src/tenant/tenant-database.ts';
import { adminQuery } from '../helpers/database-variants.ts';

const url = process.env.DATABASE_URL;
const postgres = url !== undefined && /^postgres(ql)?:\/\//.test(url);

/** Until stopped: creates a schema with tables and drops it again, as other users of the server do. */
function churnSchemas(prefix: string): { stop(): Promise<number> } {
  const client = new pg.Client({ connectionString: url });
  let stopped = false;
  let rounds = 0;
  const running = (async () => {
    await client.connect();
    try {
      while (!stopped) {
        const schema = `${prefix}_${rounds++}`;
        await client.query(
          `create schema ${schema}; create table ${schema}.t1 (id serial primary key, a text); create table ${schema}.t2 (id serial primary key)`,
        );
        await client.query(`drop schema ${schema} cascade`);
      }
    } finally {
      await client.end();
    }
  })();
  return {
    async stop() {
      stopped = true;
      await running;
      return rounds;
    },
  };
}

describe('the PostgreSQL introspector migrations use', { skip: postgres ? false : 'DATABASE_URL is not set' }, () => {
  const schema = `accord_introspect_${randomBytes(5).toString('hex')}`;
  let database: Database<any>;

  before(async () => {
    await adminQuery(
      url!,
      `create schema ${schema};
       create table ${schema}.people (id serial primary key, name text not null default 'x', note text, made bigint generated always as identity);
       comment on column ${schema}.people.note is 'free text';
       create view ${schema}.names as select name from ${schema}.people;
       create schema ${schema}_other;
       create table ${schema}_other.elsewhere (id serial primary key)`,
    );
    database = openDatabase({ databaseUrl: url, pgSchema: schema });
  });
  after(async () => {
    await database.close();
    await adminQuery(url!, `drop schema if exists ${schema} cascade; drop schema if exists ${schema}_other cascade`);
  });

  it("describes its own schema's tables and views as Kysely's own introspector does, and no other schema's", async () => {
    const kyselys = (await new PostgresIntrospector(database.db as Kysely<any>).getTables()).filter((t) => t.schema === schema);
    const ours = await database.db.introspection.getTables();
    assert.deepEqual(ours, kyselys);
    assert.ok(!ours.some((t) => t.name === 'elsewhere'), "another schema's table is not this one's");
    assert.deepEqual(
      ours.map((t) => [t.name, t.isView, t.columns.map((c) => [c.name, c.isAutoIncrementing, c.isNullable, c.hasDefaultValue])]),
      [
        ['names', true, [['name', false, true, false]]],
        [
          'people',
          false,
          [
            ['id', true, false, true],
            ['name', false, false, true],
            ['note', false, true, false],
            ['made', true, false, false],
          ],
        ],
      ],
    );
    assert.ok((await database.db.introspection.getSchemas()).some((s) => s.name === schema));
  });

  it('reads the catalog and migrates while other schemas are created and dropped on the same server', async () => {
    const churn = churnSchemas(`accord_churn_${randomBytes(4).toString('hex')}`);
    const kyselys = new PostgresIntrospector(database.db as Kysely<any>);
    let ourReads = 0;
    let kyselyFailures = 0;
    const migrated: string[] = [];
    try {
      // Bounded: until Kysely's own introspector has failed a few times under the churn (so the
      // race is real here), or a few seconds.
      const until = Date.now() + 8_000;
      while (Date.now() < until && (kyselyFailures < 3 || ourReads < 200)) {
        await database.db.introspection.getTables({ withInternalKyselyTables: true });
        ourReads++;
        await kyselys.getTables({ withInternalKyselyTables: true }).catch((err: Error) => {
          assert.match(err.message, /does not exist/);
          kyselyFailures++;
        });
      }
      for (let i = 0; i < 3; i++) {
        const fresh = `accord_introspect_m_${randomBytes(5).toString('hex')}`;
        await adminQuery(url!, `create schema ${fresh}`);
        const tenant = openTenantDatabase({ databaseUrl: url, pgSchema: fresh });
        try {
          assert.ok((await migrateTenant(tenant)).applied.includes('0001_directory'));
          assert.ok((await sql<{ n: number }>`select count(*)::int as n from users`.execute(tenant.db)).rows[0]!.n === 0);
          migrated.push(fresh);
        } finally {
          await tenant.close();
          await adminQuery(url!, `drop schema ${fresh} cascade`);
        }
      }
    } finally {
      await churn.stop();
    }
    assert.ok(kyselyFailures > 0, "the churn raced Kysely's own introspector (else this test proves nothing)");
    assert.ok(ourReads >= 1);
    assert.equal(migrated.length, 3);
  });
});
