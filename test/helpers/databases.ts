import { openDatabase, type Database } from '../../src/platform/database.ts';
import { migrateToLatest } from '../../src/platform/migrations.ts';
import { databaseVariants, type DatabaseVariant } from './database-variants.ts';

/** A tenant database to run a suite on. */
export type TestDatabase = DatabaseVariant<Database>;

/** SQLite (in memory, or in a file) always; PostgreSQL too when DATABASE_URL is set (CI sets it). */
export function testDatabases(options: { sqlite?: 'memory' | 'file' } = {}): TestDatabase[] {
  return databaseVariants({ open: (o) => openDatabase(o), migrate: migrateToLatest }, { prefix: 'accord-test', ...options });
}
