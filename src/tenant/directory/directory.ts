import type { Database } from '../tenant-database.ts';
import type { ConnectionRegistry } from '../connections.ts';
import { AuditLog, type Actor, type AuditEvent } from './audit.ts';
import { Credentials } from './credentials.ts';
import { DirectoryStore, type Db } from './directory-store.ts';
import { Linking, type IdentityChange, type IdentityChangeListener, type SecondaryRef, type UnlinkOptions } from './linking.ts';
import type { Identity, UserProfile } from './profile.ts';
import { searchUsers, type ListUsersOptions } from './search.ts';
import { Users, type AccountChange, type AccountChangeListener, type CreateFederatedUserInput, type CreateUserInput, type UpdateUserInput } from './users.ts';

export type { AccountChange, AccountChangeListener, CreateFederatedUserInput, CreateUserInput, UpdateUserInput } from './users.ts';
export type { IdentityChange, IdentityChangeListener, SecondaryRef, UnlinkOptions } from './linking.ts';
export { SORT_FIELDS, type ListUsersOptions, type SortField } from './search.ts';

/**
 * The user directory: users, identities and Auth0's linking rules. Knows nothing of HTTP;
 * every refusal is an AccordError with a stable code. Every write is one transaction.
 * Each job has its own module (users, credentials, search, audit, linking); this is the one
 * door the rest of the tenant goes through, and where change listeners are registered.
 */
export class Directory {
  readonly #store: DirectoryStore;
  readonly #listeners: IdentityChangeListener[] = [];
  readonly #accountListeners: AccountChangeListener[] = [];
  readonly #audit: AuditLog;
  readonly #credentials: Credentials;
  readonly #users: Users;
  readonly #linking: Linking;

  constructor(database: Database, connections: ConnectionRegistry) {
    this.#store = new DirectoryStore(database, connections);
    this.#audit = new AuditLog(this.#store);
    this.#credentials = new Credentials(this.#store, this.#audit);
    this.#users = new Users(this.#store, this.#audit, this.#credentials, (change) => this.#emitAccount(change));
    this.#linking = new Linking(this.#store, this.#audit, this.#users, (change) => this.#emit(change));
  }

  get connections(): ConnectionRegistry {
    return this.#store.connections;
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

  // ---------------------------------------------------------------- sign-in support (credentials.ts)

  findIdentityByEmail(connection: string, email: string): Promise<{ provider: string; user_id: string; owner_id: string } | undefined> {
    return this.#credentials.findIdentityByEmail(connection, email);
  }

  passwordHashOf(provider: string, identityUserId: string): Promise<string | undefined> {
    return this.#credentials.passwordHashOf(provider, identityUserId);
  }

  setPassword(provider: string, identityUserId: string, password: string, actor: Actor): Promise<void> {
    return this.#credentials.setPassword(provider, identityUserId, password, actor);
  }

  markEmailVerified(provider: string, identityUserId: string, actor: Actor): Promise<void> {
    return this.#credentials.markEmailVerified(provider, identityUserId, actor);
  }

  recordLogin(userId: string, at?: string): Promise<void> {
    return this.#users.recordLogin(userId, at);
  }

  // ---------------------------------------------------------------- reads (users.ts, search.ts, audit.ts)

  getUser(userId: string): Promise<UserProfile> {
    return this.#users.getUser(userId);
  }

  findUser(userId: string, db?: Db): Promise<UserProfile | undefined> {
    return this.#store.findUser(userId, db);
  }

  findByEmail(email: string): Promise<UserProfile[]> {
    return this.#users.findByEmail(email);
  }

  findByIdentity(provider: string, identityUserId: string): Promise<UserProfile | undefined> {
    return this.#users.findByIdentity(provider, identityUserId);
  }

  listUsers(options: ListUsersOptions): Promise<{ users: UserProfile[]; total: number }> {
    return searchUsers(this.#store, options);
  }

  logs(options: { userId?: string; page: number; perPage: number }): Promise<{ events: AuditEvent[]; total: number }> {
    return this.#audit.read(options);
  }

  // ---------------------------------------------------------------- writes (users.ts, linking.ts)

  createUser(input: CreateUserInput, actor: Actor): Promise<UserProfile> {
    return this.#users.createUser(input, actor);
  }

  createFederatedUser(input: CreateFederatedUserInput, actor: Actor): Promise<UserProfile> {
    return this.#users.createFederatedUser(input, actor);
  }

  updateUser(userId: string, patch: UpdateUserInput, actor: Actor): Promise<UserProfile> {
    return this.#users.updateUser(userId, patch, actor);
  }

  deleteUser(userId: string, actor: Actor): Promise<void> {
    return this.#users.deleteUser(userId, actor);
  }

  /** The user a sign-in through this standalone identity links into automatically, if any (linking.ts). */
  autoLinkTarget(user: UserProfile, provider: string, identityUserId: string): Promise<UserProfile | undefined> {
    return this.#linking.autoLinkTarget(user, provider, identityUserId);
  }

  link(primaryId: string, secondary: SecondaryRef, actor: Actor): Promise<Identity[]> {
    return this.#linking.link(primaryId, secondary, actor);
  }

  unlink(primaryId: string, provider: string, identityUserId: string, options: UnlinkOptions, actor: Actor): Promise<Identity[]> {
    return this.#linking.unlink(primaryId, provider, identityUserId, options, actor);
  }
}
