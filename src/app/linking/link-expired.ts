import type { Request } from 'express';
import type { AccordError } from '../../platform/errors.ts';
import { appError, isAppError } from '../app-errors.ts';
import type { LinkTicket, PendingLinkStart } from './link-tickets.ts';

/**
 * A step of a link this browser has no ticket or proof for: `link_expired` (with the way to
 * start it again) when this user started a link here before, since the step then belongs to it
 * (expired, already used, or replaced by the same link started in another tab);
 * `link_not_in_progress` when no link was ever started.
 */
export function linkGone(req: Request): AccordError {
  const last = req.session.lastLink;
  if (!last || !req.user || last.userId !== req.user.user_id) return appError('link_not_in_progress');
  if (last.linked) {
    return appError(
      'link_expired',
      'This page belongs to a link that is complete: the accounts are linked, and your profile shows them. Nothing more was done.',
    );
  }
  return appError('link_expired', undefined, { again: last.start });
}

/** What starting the ticket's link again asks for: the same candidate, or the same sign-in method. */
export function againOf(ticket: LinkTicket): PendingLinkStart['start'] {
  return ticket.candidateId ? { candidate: ticket.candidateId } : { connection: ticket.connection };
}

/** A refusal of this ticket's link, with the way to start it again (the error page's "Link again"). */
export function withLinkAgain(err: unknown, ticket: LinkTicket): unknown {
  return isAppError(err) && !err.details ? appError(err.code, err.message, { again: againOf(ticket) }) : err;
}
