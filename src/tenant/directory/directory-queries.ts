import type { Kysely } from 'kysely';
import type { Database, Schema } from '../tenant-database.ts';
import { prepareQuery } from '../../platform/prepared-query.ts';
import type { IdentityRow, UserRow } from './profile.ts';

/** A user row with one of its identities, as findByEmail reads them (one row per identity). */
export type UserWithIdentityRow = UserRow & {
  identity_provider: string;
  identity_user_id: string;
  identity_connection: string;
  identity_is_social: number;
  identity_is_main: number;
  identity_profile_data: string | null;
  identity_connection_email: string | null;
  identity_linked_at: string;
};

const USER_COLUMNS = [
  'user_id',
  'connection',
  'email',
  'email_normalized',
  'email_verified',
  'name',
  'given_name',
  'family_name',
  'nickname',
  'picture',
  'phone_number',
  'phone_verified',
  'blocked',
  'user_metadata',
  'app_metadata',
  'created_at',
  'updated_at',
  'last_login',
  'logins_count',
] as const satisfies readonly (keyof UserRow)[];

/** An identity's columns beside its owner's in one row (usersByEmail, usersOfLink), in userWithIdentityOf's order. */
const IDENTITY_COLUMNS = [
  'identities.provider as identity_provider',
  'identities.user_id as identity_user_id',
  'identities.connection as identity_connection',
  'identities.is_social as identity_is_social',
  'identities.is_main as identity_is_main',
  'identities.profile_data as identity_profile_data',
  'identities.connection_email as identity_connection_email',
  'identities.linked_at as identity_linked_at',
] as const;

/**
 * A row of `usersByEmail` or `usersOfLink` read as an array of values (DirectoryStore.committedValues,
 * valuesIn): the user's columns in USER_COLUMNS' order, then the identity's in IDENTITY_COLUMNS' order.
 */
export function userWithIdentityOf(v: unknown[]): { user: UserRow; identity: IdentityRow } {
  const user = {
    user_id: v[0],
    connection: v[1],
    email: v[2],
    email_normalized: v[3],
    email_verified: v[4],
    name: v[5],
    given_name: v[6],
    family_name: v[7],
    nickname: v[8],
    picture: v[9],
    phone_number: v[10],
    phone_verified: v[11],
    blocked: v[12],
    user_metadata: v[13],
    app_metadata: v[14],
    created_at: v[15],
    updated_at: v[16],
    last_login: v[17],
    logins_count: v[18],
  } as UserRow;
  const identity = {
    provider: v[19],
    user_id: v[20],
    owner_id: v[0],
    connection: v[21],
    is_social: v[22],
    is_main: v[23],
    profile_data: v[24],
    connection_email: v[25],
    linked_at: v[26],
  } as IdentityRow;
  return { user, identity };
}

/**
 * The statements of the directory's hot paths (lookups, link, unlink, the audit trail),
 * compiled once per Directory (see prepareQuery): a link + unlink cycle runs about twenty.
 * The SQL is the dialect's own (`?` or `$1`); only the parameters change per call.
 */
