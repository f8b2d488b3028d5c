import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { appError } from '../app-errors.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const TOKENS_KEPT = 10_000;
/** How long a session's token is kept after it was computed (until another is computed after that). */
const TOKEN_KEPT_MS = 60_000;

/**
 * The tokens of recently seen sessions, so that every signed-in page does not compute its
 * token again (a function of the session id alone: nothing about the session itself is cached).
 * A session's pages come close together, so a token is kept a minute, not until TOKENS_KEPT
 * others push it out: a busy app holds the sessions of the last minute, not the bound's worth.
 */
export class CsrfTokens {
  /** By session id, in the order computed. */
  readonly #tokens = new Map<string, { token: string; at: number }>();

  constructor(
    private readonly secret: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** How many tokens are kept now. */
  get size(): number {
    return this.#tokens.size;
  }

  tokenOf(sessionId: string): string {
    const kept = this.#tokens.get(sessionId);
    if (kept !== undefined) return kept.token;
    const token = createHmac('sha256', this.secret).update(`csrf:${sessionId}`).digest('base64url');
    const now = this.now();
    for (const [oldId, old] of this.#tokens) {
      if (now - old.at < TOKEN_KEPT_MS && this.#tokens.size < TOKENS_KEPT) break;
      this.#tokens.delete(oldId);
    }
    this.#tokens.set(sessionId, { token, at: now });
    return token;
  }
}

/**
 * Every state-changing request must come from this app's own pages: the browser's
 * Origin (or Sec-Fetch-Site) must be this app, and the form must carry the session's
 * token. Either alone would do against most attacks; both cost nothing.
 *
 * The token is an HMAC of the session id, so nothing is stored: a token kept in the session
 * would be created by whichever of a page and its parallel requests (a favicon) came first,
 * and the last save would win over the token the page shows.
 */
export function csrfProtection(appOrigin: string, secret: string): RequestHandler {
  const tokens = new CsrfTokens(secret);
  return (req, res, next) => {
    // Only signed-in pages have forms.
    if (req.user) res.locals.csrfToken = tokens.tokenOf(req.sessionID);
    if (SAFE_METHODS.has(req.method)) return next();
    const origin = req.get('origin');
    const site = req.get('sec-fetch-site');
    // `Origin: null` is what a browser sends when a referrer policy hides the origin; it counts
    // only when the browser also vouches that the request is same-origin.
    const originOk = origin === undefined || origin === appOrigin || (origin === 'null' && site === 'same-origin');
    if (!originOk || (site !== undefined && !['same-origin', 'none'].includes(site))) {
      return next(appError('forbidden_origin'));
    }
    const expected = req.user ? Buffer.from(tokens.tokenOf(req.sessionID)) : undefined;
    const presented = (req.body as Record<string, unknown> | undefined)?._csrf;
    const actual = Buffer.from(typeof presented === 'string' ? presented : '');
    if (!expected || actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
      return next(appError('csrf_invalid'));
    }
    next();
  };
}
