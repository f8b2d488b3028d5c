import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Database, Dialect } from './database.ts';

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
 * tenant's, the app's) can share a database.
 */
export async function runMigrations(
  database: Database<any>,
  migrations: Record<string, Migration>,
  tables: { migrationTableName?: string; migrationLockTableName?: string } = {},
): Promise<MigrationReport> {
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  // On PostgreSQL, name the schema of Kysely's own tables: left unnamed, Kysely looks for them in
  // every schema and, finding another schema's, skips creating its own ("kysely_migration_lock does not exist").
  const migrationTableSchema =
    database.dialect === 'postgres' ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(database.db)).rows[0]?.schema : undefined;
  const migrator = new Migrator({ db: database.db, provider, ...tables, ...(migrationTableSchema ? { migrationTableSchema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
