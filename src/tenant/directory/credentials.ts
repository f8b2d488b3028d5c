import { tenantError } from '../tenant-errors.ts';
import type { Actor, AuditLog } from './audit.ts';
import { now, type Db, type DirectoryStore } from './directory-store.ts';
import { normalizeEmail } from './email.ts';
import { checkPasswordStrength, hashPassword } from './passwords.ts';
import type { ProfileData } from './profile.ts';

/** What a sign-in checks and proves about an identity: its password, its verified email. */
export class Credentials {
  readonly #store: DirectoryStore;
  readonly #audit: AuditLog;

  constructor(store: DirectoryStore, audit: AuditLog) {
    this.#store = store;
    this.#audit = audit;
  }

  /** The database or passwordless identity registered with `email` in `connection`, linked or not. */
  async findIdentityByEmail(connection: string, email: string): Promise<{ provider: string; user_id: string; owner_id: string } | undefined> {
    const store = this.#store;
    return (await store.execute(store.reader, store.queries.identityByEmail({ connection, email: normalizeEmail(email) }))).rows[0];
  }

  async passwordHashOf(provider: string, identityUserId: string): Promise<string | undefined> {
    const row = await this.#store.db
      .selectFrom('credentials')
      .select('password_hash')
      .where('provider', '=', provider)
      .where('user_id', '=', identityUserId)
      .executeTakeFirst();
    return row?.password_hash;
  }

  /** Replaces an identity's password (strength rules apply); the identity may be linked. */
  async setPassword(provider: string, identityUserId: string, password: string, actor: Actor): Promise<void> {
    const passwordHash = await strongPasswordHash(password);
    await this.#store.transaction(async (trx) => {
      const identity = await trx
        .selectFrom('identities')
        .select('owner_id')
        .where('provider', '=', provider)
        .where('user_id', '=', identityUserId)
        .executeTakeFirst();
      if (!identity) throw tenantError('inexistent_identity');
      const date = now();
      if (!(await this.replacePasswordHash(trx, provider, identityUserId, passwordHash, date))) {
        throw tenantError('operation_not_supported', 'Only identities of a database connection have a password.');
      }
      await this.#audit.record(trx, actor, {
        type: 'user.updated',
        date,
        userId: identity.owner_id,
        description: `Password changed for identity ${provider}|${identityUserId}`,
        details: { user_id: identity.owner_id, identity: `${provider}|${identityUserId}`, changed: ['password'] },
      });
    });
  }

  /** Within the caller's transaction; false when the identity has no password to replace. */
  async replacePasswordHash(trx: Db, provider: string, identityUserId: string, passwordHash: string, date: string): Promise<boolean> {
    const updated = await trx
      .updateTable('credentials')
      .set({ password_hash: passwordHash, updated_at: date })
      .where('provider', '=', provider)
      .where('user_id', '=', identityUserId)
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1;
  }

  /** Marks an identity's email as verified: the root profile for a main identity, its profileData otherwise. */
  async markEmailVerified(provider: string, identityUserId: string, actor: Actor): Promise<void> {
    await this.#store.transaction(async (trx) => {
      const identity = await trx.selectFrom('identities').selectAll().where('provider', '=', provider).where('user_id', '=', identityUserId).executeTakeFirst();
      if (!identity) throw tenantError('inexistent_identity');
      const date = now();
      if (identity.is_main === 1) {
        await trx.updateTable('users').set({ email_verified: 1, updated_at: date }).where('user_id', '=', identity.owner_id).execute();
      } else {
        const data = JSON.parse(identity.profile_data ?? '{}') as ProfileData;
        await trx
          .updateTable('identities')
          .set({ profile_data: JSON.stringify({ ...data, email_verified: true }) })
          .where('provider', '=', provider)
          .where('user_id', '=', identityUserId)
          .execute();
      }
      await this.#audit.record(trx, actor, {
        type: 'user.updated',
        date,
        userId: identity.owner_id,
        description: `Email verified for identity ${provider}|${identityUserId}`,
        details: { user_id: identity.owner_id, identity: `${provider}|${identityUserId}`, changed: ['email_verified'] },
      });
    });
  }
}

/** The hash of a password that passes the strength rules; hashed before any transaction opens. */
export async function strongPasswordHash(password: string): Promise<string> {
  checkPasswordStrength(password);
  return hashPassword(password);
}
