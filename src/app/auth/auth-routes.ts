import type { AuthenticateOptions } from 'passport';
import { Router, type Request } from 'express';
import { appError } from '../app-errors.ts';
import { redirectAfterSave } from '../web/redirect.ts';
import { safeReturnTo } from '../web/return-to.ts';
import { LOGIN_STRATEGY, type AppPassport, type TenantAuthenticateOptions, type TenantOidc } from './tenant-oidc.ts';

/**
 * `max_age` of an ordinary sign-in, sent only so the id_token carries auth_time: as long as
 * Auth0's default maximum session lifetime (30 days), so it never forces a re-login itself.
 */
const LOGIN_MAX_AGE = 30 * 86_400;

/** Sign-in at the tenant (code flow, PKCE, state, nonce) and sign-out at both. */
export interface AuthRoutesOptions {
  passport: AppPassport;
  oidc: TenantOidc;
  appUrl: string;
  recentLoginMaxAge: number;
  /**
   * Runs as soon as the tenant's answer is verified, before the new session exists: for work
   * on the user alone, which then overlaps with the session's regeneration and save.
   */
  onVerified?: ((user: Express.User) => void) | undefined;
  /** Runs in the new session right after a sign-in, before it is saved; `returnTo` is where the browser goes next. */
  onSignIn?: ((req: Request, user: Express.User, returnTo: string) => void) | undefined;
}

export function authRoutes(options: AuthRoutesOptions): Router {
  const { passport, oidc } = options;
  const router = Router();

  router.get('/login', (req, res, next) => {
    req.session.returnTo = safeReturnTo(req.query.returnTo);
    // `fresh=1`: a sensitive action needs a recent sign-in, so the tenant must ask again.
    const fresh = req.query.fresh === '1';
    const authOptions: TenantAuthenticateOptions = {
      ...(typeof req.query.connection === 'string' && /^[\w.-]{1,128}$/.test(req.query.connection) ? { connection: req.query.connection } : {}),
      ...(fresh
        ? { prompt: 'login', maxAge: options.recentLoginMaxAge, ...(req.user?.email ? { loginHint: req.user.email } : {}) }
        : // Without max_age neither the tenant nor Auth0 puts auth_time in the id_token, and a
          // sign-in without auth_time never counts as recent (unlink would always ask again).
          { maxAge: LOGIN_MAX_AGE }),
    };
    passport.authenticate(LOGIN_STRATEGY, authOptions as AuthenticateOptions)(req, res, next);
  });

  router.get('/callback', (req, res, next) => {
    // Without a code or an error this is no answer from the tenant, and the strategy would
    // start a new sign-in instead of saying so.
    if (req.query.code === undefined && req.query.error === undefined) return next(appError('sign_in_failed'));
    passport.authenticate(LOGIN_STRATEGY, (err: unknown, user: Express.User | false) => {
      if (err) return next(appError('sign_in_failed', 'The sign-in could not be completed. Please try again.'));
      if (!user)
        return next(
          appError(
            'sign_in_failed',
            'The sign-in could not be verified (it may have been started in another browser or tab, or already used). Please sign in again.',
          ),
        );
      options.onVerified?.(user);
      const returnTo = req.session.returnTo ?? '/';
      // A message set before the sign-in (e.g. "choose Unlink again" before a fresh sign-in) is
      // for the page after it, and a link started before a fresh sign-in continues after it
      // (its page checks that the same user signed in).
      const { flash, pendingLinkStart } = req.session;
      // passport regenerates the session here: a new session id after every sign-in.
      req.logIn(user, (loginError) => {
        if (loginError) return next(loginError);
        if (flash) req.session.flash = flash;
        if (pendingLinkStart) req.session.pendingLinkStart = pendingLinkStart;
        options.onSignIn?.(req, user, returnTo);
        redirectAfterSave(req, res, next, returnTo);
      });
    })(req, res, next);
  });

  router.post('/logout', (req, res, next) => {
    const idToken = req.user?.id_token;
    req.logOut((err) => {
      if (err) return next(err);
      req.session.destroy(() => {
        res.clearCookie('accord.sid');
        res.redirect(303, oidc.logoutUrl(idToken, `${options.appUrl}/`));
      });
    });
  });

  return router;
}
