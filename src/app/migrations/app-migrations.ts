import type { Migration } from 'kysely';
import { runMigrations, type MigrationReport } from '../../platform/migrations.ts';
import type { AppDatabase } from '../app-database.ts';
import { createAppTables } from './0001-app.ts';
import { addSessionOwners } from './0002-session-owner.ts';
import { createLinkClaims } from './0003-link-claims.ts';
import { createRateLimitHits } from './0004-rate-limits.ts';

/** The app's migrations, in order, one file each; the same list serves SQLite and PostgreSQL. */
export const appMigrations: Record<string, Migration> = {
  '0001_app': createAppTables,
  '0002_session_owner': addSessionOwners,
  '0003_link_claims': createLinkClaims,
  '0004_rate_limits': createRateLimitHits,
};

/**
 * Brings the app's tables up to date, with bookkeeping tables of their own: Kysely's default
 * ones belong to the tenant's migrations, and a Migrator refuses to run when its table lists
 * migrations it does not know.
 */
export function migrateApp(database: AppDatabase): Promise<MigrationReport> {
  return runMigrations(database, appMigrations, { migrationTableName: 'app_migrations', migrationLockTableName: 'app_migrations_lock' });
}