export function directoryQueries(database: Database) {
  const db: Kysely<Schema> = database.db;
  const postgres = database.dialect === 'postgres';
  const lockUsers = (ids: string[]) => {
    const query = db.selectFrom('users').selectAll().where('user_id', 'in', ids).orderBy('user_id');
    // Row locks on PostgreSQL; SQLite's write transaction already holds the whole database.
    return postgres ? query.forUpdate() : query;
  };
  return {
    /**
     * findByEmail: users joined with their identities in one statement, so both come from one
     * snapshot (never either side of a concurrent link), and one statement costs less than
     * users-then-identities (docs/performance.md). Kept prepared on PostgreSQL, where planning
     * the join cost more than running it; its columns are listed for that (see statementNameOf).
     */
    usersByEmail: prepareQuery(
      ['email'],
      (p) =>
        db
          .selectFrom('users')
          .innerJoin('identities', 'identities.owner_id', 'users.user_id')
          .select(USER_COLUMNS.map((column) => `users.${column}` as const))
          .select(IDENTITY_COLUMNS)
          .where('users.email_normalized', '=', p.email)
          .orderBy('users.created_at')
          .orderBy('users.user_id')
          .$castTo<UserWithIdentityRow>(),
      { statementName: 'accord_users_by_email' },
    ),
    user: prepareQuery(['userId'], (p) => db.selectFrom('users').selectAll().where('user_id', '=', p.userId)),
    lockUser: prepareQuery(['userId'], (p) => lockUsers([p.userId])),
    lockTwoUsers: prepareQuery(['first', 'second'], (p) => lockUsers([p.first, p.second])),
    identitiesOf: prepareQuery(['ownerId'], (p) => db.selectFrom('identities').selectAll().where('owner_id', '=', p.ownerId)),
    /**
     * A link's look at both users in one statement: the primary and whoever owns the identity
     * to link (nobody else when nobody does), each with its identities, one row per identity.
     */
    usersOfLink: prepareQuery(['primaryId', 'provider', 'userId'], (p) =>
      db
        .selectFrom('users')
        .innerJoin('identities', 'identities.owner_id', 'users.user_id')
        .select(USER_COLUMNS.map((column) => `users.${column}` as const))
        .select(IDENTITY_COLUMNS)
        .where('users.user_id', 'in', [
          p.primaryId,
          db.selectFrom('identities as owned').select('owned.owner_id').where('owned.provider', '=', p.provider).where('owned.user_id', '=', p.userId),
        ])
        .$castTo<UserWithIdentityRow>(),
    ),
    identityOwner: prepareQuery(['provider', 'userId'], (p) =>
      db.selectFrom('identities').select(['owner_id', 'is_main']).where('provider', '=', p.provider).where('user_id', '=', p.userId),
    ),
    /** A connection's identity by its email: every passwordless sign-in looks its person up so. */
    identityByEmail: prepareQuery(['connection', 'email'], (p) =>
      db.selectFrom('identities').select(['provider', 'user_id', 'owner_id']).where('connection', '=', p.connection).where('connection_email', '=', p.email),
    ),
    /** Moves a secondary's main identity into the primary. */
    linkIdentity: prepareQuery(['provider', 'userId', 'from', 'to', 'profileData', 'linkedAt'], (p) =>
      db
        .updateTable('identities')
        .set({ owner_id: p.to, is_main: 0, profile_data: p.profileData, linked_at: p.linkedAt })
        .where('provider', '=', p.provider)
        .where('user_id', '=', p.userId)
        .where('owner_id', '=', p.from),
    ),
    /** Makes a linked identity the main identity of the user recreated for it. */
    detachIdentity: prepareQuery(['provider', 'userId', 'from', 'to', 'linkedAt'], (p) =>
      db
        .updateTable('identities')
        .set({ owner_id: p.to, is_main: 1, profile_data: null, linked_at: p.linkedAt })
        .where('provider', '=', p.provider)
        .where('user_id', '=', p.userId)
        .where('owner_id', '=', p.from),
    ),
    insertUser: prepareQuery(USER_COLUMNS, (p) => db.insertInto('users').values(p)),
    deleteUser: prepareQuery(['userId'], (p) => db.deleteFrom('users').where('user_id', '=', p.userId)),
    /** Counts a sign-in: run with the store's `write`, so on SQLite it shares the group commit. */
    recordLogin: prepareQuery(['userId', 'at'], (p) =>
      db
        .updateTable('users')
        .set((eb) => ({ last_login: p.at, logins_count: eb('logins_count', '+', 1) }))
        .where('user_id', '=', p.userId),
    ),
    touchUser: prepareQuery(['userId', 'date'], (p) => db.updateTable('users').set({ updated_at: p.date }).where('user_id', '=', p.userId)),
    /** touchUser answering the row: the update locks it (PostgreSQL) as lockUser's `for update` does, in one statement instead of two. */
    touchAndLockUser: prepareQuery(['userId', 'date'], (p) =>
      db.updateTable('users').set({ updated_at: p.date }).where('user_id', '=', p.userId).returningAll(),
    ),
    insertSnapshot: prepareQuery(['primaryId', 'provider', 'userId', 'snapshot', 'date'], (p) =>
      db.insertInto('link_snapshots').values({
        primary_id: p.primaryId,
        provider: p.provider,
        identity_user_id: p.userId,
        snapshot: p.snapshot,
        created_at: p.date,
      }),
    ),
    /** Deletes the snapshots of a link and returns them: an unlink reads the latest and keeps none. */
    takeSnapshots: prepareQuery(['primaryId', 'provider', 'userId'], (p) =>
      db
        .deleteFrom('link_snapshots')
        .where('provider', '=', p.provider)
        .where('identity_user_id', '=', p.userId)
        .where('primary_id', '=', p.primaryId)
        .returning(['id', 'snapshot']),
    ),
    insertAuditEvent: prepareQuery(['log_id', 'date', 'type', 'description', 'actor', 'client_id', 'user_id', 'details'], (p) =>
      db.insertInto('audit_events').values(p),
    ),
  };
}

export type DirectoryQueries = ReturnType<typeof directoryQueries>;
