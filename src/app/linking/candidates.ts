import type { RequestHandler } from 'express';
import type { Logger } from '../../platform/logger.ts';
import { redirectAfterSave } from '../web/redirect.ts';
import type { SessionUser } from '../auth/tenant-oidc.ts';
import type { Auth0User, ManagementClient, ReadOptions } from '../management/management-client.ts';
import type { KeptSeparate } from './kept-separate.ts';

/** Another account that may belong to the same person. Never carries its metadata. */
export interface Candidate {
  user_id: string;
  connection: string;
  email: string;
  created_at: string;
}

/** The account as a candidate: what may be shown of it before its owner proves control. */
export function toCandidate(user: Auth0User): Candidate {
  return {
    user_id: user.user_id,
    connection: user.identities[0]?.connection ?? 'unknown',
    email: user.email ?? '',
    created_at: user.created_at,
  };
}

/**
 * Finds link candidates: other users with the same email, when both emails are verified
 * (the boolean true, never a string) and the user has not chosen to keep them separate.
 * Email is only a hint; linking still needs a fresh sign-in to the candidate.
 */
export class CandidateFinder {
  constructor(
    private readonly management: ManagementClient,
    private readonly keptSeparate: KeptSeparate,
  ) {}

  /**
   * `kept`: the candidates the user keeps separate, when the caller has read them already.
   * Otherwise they are read only when there are candidates to filter: most people have none,
   * and the read would cost every sign-in and page a database query for nothing.
   */
  async find(user: SessionUser, kept?: ReadonlySet<string>, options: ReadOptions = {}): Promise<Candidate[]> {
    const candidates = await this.findAll(user, options);
    if (candidates.length === 0) return candidates;
    const keptIds = kept ?? (await this.keptSeparate.candidatesKeptBy(user.user_id));
    return candidates.filter((c) => !keptIds.has(c.user_id));
  }

  /**
   * Every current candidate, those the user keeps separate included: what the profile may
   * show of a kept-separate choice, and what a choice may name. `fresh` skips the read cache.
   */
  async findAll(user: SessionUser, options: ReadOptions = {}): Promise<Candidate[]> {
    if (user.email_verified !== true || !user.email) return [];
    const users = await this.management.usersByEmail(user.email, options);
    return users.filter((u) => u.user_id !== user.user_id && u.email_verified === true && u.identities.length > 0).map(toCandidate);
  }

  /** A candidate by id, only if it is one of the user's current candidates. */
  async findOne(user: SessionUser, candidateId: string): Promise<Candidate | undefined> {
    return (await this.find(user)).find((c) => c.user_id === candidateId);
  }
}

/**
 * The suggested-linking middleware: on the first page after sign-in (marked `pending` by
 * the callback), if the person has candidates, the browser goes once to "Link these
 * accounts?" and then on to that page. A failure to ask the tenant never blocks the
 * person: the profile page lists suggestions again later.
 */
export function suggestLinking(finder: CandidateFinder, logger: Logger): RequestHandler {
  return (req, res, next) => {
    if (req.method !== 'GET' || !req.user || req.session.suggestions !== 'pending') return next();
    delete req.session.suggestions;
    // A link that continues after a fresh sign-in (/link/resume) already answers the question.
    if (req.session.pendingLinkStart) return next();
    // Read fresh: an account verified seconds ago is still unverified in the read cache. The
    // fresh read refreshes the cache, so "Link these accounts?" shows the same candidates.
    finder.find(req.user, undefined, { fresh: true }).then(
      (candidates) => {
        if (candidates.length === 0) return next();
        redirectAfterSave(req, res, next, `/link/suggestions?returnTo=${encodeURIComponent(req.originalUrl)}`);
      },
      (err: unknown) => {
        logger.warn({ err }, 'could not look for accounts to link');
        next();
      },
    );
  };
}
