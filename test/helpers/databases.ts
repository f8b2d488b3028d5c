import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/platform/database.ts';
import { migrateToLatest } from '../../src/platform/migrations.ts';

export interface TestDatabase {
  label: 'sqlite' | 'postgres';
  /** Opens a fresh, migrated, empty database; `cleanup` drops it. */
  open(): Promise<{ database: Database; cleanup(): Promise<void> }>;
}

const sqlite: TestDatabase = {
  label: 'sqlite',
  async open() {
    const database = openDatabase({ sqliteFile: ':memory:' });
    await migrateToLatest(database);
    return { database, cleanup: () => database.close() };
  },
};

function postgres(url: string): TestDatabase {
  return {
    label: 'postgres',
    async open() {
      // Each test gets its own schema, so suites can run side by side on one server.
      const schema = `accord_test_${randomBytes(6).toString('hex')}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`create schema ${schema}`);
      await admin.end();
      const database = openDatabase({ databaseUrl: url, pgSchema: schema });
      const cleanup = async () => {
        await database.close();
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query(`drop schema ${schema} cascade`);
        await c.end();
      };
      try {
        await migrateToLatest(database);
      } catch (err) {
        await cleanup();
        throw err;
      }
      return { database, cleanup };
    },
  };
}

let reported = false;

/** SQLite always; PostgreSQL too when DATABASE_URL is set (CI sets it). */
export function testDatabases(): TestDatabase[] {
  const url = process.env.DATABASE_URL;
  if (url && /^postgres(ql)?:\/\//.test(url)) return [sqlite, postgres(url)];
  if (!reported) {
    reported = true;
    console.log('# PostgreSQL variants skipped: DATABASE_URL is not set (set DATABASE_URL=postgres://… to run them).');
  }
  return [sqlite];
}
