import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { tenantError } from '../tenant-errors.ts';
import { identityUserIdFor, type Connection } from '../connections.ts';
import type { Actor, AuditLog } from './audit.ts';
import { strongPasswordHash, type Credentials } from './credentials.ts';
import { now, type Db, type DirectoryStore } from './directory-store.ts';
import { userWithIdentityOf } from './directory-queries.ts';
import { isPlausibleEmail, normalizeEmail } from './email.ts';
import { checkMetadataDepth, checkMetadataSize } from './metadata-limits.ts';
import { mergeMetadataTopLevel, toProfile, type IdentityRow, type Metadata, type UserProfile, type UserRow } from './profile.ts';

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

/** A user whose every session must end: blocked, or deleted. Delivered after the change is committed. */
export interface AccountChange {
  type: 'user.blocked' | 'user.deleted';
  userId: string;
  actor: Actor;
  date: string;
}

export type AccountChangeListener = (change: AccountChange) => void | Promise<void>;

/** The Auth0-style 24-hex object id used for database and passwordless identities. */
const newObjectId = () => randomBytes(12).toString('hex');

const PROFILE_KEYS = ['email', 'name', 'given_name', 'family_name', 'nickname', 'picture', 'phone_number'] as const;

/** Users: their reads, creation, updates and deletion, and one identity per email in a connection. */
export class Users {
  readonly #store: DirectoryStore;
  readonly #audit: AuditLog;
  readonly #credentials: Credentials;
  readonly #emitAccount: (change: AccountChange) => Promise<void>;

  constructor(store: DirectoryStore, audit: AuditLog, credentials: Credentials, emitAccount: (change: AccountChange) => Promise<void>) {
    this.#store = store;
    this.#audit = audit;
    this.#credentials = credentials;
    this.#emitAccount = emitAccount;
  }

  /**
   * Counts a successful sign-in at `at`. One statement in the writes' group commit rather than
   * a commit of its own: under load, sign-ins share the commit (and its WAL write) with the
   * sessions, codes and rate-limit counters written at the same moment.
   */
  async recordLogin(userId: string, at: string = now()): Promise<void> {
    await this.#store.write(this.#store.queries.recordLogin({ userId, at }));
  }

  async getUser(userId: string): Promise<UserProfile> {
    const profile = await this.#store.findUser(userId);
    if (!profile) throw tenantError('inexistent_user');
    return profile;
  }

  /**
   * Users whose email matches `email` after normalization, oldest first. Always read from the
   * database (immediately consistent after any write). The hottest read of the Management API:
   * one statement, compiled once (see directory-queries.ts), so users and identities also come
   * from one snapshot, never from either side of a concurrent link.
   */
  async findByEmail(email: string): Promise<UserProfile[]> {
    const values = await this.#store.committedValues(this.#store.queries.usersByEmail({ email: normalizeEmail(email) }));
    const users = new Map<string, { row: UserRow; identities: IdentityRow[] }>();
    for (const v of values) {
      const { user: row, identity } = userWithIdentityOf(v);
      const user = users.get(row.user_id);
      if (user) user.identities.push(identity);
      else users.set(row.user_id, { row, identities: [identity] });
    }
    // As in DirectoryStore.withIdentities: a user without its main identity does not exist (never shown with `identities: []`).
    return [...users.values()].flatMap(({ row, identities }) => (identities.some((i) => i.is_main === 1) ? [toProfile(row, identities)] : []));
  }

  /** The user that owns an identity, whether as its main identity or a linked one. */
  async findByIdentity(provider: string, identityUserId: string): Promise<UserProfile | undefined> {
    const store = this.#store;
    const identity = (await store.execute(store.reader, store.queries.identityOwner({ provider, userId: identityUserId }))).rows[0];
    return identity ? store.findUser(identity.owner_id) : undefined;
  }

