import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, type CompiledQuery, type QueryResult, type SqliteDatabase, type Transaction } from 'kysely';
import type { Logger } from './logger.ts';
import { OwnSchemaPostgresDialect } from './postgres-introspector.ts';
import { createPostgresPool, type PostgresTimeouts } from './postgres-pool.ts';
import { startBackgroundCheckpoints } from './sqlite-checkpoints.ts';
import { TransactionBatcher } from './transaction-batcher.ts';

export type Dialect = 'sqlite' | 'postgres';

/** A database of schema `S`: each half opens its own (the tenant's `Schema`, the app's `AppSchema`) through the same code. */
export interface Database<S> {
  db: Kysely<S>;
  /**
   * For reads outside a transaction: they see what is committed. On a SQLite file they run on
   * the writer's connection while it has no transaction open, and on a connection of their own
   * while it has, so they never wait behind it (see committedReads). Elsewhere, `db`.
   */
  reader: Kysely<S>;
  dialect: Dialect;
  /**
   * Runs `work` in a transaction. On SQLite, writes that queue meanwhile share one transaction
   * and one commit (see TransactionBatcher); on PostgreSQL each has its own.
   */
  transact<T>(work: (trx: Transaction<S>) => Promise<T>): Promise<T>;
  /** Runs one writing statement: on SQLite in the shared transaction, on PostgreSQL on its own. */
  write<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
  /**
   * SQLite only: runs a compiled query at once and returns what Kysely's `executeQuery` would
   * resolve to, without the promises Kysely makes per statement (its connection mutex, executor
   * and result chain: more CPU than a short statement itself, see docs/performance.md).
   * `inTransaction` runs on the writer's connection, for a query of a transaction open on it
   * (the caller's work must be inside `transact`); `committed` reads as `reader` does, or
   * answers undefined when it cannot at once (an in-memory database, whose one connection has a
   * transaction open): then read through `reader`.
   */
  runNow?: RunNow;
  close(): Promise<void>;
}

/** Synchronous statements on a SQLite file (see Database.runNow). */
export interface RunNow {
  inTransaction<R>(query: CompiledQuery<R>): QueryResult<R>;
  committed<R>(query: CompiledQuery<R>): QueryResult<R> | undefined;
  /**
   * `committed` for a read, each row an array of its values in the select's order
   * (better-sqlite3's raw mode): building an object of every row's columns from C++ cost a
   * third of a users-by-email lookup (docs/performance.md).
   */
  committedValues(query: CompiledQuery): unknown[][] | undefined;
  /** `inTransaction` for a read, each row an array of its values in the select's order (as committedValues). */
  valuesInTransaction(query: CompiledQuery): unknown[][];
}

/**
 * Runs a compiled query on `db` (the database, a transaction of it, or its `reader`): on SQLite
 * at once (Database.runNow), since Kysely's promises per statement cost more than most short
 * statements; otherwise, or when runNow cannot read at once, through Kysely.
 */
export function executeNow<S, R>(
  database: Pick<Database<S>, 'reader' | 'runNow'>,
  db: NoInfer<Kysely<S>>,
  query: CompiledQuery<R>,
): QueryResult<R> | Promise<QueryResult<R>> {
  const runNow = database.runNow;
  if (runNow !== undefined) {
    if (db.isTransaction) return runNow.inTransaction(query);
    if (db === database.reader) {
      const result = runNow.committed(query);
      if (result !== undefined) return result;
    }
  }
  return db.executeQuery(query);
}

export interface DatabaseOptions {
  /** postgres://… selects PostgreSQL; otherwise SQLite at `sqliteFile`. */
  databaseUrl?: string | undefined;
  sqliteFile?: string;
  /** PostgreSQL schema to use (tests isolate themselves in one). */
  pgSchema?: string;
  /** PostgreSQL's connect and statement timeouts; unset fields take the defaults (README). */
  timeouts?: Partial<PostgresTimeouts> | undefined;
  /** Where PostgreSQL outages are logged (once each). */
  logger?: Logger | undefined;
}

