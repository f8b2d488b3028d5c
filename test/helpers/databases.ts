import { openTenantDatabase, type Database } from '../../src/tenant/tenant-database.ts';
import { migrateTenant } from '../../src/tenant/migrations/tenant-migrations.ts';
import { databaseVariants, type DatabaseVariant } from './database-variants.ts';

/** A tenant database to run a suite on. */
export type TestDatabase = DatabaseVariant<Database>;

/** SQLite (in memory, or in a file) always; PostgreSQL too when DATABASE_URL is set (CI sets it). */
export function testDatabases(options: { sqlite?: 'memory' | 'file' } = {}): TestDatabase[] {
  return databaseVariants({ open: (o) => openTenantDatabase(o), migrate: migrateTenant }, { prefix: 'accord-test', ...options });
}
