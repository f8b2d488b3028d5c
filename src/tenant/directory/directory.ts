import { randomBytes } from 'node:crypto';
import { sql, type ExpressionBuilder, type Expression, type Kysely, type SqlBool, type Transaction } from 'kysely';
import type { Database, Schema } from '../../platform/database.ts';
import { AccordError } from '../../platform/errors.ts';
import type { Connection, ConnectionRegistry } from '../connections.ts';
import { auditEventRow, type Actor, type AuditEvent, type AuditType } from './audit.ts';
import { directoryQueries, type DirectoryQueries } from './directory-queries.ts';
import { isPlausibleEmail, normalizeEmail } from './email.ts';
import { checkMetadataDepth, checkMetadataSize } from './metadata-limits.ts';
import { checkPasswordStrength, hashPassword } from './passwords.ts';
import {
  mergeMetadataTopLevel, rootProfileData, splitUserId, toProfile,
  type Identity, type IdentityRow, type Metadata, type ProfileData, type UserProfile, type UserRow,
} from './profile.ts';
import { parseUserSearch, type SearchClause } from './user-search.ts';

export interface CreateUserInput {
  connection: string;
  email?: string | undefined;
  email_verified?: boolean | undefined;
  password?: string | undefined;
  name?: string | undefined;
  given_name?: string | undefined;
  family_name?: string | undefined;
  nickname?: string | undefined;
  picture?: string | undefined;
  phone_number?: string | undefined;
  phone_verified?: boolean | undefined;
  blocked?: boolean | undefined;
  user_metadata?: Metadata | undefined;
  app_metadata?: Metadata | undefined;
}

/** A user created by a login through an upstream identity provider (the login pipeline's path). */
export interface CreateFederatedUserInput extends Omit<CreateUserInput, 'password'> {
  /** The upstream subject; the identity user_id becomes `<connection>|<sub>` for generic OIDC. */
  sub: string;
}

export interface UpdateUserInput {
  email?: string | undefined;
  email_verified?: boolean | undefined;
  name?: string | null | undefined;
  given_name?: string | null | undefined;
  family_name?: string | null | undefined;
  nickname?: string | null | undefined;
  picture?: string | null | undefined;
  phone_number?: string | null | undefined;
  phone_verified?: boolean | undefined;
  blocked?: boolean | undefined;
  password?: string | undefined;
  user_metadata?: Record<string, unknown> | undefined;
  app_metadata?: Record<string, unknown> | undefined;
}

export type SecondaryRef =
  | { userId: string }
  | { provider: string; identityUserId: string; connectionId?: string | undefined };

export interface ListUsersOptions {
  q?: string | undefined;
  page: number;
  perPage: number;
  sort?: { field: SortField; direction: 1 | -1 } | undefined;
}

export const SORT_FIELDS = ['created_at', 'updated_at', 'last_login', 'email', 'name', 'user_id', 'logins_count'] as const;
export type SortField = typeof SORT_FIELDS[number];

export interface UnlinkOptions {
  /** Restore the secondary's metadata from its link snapshot (Auth0's default is none). */
  restoreMetadata?: boolean;
}

type Db = Kysely<Schema>;

/** What changed in a user's identities; delivered after the change is committed. */
export interface IdentityChange {
  type: 'identity.linked' | 'identity.unlinked';
  primaryId: string;
  secondaryId: string;
  provider: string;
  identityUserId: string;
  connection: string;
  actor: Actor;
  date: string;
  /** The primary as the change committed it: listeners need not read it back. */
  primary: UserProfile;
  /** After an unlink, the standalone user the identity became. */
  detached?: UserProfile;
}

export type IdentityChangeListener = (change: IdentityChange) => void | Promise<void>;

/** A user whose every session must end: blocked, or deleted. Delivered after the change is committed. */
export interface AccountChange {
  type: 'user.blocked' | 'user.deleted';
  userId: string;
  actor: Actor;
  date: string;
}

export type AccountChangeListener = (change: AccountChange) => void | Promise<void>;

const now = () => new Date().toISOString();

/** The Auth0-style 24-hex object id used for database and passwordless identities. */
const newObjectId = () => randomBytes(12).toString('hex');

const PROFILE_KEYS = ['email', 'name', 'given_name', 'family_name', 'nickname', 'picture', 'phone_number'] as const;

/**
 * The user directory: users, identities and Auth0's linking rules. Knows nothing of HTTP;
 * every refusal is an AccordError with a stable code. Every write is one transaction.
 */
