import { randomBytes } from 'node:crypto';
import { appError } from '../app-errors.ts';
import type { SessionUser } from '../auth/tenant-oidc.ts';

/**
 * A link in progress: issued when the user asks to link, consumed by the one callback that
 * may complete it. It lives in the session, so a callback in another browser finds none.
 */
export interface LinkTicket {
  id: string;
  /** `suggested`: the candidate is known and the returned sub must be exactly it. */
  mode: 'suggested' | 'user-initiated';
  /** The signed-in user when the ticket was issued: the link is refused if the session changed. */
  currentId: string;
  candidateId: string | undefined;
  connection: string;
  /** Pre-fills the other account's email at the tenant (suggested links only). */
  loginHint: string | undefined;
  /** Epoch seconds. The re-authentication must happen after this. */
  issuedAt: number;
}

/**
 * A link asked for on a sign-in older than RECENT_LOGIN_MAX_AGE: kept while the person signs in
 * again, then started. Usable once, by the same user, within a few minutes.
 */
export interface PendingLinkStart {
  userId: string;
  /** What the link form asked for: a suggested candidate, or a connection to sign in with. */
  start: { candidate: string } | { connection: string };
  /** Epoch seconds. */
  createdAt: number;
}

/** The other account, proven by a fresh sign-in: what the merge preview and confirm act on. */
export interface LinkProof {
  ticketId: string;
  mode: LinkTicket['mode'];
  currentId: string;
  other: SessionUser & { id_token?: string | undefined };
  provenAt: number;
}

/** Allowed clock difference between the app and the tenant, in seconds. */
const CLOCK_SKEW = 5;

export function issueTicket(input: Omit<LinkTicket, 'id' | 'issuedAt'>, now: number): LinkTicket {
  return { ...input, id: randomBytes(16).toString('base64url'), issuedAt: now };
}

/**
 * Checks a fresh sign-in against the ticket it answers. Throws with the reason a person
 * should read; the caller has already removed the ticket, so it cannot be replayed.
 */
export function checkProof(options: { ticket: LinkTicket | undefined; currentId: string | undefined; other: SessionUser; now: number; maxAge: number }): void {
  const { ticket, currentId, other, now, maxAge } = options;
  if (!ticket) throw appError('link_not_in_progress');
  if (!currentId || currentId !== ticket.currentId) throw appError('link_not_in_progress');
  // The ticket is this user's but older than max_age: the proof took too long (the same words
  // as the callback uses before redeeming the code).
  if (now - ticket.issuedAt > maxAge) throw appError('link_login_stale');
  // The strategy enforced max_age against auth_time; this also binds the sign-in to this ticket.
  if (other.auth_time + CLOCK_SKEW < ticket.issuedAt || other.auth_time > now + CLOCK_SKEW || now - other.auth_time > maxAge + CLOCK_SKEW) {
    throw appError('link_login_stale');
  }
  if (ticket.mode === 'suggested' && other.user_id !== ticket.candidateId) throw appError('link_wrong_account');
  if (other.user_id === currentId) throw appError('link_already_linked');
}
