import { tenantError } from '../tenant-errors.ts';
import type { Connection } from '../connections.ts';
import type { Actor, AuditLog } from './audit.ts';
import { userWithIdentityOf } from './directory-queries.ts';
import { now, type Db, type DirectoryStore } from './directory-store.ts';
import { normalizeEmail } from './email.ts';
import { rootProfileData, splitUserId, toProfile, type Identity, type IdentityRow, type ProfileData, type UserProfile, type UserRow } from './profile.ts';
import type { Users } from './users.ts';

export type SecondaryRef = { userId: string } | { provider: string; identityUserId: string; connectionId?: string | undefined };

export interface UnlinkOptions {
  /** Restore the secondary's metadata from its link snapshot (Auth0's default is none). */
  restoreMetadata?: boolean;
}

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

/**
 * Where a link is decided: the automatic-linking policy, Auth0's linking rules (no self-links,
 * an identity has one owner, a secondary brings only its own main identity) and the link and
 * unlink transactions.
 */
export class Linking {
  readonly #store: DirectoryStore;
  readonly #audit: AuditLog;
  readonly #users: Users;
  readonly #emit: (change: IdentityChange) => Promise<void>;

  constructor(store: DirectoryStore, audit: AuditLog, users: Users, emit: (change: IdentityChange) => Promise<void>) {
    this.#store = store;
    this.#audit = audit;
    this.#users = users;
    this.#emit = emit;
  }