export class Directory {
  readonly #db: Db;
  readonly #reader: Db;
  readonly #dialect: Database['dialect'];
  readonly #connections: ConnectionRegistry;
  readonly #listeners: IdentityChangeListener[] = [];
  readonly #accountListeners: AccountChangeListener[] = [];
  readonly #queries: DirectoryQueries;
  readonly #transact: Database['transact'];

  constructor(database: Database, connections: ConnectionRegistry) {
    this.#db = database.db;
    this.#reader = database.reader;
    this.#dialect = database.dialect;
    this.#connections = connections;
    this.#queries = directoryQueries(database);
    this.#transact = database.transact;
  }

  get connections(): ConnectionRegistry {
    return this.#connections;
  }

  /**
   * Calls `listener` after every committed link and unlink, whoever asked for it (the
   * Management API, automatic linking, the CLI): notifications and session revocation hang here.
   */
  onIdentityChange(listener: IdentityChangeListener): void {
    this.#listeners.push(listener);
  }

  async #emit(change: IdentityChange): Promise<void> {
    for (const listener of this.#listeners) await listener(change);
  }

  /**
   * Calls `listener` after a user is blocked or deleted, whoever asked (the Management API, the
   * CLI): the user's sessions end there, at the tenant and at every client.
   */
  onAccountChange(listener: AccountChangeListener): void {
    this.#accountListeners.push(listener);
  }

  async #emitAccount(change: AccountChange): Promise<void> {
    for (const listener of this.#accountListeners) await listener(change);
  }

  // ---------------------------------------------------------------- sign-in support

  /** The database or passwordless identity registered with `email` in `connection`, linked or not. */
  async findIdentityByEmail(connection: string, email: string): Promise<{ provider: string; user_id: string; owner_id: string } | undefined> {
    return this.#reader.selectFrom('identities').select(['provider', 'user_id', 'owner_id'])
      .where('connection', '=', connection).where('connection_email', '=', normalizeEmail(email)).executeTakeFirst();
  }

  async passwordHashOf(provider: string, identityUserId: string): Promise<string | undefined> {
    const row = await this.#db.selectFrom('credentials').select('password_hash')
      .where('provider', '=', provider).where('user_id', '=', identityUserId).executeTakeFirst();
    return row?.password_hash;
  }

