import type { Request, RequestHandler, Response } from 'express';
import { epochSeconds } from '../../platform/time.ts';
import { appError } from '../app-errors.ts';
import { activeUser } from '../auth/active-user.ts';
import { LINK_STRATEGY, type AppPassport } from '../auth/tenant-oidc.ts';
import type { ManagementClient } from '../management/management-client.ts';
import { redirectAfterSave, saveSession } from '../web/redirect.ts';
import { linkGone, withLinkAgain } from './link-expired.ts';
import { checkProof, type LinkTicket } from './link-tickets.ts';

export interface LinkCallbackOptions {
  passport: AppPassport;
  management: ManagementClient;
  /** Seconds the other account's sign-in may take, from the ticket's issue (`max_age`). */
  linkMaxAge: number;
}

/**
 * openid-client's code (oauth4webapi's JWT_TIMESTAMP_CHECK) for an id_token whose time claims
 * fail: with max_age sent, an auth_time too old. It is not re-exported by openid-client.
 */
const JWT_TIMESTAMP_CHECK = 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED';

/** The other account, signed in through the link strategy, or the person's turning back at the tenant. */
type OtherSignIn = { user: Express.User } | { cancelled: true };

/**
 * The other account's sign-in comes back to `/link/callback`, and the link is proven in these
 * steps, each able to refuse: take the ticket → reject a stale one → recheck the current user →
 * authenticate the other account → check the proof → recheck verified emails → store the
 * proof. It never replaces the session's user; the merge preview and confirm act on the proof.
 */
export function linkCallback(options: LinkCallbackOptions): RequestHandler {
  const { passport, management, linkMaxAge } = options;
  return async (req, res, next) => {
    const { ticket, currentId } = takeTicket(req);
    let other: Express.User;
    const now = epochSeconds();
    try {
      rejectStale(req, ticket, linkMaxAge);
      // Blocked or deleted since the link started: signed out, and the code is never redeemed.
      await activeUser(req, res, management);
      const signIn = await authenticateOtherAccount(passport, req, res);
      if ('cancelled' in signIn) {
        req.session.flash = { kind: 'info', text: 'You did not finish signing in to the other account, so nothing was linked.' };
        redirectAfterSave(req, res, next, '/profile');
        return;
      }
      other = signIn.user;
      checkProof({ ticket, currentId, other, now, maxAge: linkMaxAge });
      if (ticket.mode === 'suggested') await recheckVerifiedEmails(management, currentId, other.user_id);
    } catch (err) {
      // Every refusal of this link's proof offers to start the same link again.
      throw withLinkAgain(err, ticket);
    }
    req.session.linkProof = { ticketId: ticket.id, currentId, other, provenAt: now, mode: ticket.mode };
    await saveSession(req);
    res.redirect(303, '/link/preview');
  };
}

/**
 * Removes the ticket from the session (single use, whatever follows) and returns it when it is
 * this user's. Refused without one, before the strategy: on a GET without `code` it would start
 * a new sign-in (without prompt=login or max_age) instead of answering, and with one it would
 * redeem a code nobody can use.
 */
function takeTicket(req: Request): { ticket: LinkTicket; currentId: string } {
  const ticket = req.session.linkTicket;
  delete req.session.linkTicket;
  if (!ticket || !req.user || ticket.currentId !== req.user.user_id) throw linkGone(req);
  if (typeof req.query.code !== 'string' && typeof req.query.error !== 'string') throw linkGone(req);
  return { ticket, currentId: req.user.user_id };
}

/**
 * A ticket older than max_age: the proof took too long. Said before the code exchange, which
 * would otherwise fail on the expired code with a vaguer "could not be verified".
 */
function rejectStale(req: Request, ticket: LinkTicket, maxAge: number): void {
  if (typeof req.query.code === 'string' && epochSeconds() - ticket.issuedAt > maxAge) throw appError('link_login_stale');
}

/** Redeems the code through the link strategy (max_age enforced against auth_time there). */
function authenticateOtherAccount(passport: AppPassport, req: Request, res: Response): Promise<OtherSignIn> {
  return new Promise((resolve, reject) => {
    const done = (err: unknown, other: Express.User | false, info: { message?: string } | undefined) => {
      // The answer to another tab's sign-in (its state): the same link, started again there.
      if (err) return reject(isStateMismatch(err) ? linkGone(req) : signInFailure(err));
      if (other) return resolve({ user: other });
      // A state that does not match is no sign-in of this link; any other failure is the person's turning back.
      if (info?.message && !/verify authorization request state/.test(info.message)) return resolve({ cancelled: true });
      reject(linkGone(req));
    };
    passport.authenticate(LINK_STRATEGY, done)(req, res, (err?: unknown) => reject(err ?? appError('link_not_in_progress')));
  });
}

/** openid-client's refusal of an answer whose `state` is not the one this session asked with. */
function isStateMismatch(err: unknown): boolean {
  const cause = err instanceof Error ? err.cause : undefined;
  return cause instanceof Error && /"state"/.test(cause.message);
}

/** The error for a sign-in openid-client refused, told apart by its code: too old, or not verifiable. */
export function signInFailure(err: unknown): Error {
  const code = (err as { code?: unknown } | null)?.code;
  return appError(code === JWT_TIMESTAMP_CHECK ? 'link_login_stale' : 'link_proof_invalid');
}

/** Both emails must still be verified now, not only when the suggestion was made. */
async function recheckVerifiedEmails(management: ManagementClient, currentId: string, otherId: string): Promise<void> {
  const [current, candidate] = await Promise.all([management.getUser(currentId, { fresh: true }), management.getUser(otherId, { fresh: true })]);
  if (current.email_verified !== true || candidate.email_verified !== true) throw appError('link_email_unverified');
}
