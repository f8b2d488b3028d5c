import type { Request, RequestHandler } from 'express';
import type { Logger } from '../../platform/logger.ts';
import { saveSession } from '../web/redirect.ts';
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

function candidatesAmong(users: Auth0User[], user: SessionUser): Candidate[] {
  return users.filter((u) => u.user_id !== user.user_id && u.email_verified === true && u.identities.length > 0).map(toCandidate);
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
    return this.withoutKept(user, await this.findAll(user, options), kept);
  }

  /** `candidates` (from `findAll`) without those the user keeps separate. */
  async withoutKept(user: SessionUser, candidates: Candidate[], kept?: ReadonlySet<string>): Promise<Candidate[]> {
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
    return candidatesAmong(await this.management.usersByEmail(user.email, options), user);
  }

  /** `findAll`, when the read cache has its read at hand (or none is needed); otherwise undefined. */
  cachedAll(user: SessionUser): Candidate[] | undefined {
    if (user.email_verified !== true || !user.email) return [];
    const users = this.management.cachedUsersByEmail(user.email);
    return users && candidatesAmong(users, user);
  }

  /** A candidate by id, only if it is one of the user's current candidates. */
  async findOne(user: SessionUser, candidateId: string): Promise<Candidate | undefined> {
    return (await this.find(user)).find((c) => c.user_id === candidateId);
  }
}

const HOME = '/';
const PROFILE = '/profile';
/** How long a lookup started at a sign-in may stand in for the first page's own fresh read. */
const SIGN_IN_LOOKUP_MAX_AGE_MS = 5_000;
/** Bounds the lookups waiting for their first page (browsers that never follow the redirect). */
const MAX_SIGN_IN_LOOKUPS = 10_000;

/** Whether the first page after a sign-in is the profile's, which starts the check's read itself. */
function checkedByProfile(firstPage: string): boolean {
  const path = firstPage.replace(/[?#].*$/s, '');
  return path === HOME || path === PROFILE;
}

interface SignInLookup {
  userId: string;
  startedAt: number;
  candidates: Promise<Candidate[]>;
}

/**
 * The suggested-linking check: on the first page after sign-in, if the person has candidates,
 * the browser goes once to "Link these accounts?" and then on to that page. A failure to ask
 * the tenant never blocks the person: the profile page lists suggestions again later.
 *
 * The check reads the tenant fresh (an account verified seconds ago is still unverified in the
 * read cache; the fresh read refreshes the cache, so "Link these accounts?" shows the same
 * candidates). That read is started ahead, keyed by the session's id, and the page that checks
 * waits for what is left of it, not for a whole round trip. A page of another session, another
 * process or after a few seconds finds none and reads fresh itself.
 *
 * The profile makes the check with its own candidates read (one call, not two), for itself and
 * for `/`, which only sends a signed-in person on to it: it starts the read beside its read of
 * the user, where the app waits on the tenant anyway, rather than at the sign-in, where sending
 * the request and reading its answer would lengthen the callback's redirect and `/`. Every other
 * page checks in the middleware, before its handler, with the read the sign-in started.
 */
export class SuggestionCheck {
  readonly #lookups = new Map<string, SignInLookup>();

  constructor(
    private readonly finder: CandidateFinder,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** In the new session right after a sign-in, before it is saved; `firstPage`: where the browser goes next. */
  afterSignIn(req: Request, firstPage: string): void {
    req.session.suggestions = { firstPage };
    if (!checkedByProfile(firstPage)) this.lookAhead(req);
  }

  /**
   * Starts the check's fresh read for the page that will check, when a check is due and no
   * read of this session's is under way; `due` then hands it to that page.
   */
  lookAhead(req: Request): void {
    // A link that continues after a fresh sign-in (/link/resume) already answers the question.
    if (!req.session.suggestions || req.session.pendingLinkStart || !req.user) return;
    const now = this.now();
    const started = this.#lookups.get(req.sessionID);
    if (started && started.userId === req.user.user_id && now - started.startedAt <= SIGN_IN_LOOKUP_MAX_AGE_MS) return;
    this.#forgetOld(now);
    const candidates = this.finder.findAll(req.user, { fresh: true });
    // Awaited by the page that checks; until then a failure is nobody's to handle.
    candidates.catch(() => undefined);
    this.#lookups.delete(req.sessionID);
    this.#lookups.set(req.sessionID, { userId: req.user.user_id, startedAt: now, candidates });
  }

  /**
   * For the page that checks, once: undefined when no check is due, otherwise every current
   * candidate (kept-separate ones included: the caller filters), the page "Link these
   * accounts?" returns to, and the save of the session without the check's marker. `candidates`
   * rejects when the tenant could not be asked; the check is then over.
   *
   * The marker is cleared in a save that starts here, so it runs while the page waits for the
   * tenant, rather than after the page is rendered (express-session would save then, holding
   * back the page's last byte). The caller awaits `cleared` before it answers or touches the
   * session again: two saves of one session must not race.
   */
  due(req: Request): { candidates: Promise<Candidate[]>; returnTo: string; cleared: Promise<void> } | undefined {
    const marker = req.session.suggestions;
    if (req.method !== 'GET' || !req.user || !marker) return undefined;
    delete req.session.suggestions;
    const started = this.#take(req.sessionID, req.user.user_id);
    if (req.session.pendingLinkStart) return undefined;
    const cleared = saveSession(req);
    // Reached through `/`, the first page: "Link these accounts?" goes back there, as from any first page.
    const returnTo = req.path === PROFILE && marker.firstPage === HOME ? HOME : req.originalUrl;
    return { candidates: started ?? this.finder.findAll(req.user, { fresh: true }), returnTo, cleared };
  }

  /** The link to "Link these accounts?" that comes back to `returnTo`. */
  static pageFor(returnTo: string): string {
    return `/link/suggestions?returnTo=${encodeURIComponent(returnTo)}`;
  }

  /** The check on every page but `/` and the profile. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      if (!req.session?.suggestions || req.path === HOME || req.path === PROFILE) return next();
      const check = this.due(req);
      if (!check) return next();
      const user = req.user as Express.User;
      const found = check.candidates
        .then((all) => this.finder.withoutKept(user, all))
        .catch((err: unknown) => {
          this.failed(err);
          return [];
        });
      // The session is stored (without the marker) before the page or the redirect goes on.
      Promise.all([found, check.cleared]).then(([candidates]) => {
        if (candidates.length === 0) return next();
        res.redirect(303, SuggestionCheck.pageFor(check.returnTo));
      }, next);
    };
  }

  /** Logs a check that could not ask the tenant: the person goes on. */
  failed(err: unknown): void {
    this.logger.warn({ err }, 'could not look for accounts to link');
  }

  #take(sessionId: string, userId: string): Promise<Candidate[]> | undefined {
    const lookup = this.#lookups.get(sessionId);
    if (!lookup) return undefined;
    this.#lookups.delete(sessionId);
    if (lookup.userId !== userId || this.now() - lookup.startedAt > SIGN_IN_LOOKUP_MAX_AGE_MS) return undefined;
    return lookup.candidates;
  }

  /** Insertion order is start order: the oldest lookups are first. */
  #forgetOld(now: number): void {
    for (const [sessionId, lookup] of this.#lookups) {
      if (now - lookup.startedAt <= SIGN_IN_LOOKUP_MAX_AGE_MS && this.#lookups.size < MAX_SIGN_IN_LOOKUPS) break;
      this.#lookups.delete(sessionId);
    }
  }
}