  /** Replaces an identity's password (strength rules apply); the identity may be linked. */
  async setPassword(provider: string, identityUserId: string, password: string, actor: Actor): Promise<void> {
    checkPasswordStrength(password);
    const passwordHash = await hashPassword(password);
    await this.#transaction(async (trx) => {
      const identity = await trx.selectFrom('identities').select('owner_id')
        .where('provider', '=', provider).where('user_id', '=', identityUserId).executeTakeFirst();
      if (!identity) throw new AccordError('inexistent_identity');
      const date = now();
      const updated = await trx.updateTable('credentials').set({ password_hash: passwordHash, updated_at: date })
        .where('provider', '=', provider).where('user_id', '=', identityUserId).executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) throw new AccordError('operation_not_supported', 'Only identities of a database connection have a password.');
      await this.#record(trx, actor, {
        type: 'user.updated', date, userId: identity.owner_id,
        description: `Password changed for identity ${provider}|${identityUserId}`,
        details: { user_id: identity.owner_id, identity: `${provider}|${identityUserId}`, changed: ['password'] },
      });
    });
  }

  /** Marks an identity's email as verified: the root profile for a main identity, its profileData otherwise. */
  async markEmailVerified(provider: string, identityUserId: string, actor: Actor): Promise<void> {
    await this.#transaction(async (trx) => {
      const identity = await trx.selectFrom('identities').selectAll()
        .where('provider', '=', provider).where('user_id', '=', identityUserId).executeTakeFirst();
      if (!identity) throw new AccordError('inexistent_identity');
      const date = now();
      if (identity.is_main === 1) {
        await trx.updateTable('users').set({ email_verified: 1, updated_at: date }).where('user_id', '=', identity.owner_id).execute();
      } else {
        const data = JSON.parse(identity.profile_data ?? '{}') as ProfileData;
        await trx.updateTable('identities').set({ profile_data: JSON.stringify({ ...data, email_verified: true }) })
          .where('provider', '=', provider).where('user_id', '=', identityUserId).execute();
      }
      await this.#record(trx, actor, {
        type: 'user.updated', date, userId: identity.owner_id,
        description: `Email verified for identity ${provider}|${identityUserId}`,
        details: { user_id: identity.owner_id, identity: `${provider}|${identityUserId}`, changed: ['email_verified'] },
      });
    });
  }

  /** Counts a successful sign-in. */
  async recordLogin(userId: string): Promise<void> {
    await this.#db.updateTable('users')
      .set((eb) => ({ last_login: now(), logins_count: eb('logins_count', '+', 1) }))
      .where('user_id', '=', userId).execute();
  }

  // ---------------------------------------------------------------- reads

  async getUser(userId: string): Promise<UserProfile> {
    const profile = await this.findUser(userId);
    if (!profile) throw new AccordError('inexistent_user');
    return profile;
  }

  async findUser(userId: string, db: Db = this.#reader): Promise<UserProfile | undefined> {
    const row = (await db.executeQuery(this.#queries.user({ userId }))).rows[0];
    if (!row) return undefined;
    return (await this.#withIdentities(db, [row]))[0];
  }

  /**
   * Users whose email matches `email` after normalization, oldest first. Always read from the
   * database (immediately consistent after any write). The hottest read of the Management API:
   * one statement, compiled once (see usersByEmailQuery), so users and identities also come
   * from one snapshot, never from either side of a concurrent link.
   */
  async findByEmail(email: string): Promise<UserProfile[]> {
    const { rows } = await this.#reader.executeQuery(this.#queries.usersByEmail({ email: normalizeEmail(email) }));
    const users = new Map<string, { row: UserRow; identities: IdentityRow[] }>();
    for (const r of rows) {
      let user = users.get(r.user_id);
      if (!user) {
        user = { row: r, identities: [] };
        users.set(r.user_id, user);
      }
      user.identities.push({
        provider: r.identity_provider, user_id: r.identity_user_id, owner_id: r.user_id, connection: r.identity_connection,
        is_social: r.identity_is_social, is_main: r.identity_is_main, profile_data: r.identity_profile_data,
        connection_email: r.identity_connection_email, linked_at: r.identity_linked_at,
      });
    }
    // As in #withIdentities: a user without its main identity does not exist (never shown with `identities: []`).
    return [...users.values()].flatMap(({ row, identities }) => (identities.some((i) => i.is_main === 1) ? [toProfile(row, identities)] : []));
  }

  /** The user that owns an identity, whether as its main identity or a linked one. */
  async findByIdentity(provider: string, identityUserId: string): Promise<UserProfile | undefined> {
    const identity = await this.#reader.selectFrom('identities').select('owner_id')
      .where('provider', '=', provider).where('user_id', '=', identityUserId).executeTakeFirst();
    return identity ? this.findUser(identity.owner_id) : undefined;
  }

  async listUsers(options: ListUsersOptions): Promise<{ users: UserProfile[]; total: number }> {
    const clauses = options.q ? parseUserSearch(options.q) : [];
    const filter = (eb: ExpressionBuilder<Schema, 'users'>) => eb.and(clauses.map((c) => searchCondition(eb, c)));
    const sort = options.sort ?? { field: 'created_at' as const, direction: 1 as const };
    const direction = sort.direction === 1 ? 'asc' : 'desc';
    const [rows, count] = await Promise.all([
      this.#reader.selectFrom('users').selectAll().where(filter)
        .orderBy(sort.field, direction).orderBy('user_id', direction)
        .limit(options.perPage).offset(options.page * options.perPage)
        .execute(),
      this.#reader.selectFrom('users').select((eb) => eb.fn.countAll<number | string>().as('n')).where(filter).executeTakeFirstOrThrow(),
    ]);
    return { users: await this.#withIdentities(this.#reader, rows), total: Number(count.n) };
  }

  async logs(options: { userId?: string; page: number; perPage: number }): Promise<{ events: AuditEvent[]; total: number }> {
    if (options.userId !== undefined) await this.getUser(options.userId);
    let query = this.#reader.selectFrom('audit_events');
    if (options.userId !== undefined) query = query.where('user_id', '=', options.userId);
    const [rows, count] = await Promise.all([
      query.selectAll().orderBy('seq', 'desc').limit(options.perPage).offset(options.page * options.perPage).execute(),
      query.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return {
      total: Number(count.n),
      events: rows.map((r) => ({
        log_id: r.log_id, date: r.date, type: r.type as AuditType, description: r.description,
        actor: r.actor, client_id: r.client_id, user_id: r.user_id, details: JSON.parse(r.details) as Record<string, unknown>,
      })),
    };
  }

  // ---------------------------------------------------------------- writes

  /** Creates a user in a database or passwordless connection, as `POST /api/v2/users` does. */
  async createUser(input: CreateUserInput, actor: Actor): Promise<UserProfile> {
    const connection = this.#requireConnection(input.connection);
    if (connection.strategy === 'oidc') {
      throw new AccordError('operation_not_supported', `Users of the ${connection.name} connection are created when they first sign in; they cannot be created here.`);
    }
    if (!input.email) throw new AccordError('invalid_body', 'Payload validation error: an email is required for this connection.');
    let passwordHash: string | undefined;
    if (connection.strategy === 'auth0') {
      if (input.password === undefined) throw new AccordError('password_required');
      checkPasswordStrength(input.password);
      passwordHash = await hashPassword(input.password);
    } else if (input.password !== undefined) {
      throw new AccordError('invalid_body', 'Payload validation error: passwordless users have no password.');
    }
    return this.#insertUser(connection, newObjectId(), input, passwordHash, actor);
  }

  /** Creates the user for a first login through an upstream identity provider. */
  async createFederatedUser(input: CreateFederatedUserInput, actor: Actor): Promise<UserProfile> {
    const connection = this.#requireConnection(input.connection);
    if (connection.strategy !== 'oidc') throw new AccordError('operation_not_supported');
    const identityUserId = connection.provider === 'oidc' ? `${connection.name}|${input.sub}` : input.sub;
    return this.#insertUser(connection, identityUserId, input, undefined, actor);
  }

  async #insertUser(connection: Connection, identityUserId: string, input: Omit<CreateUserInput, 'password'>,
    passwordHash: string | undefined, actor: Actor): Promise<UserProfile> {
    if (input.email !== undefined && !isPlausibleEmail(input.email)) {
      throw new AccordError('invalid_body', 'Payload validation error: email is not a valid email address.');
    }
    checkMetadataDepth('user_metadata', input.user_metadata);
    checkMetadataDepth('app_metadata', input.app_metadata);
    const userId = `${connection.provider}|${identityUserId}`;
    const date = now();
    const row: UserRow = {
      user_id: userId,
      connection: connection.name,
      email: input.email ?? null,
      email_normalized: input.email !== undefined ? normalizeEmail(input.email) : null,
      email_verified: input.email_verified ? 1 : 0,
      name: input.name ?? input.email ?? null,
      given_name: input.given_name ?? null,
      family_name: input.family_name ?? null,
      nickname: input.nickname ?? (input.email ? input.email.slice(0, input.email.indexOf('@')) : null),
      picture: input.picture ?? null,
      phone_number: input.phone_number ?? null,
      phone_verified: input.phone_verified ? 1 : 0,
      blocked: input.blocked ? 1 : 0,
      user_metadata: JSON.stringify(input.user_metadata ?? {}),
      app_metadata: JSON.stringify(input.app_metadata ?? {}),
      created_at: date,
      updated_at: date,
      last_login: null,
      logins_count: 0,
    };
    checkMetadataSize('user_metadata', row.user_metadata);
    checkMetadataSize('app_metadata', row.app_metadata);
    const identity: IdentityRow = {
      provider: connection.provider, user_id: identityUserId, owner_id: userId, connection: connection.name,
      is_social: connection.isSocial ? 1 : 0, is_main: 1, profile_data: null,
      connection_email: connection.strategy === 'oidc' ? null : row.email_normalized, linked_at: date,
    };
    return this.#transaction(async (trx) => {
      if (connection.strategy !== 'oidc' && row.email_normalized !== null) {
        // One identity per email within a database or passwordless connection, as Auth0 does,
        // counting identities linked into other users too.
        await this.#lockEmail(trx, connection.name, row.email_normalized);
        if (await this.#emailTaken(trx, connection.name, row.email_normalized)) throw new AccordError('user_exists');
      }
      const existing = await trx.selectFrom('identities').select('owner_id')
        .where('provider', '=', identity.provider).where('user_id', '=', identity.user_id).executeTakeFirst();
      if (existing) throw new AccordError('user_exists');
      await trx.insertInto('users').values(row).execute();
      await trx.insertInto('identities').values(identity).execute();
      if (passwordHash !== undefined) {
        await trx.insertInto('credentials').values({ provider: identity.provider, user_id: identity.user_id, password_hash: passwordHash, updated_at: date }).execute();
      }
      await this.#record(trx, actor, {
        type: 'user.created', date, userId,
        description: `User created in connection ${connection.name}`,
        details: { user_id: userId, connection: connection.name },
      });
      return toProfile(row, [identity]);
    });
  }

  async updateUser(userId: string, patch: UpdateUserInput, actor: Actor): Promise<UserProfile> {
    checkMetadataDepth('user_metadata', patch.user_metadata);
    checkMetadataDepth('app_metadata', patch.app_metadata);
    const passwordHash = patch.password !== undefined ? (checkPasswordStrength(patch.password), await hashPassword(patch.password)) : undefined;
    if (patch.email !== undefined && !isPlausibleEmail(patch.email)) {
      throw new AccordError('invalid_body', 'Payload validation error: email is not a valid email address.');
    }
    let blocked: AccountChange | undefined;
    const updated = await this.#transaction(async (trx) => {
      const row = await this.#lockUser(trx, userId);
      const identities = await trx.selectFrom('identities').selectAll().where('owner_id', '=', userId).execute();
      const main = identities.find((i) => i.is_main === 1)!;
      const date = now();
      const changes: Partial<UserRow> = {};
      const changed: string[] = [];

      for (const key of PROFILE_KEYS) {
        const value = patch[key];
        if (value !== undefined && value !== row[key]) { changes[key] = value; changed.push(key); }
      }
      const newEmail = patch.email !== undefined ? normalizeEmail(patch.email) : undefined;
      if (newEmail !== undefined && newEmail !== row.email_normalized) {
        changes.email_normalized = newEmail;
        // A new address is unproven until someone says otherwise; a change of case is not a new address.
        if (patch.email_verified === undefined) changes.email_verified = 0;
        const connection = this.#connections.byName(main.connection);
        if (connection && connection.strategy !== 'oidc') {
          await this.#lockEmail(trx, main.connection, newEmail);
          if (await this.#emailTaken(trx, main.connection, newEmail)) {
            throw new AccordError('user_exists', 'Another account of this connection already has that email.');
          }
          await trx.updateTable('identities').set({ connection_email: newEmail })
            .where('provider', '=', main.provider).where('user_id', '=', main.user_id).execute();
        }
      }
      for (const key of ['email_verified', 'phone_verified', 'blocked'] as const) {
        const value = patch[key];
        if (value !== undefined && (value ? 1 : 0) !== row[key]) { changes[key] = value ? 1 : 0; changed.push(key); }
      }
      for (const key of ['user_metadata', 'app_metadata'] as const) {
        const value = patch[key];
        if (value === undefined) continue;
        const merged = JSON.stringify(mergeMetadataTopLevel(JSON.parse(row[key]) as Metadata, value));
        if (merged !== row[key]) {
          // Inside the transaction: a refusal rolls back every change of this update.
          checkMetadataSize(key, merged, row[key]);
          changes[key] = merged;
          changed.push(`${key}:${Object.keys(value).join(',') || '*'}`);
        }
      }
      if (passwordHash !== undefined) {
        const connection = this.#connections.byName(main.connection);
        if (connection?.strategy !== 'auth0') {
          throw new AccordError('operation_not_supported', 'Only users of a database connection have a password.');
        }
        await trx.updateTable('credentials').set({ password_hash: passwordHash, updated_at: date })
          .where('provider', '=', main.provider).where('user_id', '=', main.user_id).execute();
        changed.push('password');
      }
      if (changed.length === 0 && Object.keys(changes).length === 0) return toProfile(row, identities);

      const next: UserRow = { ...row, ...changes, updated_at: date };
      await trx.updateTable('users').set({ ...changes, updated_at: date }).where('user_id', '=', userId).execute();
      await this.#record(trx, actor, {
        type: 'user.updated', date, userId,
        description: `User updated: ${changed.join(', ')}`,
        details: { user_id: userId, changed },
      });
      if (changes.blocked === 1) blocked = { type: 'user.blocked', userId, actor, date };
      return toProfile(next, identities);
    });
    if (blocked) await this.#emitAccount(blocked);
    return updated;
  }

  async deleteUser(userId: string, actor: Actor): Promise<void> {
    const date = now();
    await this.#transaction(async (trx) => {
      await this.#lockUser(trx, userId);
      const identities = await trx.selectFrom('identities').select(['provider', 'user_id']).where('owner_id', '=', userId).execute();
      await trx.deleteFrom('users').where('user_id', '=', userId).execute();
      await trx.deleteFrom('link_snapshots').where('primary_id', '=', userId).execute();
      await this.#record(trx, actor, {
        type: 'user.deleted', date, userId,
        description: 'User deleted',
        details: { user_id: userId, identities: identities.map((i) => `${i.provider}|${i.user_id}`) },
      });
    });
    await this.#emitAccount({ type: 'user.deleted', userId, actor, date });
  }

  /**
   * Links the secondary's main identity into the primary, in one transaction. The secondary
   * user disappears; its root attributes live on as the identity's profileData and, with its
   * metadata, in a link snapshot that a later unlink may restore.
   */
  async link(primaryId: string, secondary: SecondaryRef, actor: Actor): Promise<Identity[]> {
    // PostgreSQL: find the secondary first, to lock both users in one order, then check again
    // under the locks. SQLite's write transaction holds the whole database: one look, inside.
    const found = this.#dialect === 'postgres' ? await this.#resolveSecondary(this.#db, primaryId, secondary) : undefined;
    let change: IdentityChange | undefined;
    const identities = await this.#transaction(async (trx) => {
      const secondaryId = found ?? await this.#resolveSecondary(trx, primaryId, secondary);
      const locked = await this.#lockUsers(trx, [primaryId, secondaryId]);
      const primary = locked.get(primaryId);
      if (!primary) throw new AccordError('inexistent_user');
      // A concurrent link may have taken the secondary meanwhile.
      if (found !== undefined && await this.#resolveSecondary(trx, primaryId, secondary) !== found) throw new AccordError('link_identity_in_use');
      const secondaryRow = locked.get(secondaryId);
      if (!secondaryRow) throw new AccordError('link_secondary_not_found');

      const secondaryIdentities = await this.#identityRowsOf(trx, secondaryId);
      if (secondaryIdentities.length !== 1) {
        throw new AccordError('link_secondary_has_identities',
          'Unable to link with the secondary account: it has linked identities of its own. Unlink them first.');
      }
      const identity = secondaryIdentities[0]!;
      if ('connectionId' in secondary && secondary.connectionId !== undefined) {
        const connection = this.#connections.byName(identity.connection);
        if (connection?.id !== secondary.connectionId) throw new AccordError('link_secondary_not_found');
      }

      const date = now();
      const primaryIdentities = await this.#identityRowsOf(trx, primaryId);
      // Identities list in link order, which is linked_at order: keep it strictly increasing even
      // when two links land in one millisecond (the primary's row lock makes this race-free).
      const last = primaryIdentities.reduce((latest, i) => (i.linked_at > latest ? i.linked_at : latest), '');
      const linkedAt = last >= date ? new Date(Date.parse(last) + 1).toISOString() : date;
      const profileData = rootProfileData(secondaryRow);
      await trx.executeQuery(this.#queries.insertSnapshot({
        primaryId, provider: identity.provider, userId: identity.user_id,
        snapshot: JSON.stringify(toProfile(secondaryRow, secondaryIdentities)), date,
      }));
      const linkedIdentity = { ...identity, owner_id: primaryId, is_main: 0, profile_data: JSON.stringify(profileData), linked_at: linkedAt };
      const moved = await trx.executeQuery(this.#queries.linkIdentity({
        provider: identity.provider, userId: identity.user_id, from: secondaryId, to: primaryId,
        profileData: linkedIdentity.profile_data, linkedAt,
      }));
      if (Number(moved.numAffectedRows) !== 1) throw new AccordError('link_identity_in_use');
      await trx.executeQuery(this.#queries.deleteUser({ userId: secondaryId }));
      await trx.executeQuery(this.#queries.touchUser({ userId: primaryId, date }));
      await this.#record(trx, actor, {
        type: 'identity.linked', date, userId: primaryId,
        description: `Identity ${identity.provider}|${identity.user_id} linked`,
        details: {
          primary_id: primaryId, secondary_id: secondaryId,
          provider: identity.provider, identity_user_id: identity.user_id, connection: identity.connection,
        },
      });
      const linked = toProfile({ ...primary, updated_at: date }, [...primaryIdentities, linkedIdentity]);
      change = {
        type: 'identity.linked', primaryId, secondaryId, provider: identity.provider,
        identityUserId: identity.user_id, connection: identity.connection, actor, date, primary: linked,
      };
      return linked.identities;
    });
    await this.#emit(change!);
    return identities;
  }

  /** Detaches a linked identity and recreates it as a standalone user, in one transaction. */
  async unlink(primaryId: string, provider: string, identityUserId: string, options: UnlinkOptions, actor: Actor): Promise<Identity[]> {
    let change: IdentityChange | undefined;
    const identities = await this.#transaction(async (trx) => {
      const primary = await this.#lockUser(trx, primaryId);
      const primaryIdentities = await this.#identityRowsOf(trx, primaryId);
      const identity = primaryIdentities.find((i) => i.provider === provider && i.user_id === identityUserId);
      if (!identity) throw new AccordError('inexistent_identity');
      if (identity.is_main === 1) throw new AccordError('unlink_main_identity');

      const data = (identity.profile_data ? JSON.parse(identity.profile_data) : {}) as ProfileData;
      const snapshotRow = (await trx.executeQuery(this.#queries.latestSnapshot({ primaryId, provider, userId: identityUserId }))).rows[0];
      const snapshot = snapshotRow ? (JSON.parse(snapshotRow.snapshot) as UserProfile) : undefined;
      const restore = options.restoreMetadata === true && snapshot !== undefined;

      const date = now();
      const secondaryId = `${provider}|${identityUserId}`;
      const row: UserRow = {
        user_id: secondaryId,
        connection: identity.connection,
        email: data.email ?? null,
        email_normalized: data.email !== undefined ? normalizeEmail(data.email) : null,
        email_verified: data.email_verified ? 1 : 0,
        name: data.name ?? null,
        given_name: data.given_name ?? null,
        family_name: data.family_name ?? null,
        nickname: data.nickname ?? null,
        picture: data.picture ?? null,
        phone_number: data.phone_number ?? null,
        phone_verified: data.phone_verified ? 1 : 0,
        // Unlinking never unblocks: blocked if it was when linked, or if its primary is now.
        blocked: snapshot?.blocked === true || primary.blocked === 1 ? 1 : 0,
        user_metadata: JSON.stringify(restore ? snapshot.user_metadata : {}),
        app_metadata: JSON.stringify(restore ? snapshot.app_metadata : {}),
        created_at: snapshot?.created_at ?? date,
        updated_at: date,
        last_login: null,
        logins_count: 0,
      };
      await trx.executeQuery(this.#queries.insertUser(row));
      const moved = await trx.executeQuery(this.#queries.detachIdentity({
        provider, userId: identityUserId, from: primaryId, to: secondaryId, linkedAt: date,
      }));
      if (Number(moved.numAffectedRows) !== 1) throw new AccordError('inexistent_identity');
      // The snapshot has served its purpose; keeping a copy of someone's profile has none.
      await trx.executeQuery(this.#queries.deleteSnapshots({ primaryId, provider, userId: identityUserId }));
      await trx.executeQuery(this.#queries.touchUser({ userId: primaryId, date }));
      await this.#record(trx, actor, {
        type: 'identity.unlinked', date, userId: primaryId,
        description: `Identity ${secondaryId} unlinked`,
        details: {
          primary_id: primaryId, secondary_id: secondaryId, provider, identity_user_id: identityUserId,
          connection: identity.connection, restored_metadata: restore,
        },
      });
      const remaining = toProfile({ ...primary, updated_at: date }, primaryIdentities.filter((i) => i !== identity));
      const detached = toProfile(row, [{ ...identity, owner_id: secondaryId, is_main: 1, profile_data: null, linked_at: date }]);
      change = {
        type: 'identity.unlinked', primaryId, secondaryId, provider, identityUserId, connection: identity.connection, actor, date,
        primary: remaining, detached,
      };
      return remaining.identities;
    });
    await this.#emit(change!);
    return identities;
  }

  // ---------------------------------------------------------------- internals

  #requireConnection(name: string): Connection {
    const connection = this.#connections.byName(name);
    if (!connection) throw new AccordError('inexistent_connection', `The connection ${JSON.stringify(name)} does not exist.`);
    return connection;
  }

  /** Finds the user id of the secondary, refusing self-links and identities owned elsewhere. */
  async #resolveSecondary(db: Db, primaryId: string, ref: SecondaryRef): Promise<string> {
    let provider: string;
    let identityUserId: string;
    if ('userId' in ref) {
      if (ref.userId === primaryId) throw new AccordError('link_self');
      const split = splitUserId(ref.userId);
      if (!split) throw new AccordError('link_secondary_not_found');
      ({ provider, identityUserId } = split);
    } else {
      ({ provider, identityUserId } = ref);
    }
    const identity = (await db.executeQuery(this.#queries.identityOwner({ provider, userId: identityUserId }))).rows[0];
    if (!identity) throw new AccordError('link_secondary_not_found');
    if (identity.owner_id === primaryId) throw new AccordError(identity.is_main === 1 ? 'link_self' : 'link_identity_in_use');
    if (identity.is_main !== 1) throw new AccordError('link_identity_in_use');
    if ('userId' in ref && identity.owner_id !== ref.userId) throw new AccordError('link_secondary_not_found');
    return identity.owner_id;
  }

  async #lockUser(trx: Db, userId: string): Promise<UserRow> {
    const row = (await this.#lockUsers(trx, [userId])).get(userId);
    if (!row) throw new AccordError('inexistent_user');
    return row;
  }

  /** Row locks on PostgreSQL, taken in id order so two transactions never deadlock; SQLite serializes writers already. */
  async #lockUsers(trx: Db, userIds: [string] | [string, string]): Promise<Map<string, UserRow>> {
    const [first, second] = userIds;
    const { rows } = await trx.executeQuery(second === undefined
      ? this.#queries.lockUser({ userId: first })
      : this.#queries.lockTwoUsers({ first, second }));
    return new Map(rows.map((r) => [r.user_id, r]));
  }

  /**
   * Serializes the "is this email taken in this connection?" check with the write that follows,
   * so the loser of two concurrent creates on PostgreSQL gets user_exists; the unique index on
   * identities (connection, connection_email) is the backstop.
   */
  async #emailTaken(trx: Db, connection: string, emailNormalized: string): Promise<boolean> {
    const taken = await trx.selectFrom('identities').select('owner_id')
      .where('connection', '=', connection).where('connection_email', '=', emailNormalized).executeTakeFirst();
    return taken !== undefined;
  }

  async #lockEmail(trx: Db, connection: string, emailNormalized: string): Promise<void> {
    if (this.#dialect !== 'postgres') return;
    await sql`select pg_advisory_xact_lock(hashtextextended(${`accord:email:${connection}:${emailNormalized}`}, 0))`.execute(trx);
  }

  async #identityRowsOf(db: Db, userId: string): Promise<IdentityRow[]> {
    return (await db.executeQuery(this.#queries.identitiesOf({ ownerId: userId }))).rows;
  }

  async #withIdentities(db: Db, rows: UserRow[]): Promise<UserProfile[]> {
    if (rows.length === 0) return [];
    const identities = rows.length === 1
      ? await this.#identityRowsOf(db, rows[0]!.user_id)
      : await db.selectFrom('identities').selectAll().where('owner_id', 'in', rows.map((r) => r.user_id)).execute();
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

  /** One connection serves SQLite, so its transactions run one at a time; PostgreSQL relies on #lockUsers. */
  async #record(trx: Db, actor: Actor, event: Parameters<typeof auditEventRow>[1]): Promise<void> {
    await trx.executeQuery(this.#queries.insertAuditEvent(auditEventRow(actor, event)));
  }

  async #transaction<T>(work: (trx: Transaction<Schema>) => Promise<T>): Promise<T> {
    try {
      return await this.#transact(work);
    } catch (err) {
      if (isConcurrencyFailure(err)) throw new AccordError('conflict');
      throw err;
    }
  }
}

/** Unique violations, deadlocks and serialization failures: another transaction got there first. */
function isConcurrencyFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === '40P01' || code === '40001'
    || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_BUSY';
}

function searchCondition(eb: ExpressionBuilder<Schema, 'users'>, clause: SearchClause): Expression<SqlBool> {
  const { value } = clause;
  const like = (v: string) => `${v.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
  let condition: Expression<SqlBool>;
  switch (clause.field) {
    case 'email': {
      const normalized = normalizeEmail(value);
      condition = clause.prefix
        ? sql<SqlBool>`${sql.ref('email_normalized')} like ${like(normalized)} escape '\\'`
        : eb('email_normalized', '=', normalized);
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
      condition = eb.exists(eb.selectFrom('identities').select(sql.lit(1).as('one'))
        .whereRef('identities.owner_id', '=', 'users.user_id').where(`identities.${column}`, '=', value));
      break;
    }
  }
  if (!clause.negate) return condition;
  // NOT over a NULL column would drop the row; a user with no email is "not that email".
  return eb.or([eb.not(condition), ...(clause.field === 'email' ? [eb('email_normalized', 'is', null)] : clause.field === 'name' ? [eb('name', 'is', null)] : [])]);
}
