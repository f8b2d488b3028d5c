import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { epochSeconds } from '../../platform/time.ts';
import { appError } from '../app-errors.ts';
import { activeUser } from '../auth/active-user.ts';
import type { Auth0User, ManagementClient } from '../management/management-client.ts';

/** Whether the user entered credentials at the tenant recently enough for a sensitive change (link, unlink). */
export function isRecentSignIn(user: Express.User, maxAgeSeconds: number): boolean {
  return epochSeconds() - user.auth_time <= maxAgeSeconds;
}

/** Pages that need a signed-in user send others to sign in, and come back afterwards. */
export function requireUser(req: Request, res: Response, next: NextFunction): void {
  if (req.user) {
    next();
    return;
  }
  if (req.method === 'GET') {
    res.redirect(303, `/login?returnTo=${encodeURIComponent(req.originalUrl)}`);
    return;
  }
  next(appError('sign_in_required'));
}

/** What a handler of `appRoute` gets: the signed-in user and the parsed form, never to be checked again. */
export interface AppRouteContext<F> {
  req: Request;
  res: Response;
  next: NextFunction;
  user: Express.User;
  form: F;
  /** The user as the tenant has it now, when the route asked for `activeUser`. */
  account: Auth0User | undefined;
}

export interface AppRouteSpec<S extends z.ZodType | undefined> {
  /** The form's schema: a body that does not match is refused (400, `formError`) before the handler runs. */
  form?: S;
  formError?: string;
  /** Reads the user fresh from the tenant first: one blocked or deleted since signing in is signed out and refused. */
  activeUser?: ManagementClient;
  /**
   * requireRecentLogin: the sign-in must be at most `maxAge` seconds old; otherwise `stale`
   * answers (typically: sign in again, then come back) and the handler does not run.
   */
  recentLogin?: { maxAge: number; stale: (ctx: AppRouteContext<FormOf<S>>) => Promise<void> | void };
}

type FormOf<S> = S extends z.ZodType ? z.infer<S> : undefined;

/**
 * One app route, as the tenant's `defineRoute` declares a Management API route: the guards
 * (requireUser; then, in this order, the form, activeUser and requireRecentLogin) run before
 * the handler, which receives what they established. Express 5 passes a rejected handler's
 * error to the error page.
 */
export function appRoute<S extends z.ZodType | undefined = undefined>(
  spec: AppRouteSpec<S>,
  handler: (ctx: AppRouteContext<FormOf<S>>) => Promise<void> | void,
): RequestHandler[] {
  // Without a guard that waits (activeUser, or a stale sign-in's answer), the handler is called at
  // once: a page that answers synchronously (a reload of the profile) then makes no promise.
  const run: RequestHandler = (req, res, next) => {
    const user = req.user;
    if (!user) throw appError('sign_in_required');
    let form = undefined as FormOf<S>;
    if (spec.form) {
      const parsed = spec.form.safeParse(req.body);
      if (!parsed.success)
        throw appError('invalid_body', spec.formError ?? 'The form was incomplete or not valid, so nothing was changed. Go back to the form and try again.');
      form = parsed.data as FormOf<S>;
    }
    if (spec.activeUser) return guarded(req, res, next, user, form, spec.activeUser);
    return afterGuards({ req, res, next, user, form, account: undefined });
  };
  const guarded = async (req: Request, res: Response, next: NextFunction, user: Express.User, form: FormOf<S>, management: ManagementClient) => {
    const account = await activeUser(req, res, management);
    await afterGuards({ req, res, next, user, form, account });
  };
  const afterGuards = (ctx: AppRouteContext<FormOf<S>>): Promise<void> | void => {
    if (spec.recentLogin && !isRecentSignIn(ctx.user, spec.recentLogin.maxAge)) return spec.recentLogin.stale(ctx);
    return handler(ctx);
  };
  return [requireUser, run];
}
