import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Database, Dialect } from './database.ts';
import { isDependencyError } from './dependency-errors.ts';

/** Creates a table whose first column is an auto-incrementing integer key, on either dialect. */
export function autoIdTable(db: Kysely<any>, dialect: Dialect, table: string, column: string) {
  return dialect === 'postgres'
    ? db.schema.createTable(table).addColumn(column, 'bigserial', (c) => c.primaryKey())
    : db.schema.createTable(table).addColumn(column, 'integer', (c) => c.primaryKey().autoIncrement());
}

export interface MigrationReport {
  applied: string[];
}

/**
 * Runs a list of migrations, in the order of their names, to the latest; safe from several
 * processes (Kysely takes a lock). `tables` names the bookkeeping tables, so two lists (the
 * tenant's, the app's) can share a database. A failure says which of two things happened, as a
 * start-up's last words: the database could not be reached, or a named migration failed.
 */
export async function runMigrations(
  database: Database<any>,
  migrations: Record<string, Migration>,
  tables: { migrationTableName?: string; migrationLockTableName?: string } = {},
): Promise<MigrationReport> {
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  let outcome: Awaited<ReturnType<Migrator['migrateToLatest']>>;
  try {
    // On PostgreSQL, name the schema of Kysely's own tables: left unnamed, Kysely looks for them in
    // every schema and, finding another schema's, skips creating its own ("kysely_migration_lock does not exist").
    const migrationTableSchema =
      database.dialect === 'postgres' ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(database.db)).rows[0]?.schema : undefined;
    const migrator = new Migrator({ db: database.db, provider, ...tables, ...(migrationTableSchema ? { migrationTableSchema } : {}) });
    outcome = await migrator.migrateToLatest();
  } catch (err) {
    throw migrationFailure(err, undefined);
  }
  if (outcome.error) throw migrationFailure(outcome.error, outcome.results?.find((r) => r.status === 'Error')?.migrationName);
  return { applied: (outcome.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}

/** Thrown when the schema cannot be brought up to date; its message is meant for an operator. */
export class MigrationError extends Error {}

function migrationFailure(err: unknown, migrationName: string | undefined): MigrationError {
  const reason = err instanceof Error ? err.message : String(err);
  // A statement timeout is PostgreSQL answering, not an outage: the migration ran too long.
  const timedOut = (err as { code?: unknown } | null)?.code === '57014';
  if (isDependencyError(err) && !timedOut) {
    return new MigrationError(
      `the database could not be reached (${reason}). Check DATABASE_URL (APP_DATABASE_URL for the app), that PostgreSQL is running, and DB_CONNECT_TIMEOUT_MS.`,
      { cause: err },
    );
  }
  const what = migrationName ? `the database migration ${migrationName}` : 'the database migrations';
  return new MigrationError(`${what} failed: ${reason}${timedOut ? ' (DB_STATEMENT_TIMEOUT_MS)' : ''}`, { cause: err });
}
