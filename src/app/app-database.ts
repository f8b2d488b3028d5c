import type { ColumnType, Kysely, Migration } from 'kysely';
import { openDatabase, type Database, type DatabaseOptions } from '../platform/database.ts';
import { runMigrations, type MigrationReport } from '../platform/migrations.ts';
import type { RateLimitHitsTable } from '../platform/rate-limit-counters.ts';
import { sessionOwner } from './sessions/session-owner.ts';

export interface AppSessionsTable {
  sid: string;
  /** The express-session data, as JSON. */
  sess: string;
  /** Epoch milliseconds. PostgreSQL's bigint arrives as a string, so read it through Number(). */
  expires_at: ColumnType<number | string, number, number>;
  /** The signed-in user (the tenant's `sub`), so back-channel logout finds the user's sessions. */
  user_id: string | null;
  /** The tenant session (the id_token's `sid`) the sign-in came from. */
  tenant_sid: string | null;
  /** When the user signed in here, epoch milliseconds: a revocation ends sessions signed in before it. */
  signed_in_at: ColumnType<number | string | null, number | null, number | null>;
}

/**
 * The tenant ended the sessions of a user (`user:<sub>`) or of a tenant session (`sid:<sid>`):
 * every session signed in before `revoked_at` is over, including one written back afterwards by
 * a request that was already under way.
 */
export interface AppSessionRevocationsTable {
  key: string;
  revoked_at: ColumnType<number | string, number, number>;
  expires_at: ColumnType<number | string, number, number>;
}

/** Things that may happen once (a link proof confirmed, a logout token's jti), until `expires_at`. */
export interface AppClaimsTable {
  key: string;
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
  app_session_revocations: AppSessionRevocationsTable;
  app_claims: AppClaimsTable;
  /** Rate limits shared by every app process on PostgreSQL (see RateLimitCounters). */
  app_rate_limit_hits: RateLimitHitsTable;
}

export type AppDatabase = Database<AppSchema>;

/** The app's own tables; they may live in the tenant's database (and schema) beside its tables. */
export function openAppDatabase(options: DatabaseOptions): AppDatabase {
  return openDatabase<AppSchema>(options);
}

/** Migrations are code, listed in order; the same list serves SQLite and PostgreSQL. */
export const appMigrations: Record<string, Migration> = {
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
  '0002_session_owner': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('app_sessions').addColumn('user_id', 'text').execute();
      await db.schema.alterTable('app_sessions').addColumn('tenant_sid', 'text').execute();
      await db.schema.alterTable('app_sessions').addColumn('signed_in_at', 'bigint').execute();
      await db.schema.createIndex('app_sessions_user_id').on('app_sessions').column('user_id').execute();
      await db.schema.createIndex('app_sessions_tenant_sid').on('app_sessions').column('tenant_sid').execute();
      await db.schema.createTable('app_session_revocations')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('revoked_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      // Sessions from before this migration: their owner, so a back-channel logout finds them too.
      // Their sign-in time is unknown (null), so any revocation of their user ends them.
      for (let after = ''; ;) {
        const rows = await db.selectFrom('app_sessions').select(['sid', 'sess']).where('sid', '>', after).orderBy('sid').limit(500).execute() as { sid: string; sess: string }[];
        if (rows.length === 0) break;
        for (const row of rows) {
          const owner = sessionOwner(parseJson(row.sess));
          if (owner.userId) await db.updateTable('app_sessions').set({ user_id: owner.userId, tenant_sid: owner.tenantSid ?? null }).where('sid', '=', row.sid).execute();
        }
        after = rows[rows.length - 1]!.sid;
      }
    },
  },
  '0003_link_claims': {
    async up(db: Kysely<any>) {
      await db.schema.createTable('app_claims')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('app_claims_expires_at').on('app_claims').column('expires_at').execute();
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

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Brings the app's tables up to date, with bookkeeping tables of their own: Kysely's default
 * ones belong to the tenant's migrations, and a Migrator refuses to run when its table lists
 * migrations it does not know.
 */
export function migrateApp(database: AppDatabase): Promise<MigrationReport> {
  return runMigrations(database, appMigrations, { migrationTableName: 'app_migrations', migrationLockTableName: 'app_migrations_lock' });
}
