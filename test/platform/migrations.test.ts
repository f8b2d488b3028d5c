/**
 * A schema that cannot be brought up to date ends a start in words an operator can act on:
 * the database could not be reached, or which migration failed and why.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { migrateApp } from '../../src/app/migrations/app-migrations.ts';
import { openAppDatabase } from '../../src/app/app-database.ts';
import { MigrationError } from '../../src/platform/migrations.ts';
import { migrateTenant } from '../../src/tenant/migrations/tenant-migrations.ts';
import { openTenantDatabase } from '../../src/tenant/tenant-database.ts';
import { adminQuery } from '../helpers/database-variants.ts';

const url = process.env.DATABASE_URL;
const postgres = url !== undefined && /^postgres(ql)?:\/\//.test(url);

describe('migrations that cannot run', () => {
  it('a PostgreSQL that refuses connections: the database could not be reached, and what to check', async () => {
    const database = openTenantDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:1/accord', timeouts: { connectTimeoutMs: 500 } });
    try {
      await assert.rejects(migrateTenant(database), (err: Error) => {
        assert.ok(err instanceof MigrationError);
        assert.match(err.message, /^the database could not be reached \(connect ECONNREFUSED 127\.0\.0\.1:1\)\. Check DATABASE_URL/);
        return true;
      });
    } finally {
      await database.close();
    }
  });

  it('a table in the way on SQLite: names the migration that failed and why', async () => {
    const database = openAppDatabase({});
    try {
      await database.db.schema.createTable('app_sessions').addColumn('x', 'integer').execute();
      await assert.rejects(migrateApp(database), (err: Error) => {
        assert.ok(err instanceof MigrationError);
        assert.match(err.message, /^the database migration 0001_app failed: table "?app_sessions"? already exists/);
        return true;
      });
    } finally {
      await database.close();
    }
  });

  it('a table in the way on PostgreSQL: names the migration that failed and leaves the schema as it was', {
    skip: postgres ? false : 'DATABASE_URL is not set',
  }, async () => {
    const schema = `accord_migfail_${randomBytes(5).toString('hex')}`;
    await adminQuery(url!, `create schema ${schema}; create table ${schema}.users (x int)`);
    const database = openTenantDatabase({ databaseUrl: url, pgSchema: schema });
    try {
      await assert.rejects(migrateTenant(database), /^Error: the database migration 0001_directory failed: relation "users" already exists$/);
      const tables = await database.db.introspection.getTables();
      assert.deepEqual(
        // Other suites' schemas live on the same server at the same time: only this one's count.
        tables.filter((t) => t.schema === schema).map((t) => t.name),
        ['users'],
        'nothing of the failed start was applied',
      );
    } finally {
      await database.close();
      await adminQuery(url!, `drop schema ${schema} cascade`);
    }
  });
});
