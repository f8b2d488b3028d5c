import { Router } from 'express';
import { appError, isAppError } from '../app-errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { SessionRevoker } from '../sessions/session-owner.ts';
import type { LogoutTokenVerifier } from './logout-tokens.ts';

/** Where the tenant posts logout tokens: register `${APP_URL}/backchannel-logout` at the tenant. */
export const BACKCHANNEL_LOGOUT_PATH = '/backchannel-logout';

/**
 * OpenID Connect Back-Channel Logout 1.0, the relying party's endpoint: the tenant posts a
 * logout token when a user's sessions end there (sign-out, password reset, block, deletion, a
 * secondary linked away), and the app ends every session it names, in whichever store holds
 * them. Server to server: no cookie, no CSRF token; the signed token is the proof. Answers as
 * the spec says: 200 when done, 400 with `invalid_request` for a token it refuses (nothing
 * is ended), and 503 when it could not check the token or end the sessions (the tenant retries).
 */
export function backchannelLogoutRoute(options: {
  verifier: LogoutTokenVerifier;
  sessions: SessionRevoker;
  claims: { release(key: string): Promise<void> };
  logger: Logger;
}): Router {
  const router = Router();
  router.post(BACKCHANNEL_LOGOUT_PATH, async (req, res) => {
    res.set('Cache-Control', 'no-store');
    try {
      const body = req.body as Record<string, unknown> | undefined;
      const logout = await options.verifier.verify(body?.logout_token);
      let ended: number;
      try {
        ended = await options.sessions.endSessions(logout.selector);
      } catch (err) {
        // The token may come again: its jti must not count as used.
        await options.claims.release(logout.claimKey).catch(() => undefined);
        options.logger.warn({ event: 'backchannel_logout_failed', err }, 'could not end the sessions a logout token names');
        throw appError('logout_unavailable');
      }
      options.logger.info(
        { event: 'backchannel_logout', user_id: logout.sub, by: 'tenantSid' in logout.selector ? 'tenant session' : 'user', ended },
        'sessions ended by the tenant',
      );
      res.status(200).end();
    } catch (err) {
      if (!isAppError(err)) throw err;
      if (err.code === 'logout_token_invalid') {
        options.logger.info({ event: 'backchannel_logout_refused', reason: err.message }, 'logout token refused');
        res.status(400).json({ error: 'invalid_request', error_description: err.message });
        return;
      }
      res.status(err.status).json({ error: 'temporarily_unavailable', error_description: err.message });
    }
  });
  return router;
}
