import { tenantError } from '../tenant-errors.ts';
import { SYSTEM_ACTOR } from '../directory/audit.ts';
import type { Directory } from '../directory/directory.ts';
import type { UserProfile } from '../directory/profile.ts';

export interface SignInResult {
  /** The user to sign in as: the owner of the identity, which may be a primary it is linked into. */
  user: UserProfile;
  /** Set when automatic linking attached the identity to another user during this sign-in. */
  autoLinkedInto?: string;
}

/**
 * What happens after a connection has proven an identity, whatever the connection: resolve
 * the identity to the user that owns it, refuse blocked users, apply the connection's
 * automatic-linking policy (decided in directory/linking.ts), and count the login. No HTTP here.
 */
export class LoginPipeline {
  constructor(private readonly directory: Directory) {}

  /**
   * `owner`: the identity's user as the connection read it in this request and left it (the
   * code's email looked up, its verification checked), so it is not read again; it counts only
   * if it holds the identity. `alongside`, given the user as counted, stores what the caller
   * completes the sign-in with (the interaction's result): it is queued with the login's count,
   * so on SQLite both land in one group commit rather than one after the other. The sign-in
   * succeeds only if both do.
   */
  async signIn(
    provider: string,
    identityUserId: string,
    options: { owner?: UserProfile | undefined; alongside?: (user: UserProfile) => Promise<void> } = {},
  ): Promise<SignInResult> {
    const { owner, alongside } = options;
    let user = owner?.identities.some((i) => i.provider === provider && i.user_id === identityUserId)
      ? owner
      : await this.directory.findByIdentity(provider, identityUserId);
    if (!user) throw tenantError('inexistent_identity');
    if (user.blocked) throw tenantError('user_blocked');

    let autoLinkedInto: string | undefined;
    const target = await this.directory.autoLinkTarget(user, provider, identityUserId);
    if (target) {
      await this.directory.link(target.user_id, { userId: user.user_id }, SYSTEM_ACTOR);
      autoLinkedInto = target.user_id;
      user = await this.directory.getUser(target.user_id);
      if (user.blocked) throw tenantError('user_blocked');
    }
    const at = new Date().toISOString();
    // The user as this sign-in counted it, without reading the row back: the count is the
    // database's (a sign-in elsewhere at the same moment may count too), the rest unchanged.
    const counted: UserProfile = { ...user, last_login: at, logins_count: user.logins_count + 1 };
    await Promise.all([this.directory.recordLogin(user.user_id, at), alongside?.(counted)]);
    return { user: counted, ...(autoLinkedInto ? { autoLinkedInto } : {}) };
  }
}
