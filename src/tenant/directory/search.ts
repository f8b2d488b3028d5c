import { sql, type ExpressionBuilder, type Expression, type SqlBool } from 'kysely';
import type { Schema } from '../tenant-database.ts';
import type { DirectoryStore } from './directory-store.ts';
import { normalizeEmail } from './email.ts';
import type { UserProfile } from './profile.ts';
import { parseUserSearch, type SearchClause } from './user-search.ts';

export interface ListUsersOptions {
  q?: string | undefined;
  page: number;
  perPage: number;
  sort?: { field: SortField; direction: 1 | -1 } | undefined;
}

export const SORT_FIELDS = ['created_at', 'updated_at', 'last_login', 'email', 'name', 'user_id', 'logins_count'] as const;
export type SortField = (typeof SORT_FIELDS)[number];

/** A page of the users a search (see user-search.ts) matches, and how many match in all. */
export async function searchUsers(store: DirectoryStore, options: ListUsersOptions): Promise<{ users: UserProfile[]; total: number }> {
  const clauses = options.q ? parseUserSearch(options.q) : [];
  const filter = (eb: ExpressionBuilder<Schema, 'users'>) => eb.and(clauses.map((c) => searchCondition(eb, c)));
  const sort = options.sort ?? { field: 'created_at' as const, direction: 1 as const };
  const direction = sort.direction === 1 ? 'asc' : 'desc';
  const [rows, count] = await Promise.all([
    store.reader
      .selectFrom('users')
      .selectAll()
      .where(filter)
      .orderBy(sort.field, direction)
      .orderBy('user_id', direction)
      .limit(options.perPage)
      .offset(options.page * options.perPage)
      .execute(),
    store.reader
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where(filter)
      .executeTakeFirstOrThrow(),
  ]);
  return { users: await store.withIdentities(store.reader, rows), total: Number(count.n) };
}

function searchCondition(eb: ExpressionBuilder<Schema, 'users'>, clause: SearchClause): Expression<SqlBool> {
  const { value } = clause;
  const like = (v: string) => `${v.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
  let condition: Expression<SqlBool>;
  switch (clause.field) {
    case 'email': {
      const normalized = normalizeEmail(value);
      condition = clause.prefix ? sql<SqlBool>`${sql.ref('email_normalized')} like ${like(normalized)} escape '\\'` : eb('email_normalized', '=', normalized);
      break;
    }
    case 'name':
      // The database lowercases both sides: SQLite's lower() folds ASCII only, and a JavaScript
      // toLowerCase() on the value alone made names with non-ASCII capitals unfindable there.
      condition = clause.prefix
        ? sql<SqlBool>`lower(${sql.ref('name')}) like lower(cast(${like(value)} as text)) escape '\\'`
        : sql<SqlBool>`lower(${sql.ref('name')}) = lower(cast(${value} as text))`;
      break;
    case 'user_id':
      condition = eb('user_id', '=', value);
      break;
    case 'email_verified':
    case 'blocked':
      condition = eb(clause.field, '=', value === 'true' ? 1 : 0);
      break;
    case 'identities.connection':
    case 'identities.provider':
    case 'identities.user_id': {
      const column = clause.field.slice('identities.'.length) as 'connection' | 'provider' | 'user_id';
      condition = eb.exists(
        eb
          .selectFrom('identities')
          .select(sql.lit(1).as('one'))
          .whereRef('identities.owner_id', '=', 'users.user_id')
          .where(`identities.${column}`, '=', value),
      );
      break;
    }
  }
  if (!clause.negate) return condition;
  // NOT over a NULL column would drop the row; a user with no email is "not that email".
  return eb.or([
    eb.not(condition),
    ...(clause.field === 'email' ? [eb('email_normalized', 'is', null)] : clause.field === 'name' ? [eb('name', 'is', null)] : []),
  ]);
}