  /** Creates a user in a database or passwordless connection, as `POST /api/v2/users` does. */
  async createUser(input: CreateUserInput, actor: Actor): Promise<UserProfile> {
    const connection = this.#store.requireConnection(input.connection);
    if (connection.capabilities.createdBySignIn) {
      throw tenantError(
        'operation_not_supported',
        `Users of the ${connection.name} connection are created when they first sign in; they cannot be created here.`,
      );
    }
    if (!input.email) throw tenantError('invalid_body', 'Payload validation error: an email is required for this connection.');
    let passwordHash: string | undefined;
    if (connection.capabilities.holdsPasswords) {
      if (input.password === undefined) throw tenantError('password_required');
      passwordHash = await strongPasswordHash(input.password);
    } else if (input.password !== undefined) {
      throw tenantError('invalid_body', 'Payload validation error: passwordless users have no password.');
    }
    return this.#insertUser(connection, newObjectId(), input, passwordHash, actor);
  }

  /** Creates the user for a first login through an upstream identity provider. */
  async createFederatedUser(input: CreateFederatedUserInput, actor: Actor): Promise<UserProfile> {
    const connection = this.#store.requireConnection(input.connection);
    if (!connection.capabilities.createdBySignIn) throw tenantError('operation_not_supported');
    return this.#insertUser(connection, identityUserIdFor(connection, input.sub), input, undefined, actor);
  }

