import type { CompiledQuery, Kysely, QueryResult, Transaction } from 'kysely';
import { executeNow } from '../../platform/database.ts';
import type { Database, Schema } from '../tenant-database.ts';
import { tenantError } from '../tenant-errors.ts';
import type { Connection, ConnectionRegistry } from '../connections.ts';
import { directoryQueries, type DirectoryQueries } from './directory-queries.ts';
import { toProfile, type IdentityRow, type UserProfile, type UserRow } from './profile.ts';

export type Db = Kysely<Schema>;

export const now = () => new Date().toISOString();

/**
 * The directory's tables as each of its parts uses them: one transaction per write, row locks
 * in one order, users read with their identities. Every refusal is an AccordError.
 */
export class DirectoryStore {
  readonly db: Db;
  readonly reader: Db;
  readonly dialect: Database['dialect'];
  readonly connections: ConnectionRegistry;
  readonly queries: DirectoryQueries;
  readonly #transact: Database['transact'];
  /** One writing statement: on SQLite in the shared group commit (see TransactionBatcher), on PostgreSQL on its own. */
  readonly write: Database['write'];
  readonly #database: Database;

  constructor(database: Database, connections: ConnectionRegistry) {
    this.db = database.db;
    this.reader = database.reader;
    this.dialect = database.dialect;
    this.connections = connections;
    this.queries = directoryQueries(database);
    this.#transact = database.transact;
    this.write = database.write;
    this.#database = database;
  }

  /** Runs a compiled query on `db`, a transaction or `reader` (platform's executeNow). */
  execute<R>(db: Db, query: CompiledQuery<R>): QueryResult<R> | Promise<QueryResult<R>> {
    return executeNow(this.#database, db, query);
  }

  /** A read of committed data, each row an array of its values in the select's order: on SQLite with no object a row (RunNow.committedValues). */
  async committedValues(query: CompiledQuery): Promise<unknown[][]> {
    const values = this.#database.runNow?.committedValues(query);
    if (values !== undefined) return values;
    return (await this.reader.executeQuery(query)).rows.map((row) => Object.values(row as object));
  }

  /** A read in the transaction `trx`, each row an array of its values in the select's order: on SQLite with no object a row (RunNow.valuesInTransaction). */
  async valuesIn(trx: Transaction<Schema>, query: CompiledQuery): Promise<unknown[][]> {
    const runNow = this.#database.runNow;
    if (runNow !== undefined) return runNow.valuesInTransaction(query);
    return (await trx.executeQuery(query)).rows.map((row) => Object.values(row as object));
  }

  requireConnection(name: string): Connection {
    const connection = this.connections.byName(name);
    if (!connection) throw tenantError('inexistent_connection', `The connection ${JSON.stringify(name)} does not exist.`);
    return connection;
  }

  async transaction<T>(work: (trx: Transaction<Schema>) => Promise<T>): Promise<T> {
    try {
      return await this.#transact(work);
    } catch (err) {
      if (isConcurrencyFailure(err)) throw tenantError('conflict');
      throw err;
    }
  }

  async lockUser(trx: Db, userId: string): Promise<UserRow> {
    const row = (await this.lockUsers(trx, [userId])).get(userId);
    if (!row) throw tenantError('inexistent_user');
    return row;
  }

  /** Row locks on PostgreSQL, taken in id order so two transactions never deadlock; SQLite serializes writers already. */
  async lockUsers(trx: Db, userIds: [string] | [string, string]): Promise<Map<string, UserRow>> {
    const [first, second] = userIds;
    const { rows } = await this.execute(trx, second === undefined ? this.queries.lockUser({ userId: first }) : this.queries.lockTwoUsers({ first, second }));
    return new Map(rows.map((r) => [r.user_id, r]));
  }

  async findUser(userId: string, db: Db = this.reader): Promise<UserProfile | undefined> {
    const row = (await this.execute(db, this.queries.user({ userId }))).rows[0];
    if (!row) return undefined;
    return (await this.withIdentities(db, [row]))[0];
  }

  async identityRowsOf(db: Db, userId: string): Promise<IdentityRow[]> {
    return (await this.execute(db, this.queries.identitiesOf({ ownerId: userId }))).rows;
  }

  async withIdentities(db: Db, rows: UserRow[]): Promise<UserProfile[]> {
    if (rows.length === 0) return [];
    const identities =
      rows.length === 1
        ? await this.identityRowsOf(db, rows[0]!.user_id)
        : await db
            .selectFrom('identities')
            .selectAll()
            .where(
              'owner_id',
              'in',
              rows.map((r) => r.user_id),
            )
            .execute();
    const byOwner = new Map<string, IdentityRow[]>();
    for (const identity of identities) {
      const list = byOwner.get(identity.owner_id);
      if (list) list.push(identity);
      else byOwner.set(identity.owner_id, [identity]);
    }
    // Rows and identities are two reads: a user linked away or deleted in between has no main
    // identity left by the second one. It no longer exists; never show it with `identities: []`.
    return rows.flatMap((row) => {
      const own = byOwner.get(row.user_id) ?? [];
      return own.some((i) => i.is_main === 1) ? [toProfile(row, own)] : [];
    });
  }
}

/** Unique violations, deadlocks and serialization failures: another transaction got there first. */
function isConcurrencyFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === '40P01' ||
    code === '40001' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_BUSY'
  );
}
