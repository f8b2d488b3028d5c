import type { AuthenticateOptions } from 'passport';
import { Router, type NextFunction, type Request, type Response } from 'express';
import { AccordError } from '../../platform/errors.ts';
import { safeReturnTo } from '../web/return-to.ts';
import { LOGIN_STRATEGY, type AppPassport, type TenantAuthenticateOptions, type TenantOidc } from './tenant-oidc.ts';

/** Pages that need a signed-in user send others to sign in, and come back afterwards. */
export function requireUser(req: Request, res: Response, next: NextFunction): void {
  if (req.user) return next();
  if (req.method === 'GET') {
    res.redirect(303, `/login?returnTo=${encodeURIComponent(req.originalUrl)}`);
    return;
  }
  next(new AccordError('sign_in_required'));
}

/** Sign-in at the tenant (code flow, PKCE, state, nonce) and sign-out at both. */
export function authRoutes(options: { passport: AppPassport; oidc: TenantOidc; appUrl: string; recentLoginMaxAge: number; suggestions: boolean }): Router {
  const { passport, oidc } = options;
  const router = Router();

  router.get('/login', (req, res, next) => {
    req.session.returnTo = safeReturnTo(req.query.returnTo);
    // `fresh=1`: a sensitive action needs a recent sign-in, so the tenant must ask again.
    const fresh = req.query.fresh === '1';
    const authOptions: TenantAuthenticateOptions = {
      ...(typeof req.query.connection === 'string' && /^[\w.-]{1,128}$/.test(req.query.connection) ? { connection: req.query.connection } : {}),
      ...(fresh ? { prompt: 'login', maxAge: options.recentLoginMaxAge, ...(req.user?.email ? { loginHint: req.user.email } : {}) } : {}),
    };
    passport.authenticate(LOGIN_STRATEGY, authOptions as AuthenticateOptions)(req, res, next);
  });

  router.get('/callback', (req, res, next) => {
    passport.authenticate(LOGIN_STRATEGY, (err: unknown, user: Express.User | false) => {
      if (err) return next(new AccordError('sign_in_failed', 'The sign-in could not be completed. Please try again.'));
      if (!user) return next(new AccordError('sign_in_failed', 'The sign-in could not be verified (it may have been started in another browser or tab, or already used). Please sign in again.'));
      const returnTo = req.session.returnTo ?? '/';
      // passport regenerates the session here: a new session id after every sign-in.
      req.logIn(user, (loginError) => {
        if (loginError) return next(loginError);
        if (options.suggestions) req.session.suggestions = 'pending';
        req.session.save(() => res.redirect(303, returnTo));
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