  async #insertUser(
    connection: Connection,
    identityUserId: string,
    input: Omit<CreateUserInput, 'password'>,
    passwordHash: string | undefined,
    actor: Actor,
  ): Promise<UserProfile> {
    if (input.email !== undefined && !isPlausibleEmail(input.email)) {
      throw tenantError('invalid_body', 'Payload validation error: email is not a valid email address.');
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
      provider: connection.provider,
      user_id: identityUserId,
      owner_id: userId,
      connection: connection.name,
      is_social: connection.isSocial ? 1 : 0,
      is_main: 1,
      profile_data: null,
      connection_email: connection.capabilities.ownsEmailUniqueness ? row.email_normalized : null,
      linked_at: date,
    };
    return this.#store.transaction(async (trx) => {
      if (connection.capabilities.ownsEmailUniqueness && row.email_normalized !== null) {
        // One identity per email within a database or passwordless connection, as Auth0 does,
        // counting identities linked into other users too.
        await this.#lockEmail(trx, connection.name, row.email_normalized);
        if (await this.#emailTaken(trx, connection.name, row.email_normalized)) throw tenantError('user_exists');
      }
      const existing = await trx
        .selectFrom('identities')
        .select('owner_id')
        .where('provider', '=', identity.provider)
        .where('user_id', '=', identity.user_id)
        .executeTakeFirst();
      if (existing) throw tenantError('user_exists');
      await trx.insertInto('users').values(row).execute();
      await trx.insertInto('identities').values(identity).execute();
      if (passwordHash !== undefined) {
        await trx
          .insertInto('credentials')
          .values({ provider: identity.provider, user_id: identity.user_id, password_hash: passwordHash, updated_at: date })
          .execute();
      }
      await this.#audit.record(trx, actor, {
        type: 'user.created',
        date,
        userId,
        description: `User created in connection ${connection.name}`,
        details: { user_id: userId, connection: connection.name },
      });
      return toProfile(row, [identity]);
    });
  }

  async updateUser(userId: string, patch: UpdateUserInput, actor: Actor): Promise<UserProfile> {
    checkMetadataDepth('user_metadata', patch.user_metadata);
    checkMetadataDepth('app_metadata', patch.app_metadata);
    const passwordHash = patch.password !== undefined ? await strongPasswordHash(patch.password) : undefined;
    if (patch.email !== undefined && !isPlausibleEmail(patch.email)) {
      throw tenantError('invalid_body', 'Payload validation error: email is not a valid email address.');
    }
    let blocked: AccountChange | undefined;
    const updated = await this.#store.transaction(async (trx) => {
      const row = await this.#store.lockUser(trx, userId);
      const identities = await trx.selectFrom('identities').selectAll().where('owner_id', '=', userId).execute();
      const main = identities.find((i) => i.is_main === 1)!;
      const date = now();
      const changes: Partial<UserRow> = {};
      const changed: string[] = [];

      for (const key of PROFILE_KEYS) {
        const value = patch[key];
        if (value !== undefined && value !== row[key]) {
          changes[key] = value;
          changed.push(key);
        }
      }
      const newEmail = patch.email !== undefined ? normalizeEmail(patch.email) : undefined;
      if (newEmail !== undefined && newEmail !== row.email_normalized) {
        changes.email_normalized = newEmail;
        // A new address is unproven until someone says otherwise; a change of case is not a new address.
        if (patch.email_verified === undefined) changes.email_verified = 0;
        const connection = this.#store.connections.byName(main.connection);
        if (connection?.capabilities.ownsEmailUniqueness) {
          await this.#lockEmail(trx, main.connection, newEmail);
          if (await this.#emailTaken(trx, main.connection, newEmail)) {
            throw tenantError('user_exists', 'Another account of this connection already has that email.');
          }
          await trx
            .updateTable('identities')
            .set({ connection_email: newEmail })
            .where('provider', '=', main.provider)
            .where('user_id', '=', main.user_id)
            .execute();
        }
      }
      for (const key of ['email_verified', 'phone_verified', 'blocked'] as const) {
        const value = patch[key];
        if (value !== undefined && (value ? 1 : 0) !== row[key]) {
          changes[key] = value ? 1 : 0;
          changed.push(key);
        }
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
        const connection = this.#store.connections.byName(main.connection);
        if (!connection?.capabilities.holdsPasswords) {
          throw tenantError('operation_not_supported', 'Only users of a database connection have a password.');
        }
        await this.#credentials.replacePasswordHash(trx, main.provider, main.user_id, passwordHash, date);
        changed.push('password');
      }
      if (changed.length === 0 && Object.keys(changes).length === 0) return toProfile(row, identities);

      const next: UserRow = { ...row, ...changes, updated_at: date };
      await trx
        .updateTable('users')
        .set({ ...changes, updated_at: date })
        .where('user_id', '=', userId)
        .execute();
      await this.#audit.record(trx, actor, {
        type: 'user.updated',
        date,
        userId,
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
    await this.#store.transaction(async (trx) => {
      await this.#store.lockUser(trx, userId);
      const identities = await trx.selectFrom('identities').select(['provider', 'user_id']).where('owner_id', '=', userId).execute();
      await trx.deleteFrom('users').where('user_id', '=', userId).execute();
      await trx.deleteFrom('link_snapshots').where('primary_id', '=', userId).execute();
      await this.#audit.record(trx, actor, {
        type: 'user.deleted',
        date,
        userId,
        description: 'User deleted',
        details: { user_id: userId, identities: identities.map((i) => `${i.provider}|${i.user_id}`) },
      });
    });
    await this.#emitAccount({ type: 'user.deleted', userId, actor, date });
  }

  /** Whether an identity of `connection`, linked or not, is registered with this email. */
  async #emailTaken(trx: Db, connection: string, emailNormalized: string): Promise<boolean> {
    const taken = await trx
      .selectFrom('identities')
      .select('owner_id')
      .where('connection', '=', connection)
      .where('connection_email', '=', emailNormalized)
      .executeTakeFirst();
    return taken !== undefined;
  }

  /**
   * Serializes the "is this email taken in this connection?" check with the write that follows,
   * so the loser of two concurrent creates on PostgreSQL gets user_exists; the unique index on
   * identities (connection, connection_email) is the backstop. SQLite's write transaction holds
   * the whole database already.
   */
  async #lockEmail(trx: Db, connection: string, emailNormalized: string): Promise<void> {
    if (this.#store.dialect !== 'postgres') return;
    await sql`select pg_advisory_xact_lock(hashtextextended(${`accord:email:${connection}:${emailNormalized}`}, 0))`.execute(trx);
  }
}
