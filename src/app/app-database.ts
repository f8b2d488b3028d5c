import type { ColumnType } from 'kysely';
import { openDatabase, type Database, type DatabaseOptions } from '../platform/database.ts';
import type { RateLimitHitsTable } from '../platform/rate-limit-counters.ts';

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
