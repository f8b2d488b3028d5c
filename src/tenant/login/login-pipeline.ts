import { AccordError } from '../../platform/errors.ts';
import type { Connection, ConnectionRegistry } from '../connections.ts';
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
 * automatic-linking policy, and count the login. No HTTP here.
 */
export class LoginPipeline {
  constructor(private readonly directory: Directory, private readonly connections: ConnectionRegistry) {}

  async signIn(provider: string, identityUserId: string): Promise<SignInResult> {
    let user = await this.directory.findByIdentity(provider, identityUserId);
    if (!user) throw new AccordError('inexistent_identity');
    if (user.blocked) throw new AccordError('user_blocked');

    let autoLinkedInto: string | undefined;
    const target = await this.#autoLinkTarget(user, provider, identityUserId);
    if (target) {
      await this.directory.link(target.user_id, { userId: user.user_id }, SYSTEM_ACTOR);
      autoLinkedInto = target.user_id;
      user = await this.directory.getUser(target.user_id);
      if (user.blocked) throw new AccordError('user_blocked');
    }
    await this.directory.recordLogin(user.user_id);
    return { user: await this.directory.getUser(user.user_id), ...(autoLinkedInto ? { autoLinkedInto } : {}) };
  }

  /**
   * Auth0's old link-by-email rule, opt-in per connection (`linking: "auto"`): only a standalone
   * user whose email is verified by a trusted connection, and only when exactly one other
   * verified user of a trusted, non-`never` connection has the same email.
   */
  async #autoLinkTarget(user: UserProfile, provider: string, identityUserId: string): Promise<UserProfile | undefined> {
    const main = user.identities[0]!;
    if (main.provider !== provider || main.user_id !== identityUserId || user.identities.length !== 1) return undefined;
    const connection = this.connections.byName(main.connection);
    if (!connection || connection.linking !== 'auto' || !connection.trustEmailVerified) return undefined;
    if (user.email_verified !== true || !user.email) return undefined;
    const others = (await this.directory.findByEmail(user.email)).filter((other) => {
      if (other.user_id === user.user_id || other.email_verified !== true) return false;
      const theirs: Connection | undefined = this.connections.byName(other.identities[0]!.connection);
      return theirs !== undefined && theirs.trustEmailVerified && theirs.linking !== 'never';
    });
    return others.length === 1 ? others[0] : undefined;
  }
}