  /**
   * Auth0's old link-by-email rule, opt-in per connection (`linking: "auto"`): only a standalone
   * user whose email is verified by a trusted connection, and only when exactly one other
   * verified user of a trusted, non-`never` connection has the same email.
   */
  async autoLinkTarget(user: UserProfile, provider: string, identityUserId: string): Promise<UserProfile | undefined> {
    const main = user.identities[0]!;
    if (main.provider !== provider || main.user_id !== identityUserId || user.identities.length !== 1) return undefined;
    const connection = this.#store.connections.byName(main.connection);
    if (!connection || connection.linking !== 'auto' || !connection.trustEmailVerified) return undefined;
    if (user.email_verified !== true || !user.email) return undefined;
    const others = (await this.#users.findByEmail(user.email)).filter((other) => {
      if (other.user_id === user.user_id || other.email_verified !== true) return false;
      const theirs: Connection | undefined = this.#store.connections.byName(other.identities[0]!.connection);
      return theirs !== undefined && theirs.trustEmailVerified && theirs.linking !== 'never';
    });
    return others.length === 1 ? others[0] : undefined;
  }

  /**
   * Links the secondary's main identity into the primary, in one transaction. The secondary
   * user disappears; its root attributes live on as the identity's profileData and, with its
   * metadata, in a link snapshot that a later unlink may restore.
   */
  async link(primaryId: string, secondary: SecondaryRef, actor: Actor): Promise<Identity[]> {
    // PostgreSQL: find the secondary first, to lock both users in one order, then check again
    // under the locks. SQLite's write transaction holds the whole database: one look, inside.
    const found = this.#store.dialect === 'postgres' ? await this.#resolveSecondary(this.#store.db, primaryId, secondary) : undefined;
    let change: IdentityChange | undefined;
    const identities = await this.#store.transaction(async (trx) => {
      const key = secondaryKey(primaryId, secondary);
      if (found !== undefined) {
        const locked = await this.#store.lockUsers(trx, [primaryId, found]);
        if (!locked.has(primaryId)) throw tenantError('inexistent_user');
      }
      // The identity's owner, both users and their identities in one statement; the owner is
      // checked from what it reads (under the locks on PostgreSQL: a concurrent link may have
      // taken the secondary meanwhile).
      const users = new Map<string, UserRow>();
      const identityRows: IdentityRow[] = [];
      const rows = await this.#store.valuesIn(trx, this.#store.queries.usersOfLink({ primaryId, provider: key.provider, userId: key.identityUserId }));
      for (const values of rows) {
        const { user, identity } = userWithIdentityOf(values);
        if (!users.has(user.user_id)) users.set(user.user_id, user);
        identityRows.push(identity);
      }
      const secondaryId = ownerOf(
        primaryId,
        secondary,
        identityRows.find((i) => i.provider === key.provider && i.user_id === key.identityUserId),
      );
      if (found !== undefined && secondaryId !== found) throw tenantError('link_identity_in_use');
      const primary = users.get(primaryId);
      if (!primary) throw tenantError('inexistent_user');
      const secondaryRow = users.get(secondaryId)!;

      const secondaryIdentities = identityRows.filter((i) => i.owner_id === secondaryId);
      const primaryIdentities = identityRows.filter((i) => i.owner_id === primaryId);
      if (secondaryIdentities.length !== 1) {
        throw tenantError(
          'link_secondary_has_identities',
          'Unable to link with the secondary account: it has linked identities of its own. Unlink them first.',
        );
      }
      const identity = secondaryIdentities[0]!;
      if ('connectionId' in secondary && secondary.connectionId !== undefined) {
        const connection = this.#store.connections.byName(identity.connection);
        if (connection?.id !== secondary.connectionId) throw tenantError('link_secondary_not_found');
      }

      const date = now();
      // Identities list in link order, which is linked_at order: keep it strictly increasing even
      // when two links land in one millisecond (the primary's row lock makes this race-free).
      const last = primaryIdentities.reduce((latest, i) => (i.linked_at > latest ? i.linked_at : latest), '');
      const linkedAt = last >= date ? new Date(Date.parse(last) + 1).toISOString() : date;
      const profileData = rootProfileData(secondaryRow);
      await this.#store.execute(
        trx,
        this.#store.queries.insertSnapshot({
          primaryId,
          provider: identity.provider,
          userId: identity.user_id,
          snapshot: JSON.stringify(toProfile(secondaryRow, secondaryIdentities)),
          date,
        }),
      );
      const linkedIdentity = { ...identity, owner_id: primaryId, is_main: 0, profile_data: JSON.stringify(profileData), linked_at: linkedAt };
      const moved = await this.#store.execute(
        trx,
        this.#store.queries.linkIdentity({
          provider: identity.provider,
          userId: identity.user_id,
          from: secondaryId,
          to: primaryId,
          profileData: linkedIdentity.profile_data,
          linkedAt,
        }),
      );
      if (Number(moved.numAffectedRows) !== 1) throw tenantError('link_identity_in_use');
      await this.#store.execute(trx, this.#store.queries.deleteUser({ userId: secondaryId }));
      await this.#store.execute(trx, this.#store.queries.touchUser({ userId: primaryId, date }));
      await this.#audit.record(trx, actor, {
        type: 'identity.linked',
        date,
        userId: primaryId,
        description: `Identity ${identity.provider}|${identity.user_id} linked`,
        details: {
          primary_id: primaryId,
          secondary_id: secondaryId,
          provider: identity.provider,
          identity_user_id: identity.user_id,
          connection: identity.connection,
        },
      });
      const linked = toProfile({ ...primary, updated_at: date }, [...primaryIdentities, linkedIdentity]);
      change = {
        type: 'identity.linked',
        primaryId,
        secondaryId,
        provider: identity.provider,
        identityUserId: identity.user_id,
        connection: identity.connection,
        actor,
        date,
        primary: linked,
      };
      return linked.identities;
    });
    await this.#emit(change!);
    return identities;
  }

  /** Detaches a linked identity and recreates it as a standalone user, in one transaction. */
  async unlink(primaryId: string, provider: string, identityUserId: string, options: UnlinkOptions, actor: Actor): Promise<Identity[]> {
    let change: IdentityChange | undefined;
    const identities = await this.#store.transaction(async (trx) => {
      const date = now();
      // Locked and its updated_at set at once: a refusal below rolls both back.
      const primary = (await this.#store.execute(trx, this.#store.queries.touchAndLockUser({ userId: primaryId, date }))).rows[0];
      if (!primary) throw tenantError('inexistent_user');
      const primaryIdentities = await this.#store.identityRowsOf(trx, primaryId);
      const identity = primaryIdentities.find((i) => i.provider === provider && i.user_id === identityUserId);
      if (!identity) throw tenantError('inexistent_identity');
      if (identity.is_main === 1) throw tenantError('unlink_main_identity');

      const data = (identity.profile_data ? JSON.parse(identity.profile_data) : {}) as ProfileData;
      // The snapshots have served their purpose once read (keeping a copy of someone's profile
      // has none): deleted and read in one statement, the latest one used.
      const { rows: snapshots } = await this.#store.execute(trx, this.#store.queries.takeSnapshots({ primaryId, provider, userId: identityUserId }));
      // By id: PostgreSQL's bigserial comes back as a string.
      const snapshotRow = snapshots.reduce<(typeof snapshots)[number] | undefined>(
        (latest, r) => (latest === undefined || Number(r.id) > Number(latest.id) ? r : latest),
        undefined,
      );
      const snapshot = snapshotRow ? (JSON.parse(snapshotRow.snapshot) as UserProfile) : undefined;
      const restore = options.restoreMetadata === true && snapshot !== undefined;

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
      await this.#store.execute(trx, this.#store.queries.insertUser(row));
      const moved = await this.#store.execute(
        trx,
        this.#store.queries.detachIdentity({
          provider,
          userId: identityUserId,
          from: primaryId,
          to: secondaryId,
          linkedAt: date,
        }),
      );
      if (Number(moved.numAffectedRows) !== 1) throw tenantError('inexistent_identity');
      await this.#audit.record(trx, actor, {
        type: 'identity.unlinked',
        date,
        userId: primaryId,
        description: `Identity ${secondaryId} unlinked`,
        details: {
          primary_id: primaryId,
          secondary_id: secondaryId,
          provider,
          identity_user_id: identityUserId,
          connection: identity.connection,
          restored_metadata: restore,
        },
      });
      const remaining = toProfile(
        { ...primary, updated_at: date },
        primaryIdentities.filter((i) => i !== identity),
      );
      const detached = toProfile(row, [{ ...identity, owner_id: secondaryId, is_main: 1, profile_data: null, linked_at: date }]);
      change = {
        type: 'identity.unlinked',
        primaryId,
        secondaryId,
        provider,
        identityUserId,
        connection: identity.connection,
        actor,
        date,
        primary: remaining,
        detached,
      };
      return remaining.identities;
    });
    await this.#emit(change!);
    return identities;
  }

  /** Finds the user id of the secondary, refusing self-links and identities owned elsewhere. */
  async #resolveSecondary(db: Db, primaryId: string, ref: SecondaryRef): Promise<string> {
    const { provider, identityUserId } = secondaryKey(primaryId, ref);
    const identity = (await this.#store.execute(db, this.#store.queries.identityOwner({ provider, userId: identityUserId }))).rows[0];
    return ownerOf(primaryId, ref, identity);
  }
}

/** The identity a link is asked for, refusing a self-link by user id and a malformed user id. */
function secondaryKey(primaryId: string, ref: SecondaryRef): { provider: string; identityUserId: string } {
  if (!('userId' in ref)) return ref;
  if (ref.userId === primaryId) throw tenantError('link_self');
  const split = splitUserId(ref.userId);
  if (!split) throw tenantError('link_secondary_not_found');
  return split;
}

/** The owner of the identity a link is asked for: a user of its own, whose main identity it is, and not the primary. */
function ownerOf(primaryId: string, ref: SecondaryRef, identity: Pick<IdentityRow, 'owner_id' | 'is_main'> | undefined): string {
  if (!identity) throw tenantError('link_secondary_not_found');
  if (identity.owner_id === primaryId) throw tenantError(identity.is_main === 1 ? 'link_self' : 'link_identity_in_use');
  if (identity.is_main !== 1) throw tenantError('link_identity_in_use');
  if ('userId' in ref && identity.owner_id !== ref.userId) throw tenantError('link_secondary_not_found');
  return identity.owner_id;
}
