/** Whose a stored session is: what back-channel logout looks sessions up by. */
export interface SessionOwner {
  /** The tenant's `sub` of the signed-in user. */
  userId: string | undefined;
  /** The tenant session the sign-in came from (the id_token's `sid`). */
  tenantSid: string | undefined;
  /** When the user signed in here, epoch milliseconds (app clock). */
  signedInAt: number | undefined;
}

/** Which sessions a logout token names: one tenant session's, or every session of a user. */
export type SessionSelector = { tenantSid: string } | { userId: string };

/**
 * A store that can end sessions by owner, as OpenID Connect Back-Channel Logout needs: every
 * session it finds is destroyed, and one signed in before the call that a request under way
 * writes back afterwards stays ended. Returns how many sessions it destroyed.
 */
export interface SessionRevoker {
  endSessions(selector: SessionSelector): Promise<number>;
}

const text = (value: unknown) => (typeof value === 'string' && value.length > 0 ? value : undefined);

/** The owner of an express-session's data: passport keeps the signed-in user under `passport.user`. */
export function sessionOwner(session: unknown): SessionOwner {
  const user = (session as { passport?: { user?: Record<string, unknown> } } | null | undefined)?.passport?.user;
  if (!user || typeof user !== 'object') return { userId: undefined, tenantSid: undefined, signedInAt: undefined };
  return {
    userId: text(user.user_id),
    tenantSid: text(user.sid),
    signedInAt: typeof user.signed_in_at === 'number' && Number.isFinite(user.signed_in_at) ? user.signed_in_at : undefined,
  };
}

/** Revocation keys: a user's sessions, or one tenant session's. */
export const revocationKey = (selector: SessionSelector) => ('tenantSid' in selector ? `sid:${selector.tenantSid}` : `user:${selector.userId}`);
