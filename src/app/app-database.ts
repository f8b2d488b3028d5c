import type { ColumnType, Kysely, Migration, MigrationProvider } from 'kysely';
import { openDatabase, type Database, type DatabaseOptions, type RateLimitHitsTable } from '../platform/database.ts';
import { runMigrations, type MigrationReport } from '../platform/migrations.ts';

export interface AppSessionsTable {
  sid: string;
  /** The express-session data, as JSON. */
  sess: string;
  /** Epoch milliseconds. PostgreSQL's bigint arrives as a string, so read it through Number(). */
  expires_at: ColumnType<number | string, number, number>;
}

/** A user chose "keep separate" for a suggested candidate account: not suggested again. */
export interface AppKeptSeparateTable {
  user_id: string;
  candidate_id: string;
  created_at: string;
}

export interface AppSchema {
  app_sessions: AppSessionsTable;
  app_kept_separate: AppKeptSeparateTable;
  /** Rate limits shared by every app process on PostgreSQL (see RateLimitCounters). */
  app_rate_limit_hits: RateLimitHitsTable;
}

export type AppDatabase = Database<AppSchema>;

/** The app's own tables; they may live in the tenant's database (and schema) beside its tables. */
export function openAppDatabase(options: DatabaseOptions): AppDatabase {
  return openDatabase<AppSchema>(options);
}

/** Migrations are code, listed in order; the same list serves SQLite and PostgreSQL. */
const migrations: Record<string, Migration> = {
  '0001_app': {
    async up(db: Kysely<any>) {
      await db.schema.createTable('app_sessions')
        .addColumn('sid', 'text', (c) => c.primaryKey())
        .addColumn('sess', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('app_sessions_expires_at').on('app_sessions').column('expires_at').execute();

      await db.schema.createTable('app_kept_separate')
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('candidate_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('app_kept_separate_pk', ['user_id', 'candidate_id'])
        .execute();
    },
  },
  '0004_rate_limits': {
    async up(db: Kysely<any>) {
      // The link-attempt limit counted in the database (without Redis), so every app process shares it.
      await db.schema.createTable('app_rate_limit_hits')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('hits', 'integer', (c) => c.notNull())
        .addColumn('resets_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('app_rate_limit_hits_resets').on('app_rate_limit_hits').column('resets_at').execute();
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * Brings the app's tables up to date, with bookkeeping tables of their own: Kysely's default
 * ones belong to the tenant's migrations, and a Migrator refuses to run when its table lists
 * migrations it does not know.
 */
export function migrateApp(database: AppDatabase): Promise<MigrationReport> {
  return runMigrations(database, provider, { migrationTableName: 'app_migrations', migrationLockTableName: 'app_migrations_lock' });
}