export function openDatabase<S>(options: DatabaseOptions): Database<S> {
  if (options.databaseUrl) {
    const pool = createPostgresPool({ connectionString: options.databaseUrl, schema: options.pgSchema, timeouts: options.timeouts, logger: options.logger });
    const db = new Kysely<S>({ dialect: new OwnSchemaPostgresDialect({ pool }) });
    return {
      db,
      reader: db,
      dialect: 'postgres',
      transact: (work) => db.transaction().execute(work),
      write: (query) => db.executeQuery(query),
      close: () => db.destroy(),
    };
  }
  const file = options.sqliteFile ?? ':memory:';
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commits.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  // Reads through a memory map instead of a read() call per page missing from SQLite's small
  // page cache: a system call fewer per page, on every lookup. Address space only; the pages
  // are the OS page cache's, as they would be with read().
  sqlite.pragma('mmap_size = 1073741824');
  // Each unit of a group commit runs in a savepoint, so every page it changes is first copied
  // to the statement journal, which SQLite moves to a temporary file past 64 KiB: a unit that
  // touches twenty pages wrote that file on every write. In memory, the writes of a link cost
  // a third less (docs/performance.md). Large sorts, the other use of temporary files, are
  // bounded here by the API's page limits.
  sqlite.pragma('temp_store = MEMORY');
  const checkpoints = file === ':memory:' ? undefined : startBackgroundCheckpoints(sqlite, file);
  const writerStatements = withStatementCache(sqlite);
  const db = new Kysely<S>({ dialect: new SqliteDialect({ database: writerStatements }) });
  const readStatements = file === ':memory:' ? writerStatements : committedReads(sqlite, writerStatements, withStatementCache(openReader(file)));
  const reader = file === ':memory:' ? db : new Kysely<S>({ dialect: new SqliteDialect({ database: readStatements }) });
  const runNow: RunNow = {
    inTransaction: (query) => runStatement(writerStatements, query),
    committed: (query) => (file === ':memory:' && sqlite.inTransaction ? undefined : runStatement(readStatements, query)),
    committedValues: (query) => (file === ':memory:' && sqlite.inTransaction ? undefined : readValues(readStatements, query)),
    valuesInTransaction: (query) => readValues(writerStatements, query),
  };
  const batcher = new TransactionBatcher(db, { runNow: runNow.inTransaction });
  return {
    db,
    reader,
    dialect: 'sqlite',
    transact: (work) => batcher.run(work),
    write: (query) => batcher.run(async () => runNow.inTransaction(query)),
    runNow,
    close: async () => {
      await checkpoints?.stop();
      if (reader !== db) await reader.destroy();
      await db.destroy();
    },
  };
}

/** What Kysely's SQLite driver answers for a statement (kysely/dist/esm/dialect/sqlite/sqlite-driver.js), synchronously. */
function runStatement<R>(statements: SqliteDatabase, query: CompiledQuery<R>): QueryResult<R> {
  const statement = statements.prepare(query.sql);
  if (statement.reader) return { rows: statement.all(query.parameters) as R[] };
  const { changes, lastInsertRowid } = statement.run(query.parameters);
  return {
    numAffectedRows: changes !== undefined && changes !== null ? BigInt(changes) : undefined,
    insertId: lastInsertRowid !== undefined && lastInsertRowid !== null ? BigInt(lastInsertRowid) : undefined,
    rows: [],
  };
}

/** A read's rows as arrays of values. The statement is shared by its SQL (withStatementCache): it goes back to objects at once. */
function readValues(statements: SqliteDatabase, query: CompiledQuery): unknown[][] {
  const statement = statements.prepare(query.sql) as unknown as SQLite.Statement;
  statement.raw(true);
  try {
    return statement.all(query.parameters) as unknown[][];
  } finally {
    statement.raw(false);
  }
}

/**
 * Reads of committed data: on the writer's connection while it has no transaction open, on
 * the read connection while it has. Both see exactly what is committed. The writer's page cache
 * stays valid across its own commits, but a second connection must drop its cache whenever the
 * database has changed and fetch pages again from the WAL with a read() each, so a lookup right
 * after a write is several times faster on the writer's (docs/performance.md). better-sqlite3
 * runs a statement synchronously, so the check holds while it runs.
 */
export function committedReads(writer: SQLite.Database, writerStatements: SqliteDatabase, readerStatements: SqliteDatabase): SqliteDatabase {
  return {
    close: () => readerStatements.close(),
    prepare(sql: string) {
      if (writer.inTransaction) return readerStatements.prepare(sql);
      const statement = writerStatements.prepare(sql);
      // Anything but a read goes to the read connection, which refuses it (query_only).
      return statement.reader ? statement : readerStatements.prepare(sql);
    },
  };
}

/** The read connection of a SQLite file (WAL: readers and the writer never block each other). */
function openReader(file: string): SQLite.Database {
  const sqlite = new SQLite(file);
  sqlite.pragma('query_only = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('mmap_size = 1073741824');
  return sqlite;
}

/**
 * Kysely's SQLite driver calls prepare() for every query it runs, and better-sqlite3 compiles
 * the SQL each time, and compiling a query costs more than running it (docs/performance.md;
 * every write transaction, a dozen statements, gains the same way). Statements are reused by their
 * SQL text (an LRU of `max`: queries with `in (…)` lists vary, so it must stay bounded).
 * Kysely runs a statement synchronously with all()/run(), so reuse is safe; one still being
 * iterated (a streamed query) is `busy`, and then a fresh one is prepared.
 */
function withStatementCache(sqlite: SQLite.Database, max = 500): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => {
      sqlite.close();
    },
    prepare(sql: string) {
      const cached = cache.get(sql);
      if (cached && !cached.busy) {
        cache.delete(sql); // re-inserted below: most recently used last
        cache.set(sql, cached);
        return cached;
      }
      const statement = sqlite.prepare(sql);
      cache.set(sql, statement);
      if (cache.size > max) cache.delete(cache.keys().next().value!);
      return statement;
    },
  };
}
