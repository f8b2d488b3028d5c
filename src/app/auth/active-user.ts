import type { Request, Response } from 'express';
import { appError, isAppError } from '../app-errors.ts';
import type { Auth0User, ManagementClient } from '../management/management-client.ts';
import { SESSION_COOKIE } from '../sessions/session-middleware.ts';

const BLOCKED = 'Your account is blocked, so you were signed out and nothing was changed. Contact the administrator if you think this is a mistake.';
const GONE = 'Your account no longer exists (it was deleted, or merged into another account), so you were signed out and nothing was changed.';

/** Ends this browser's session: the page that follows is a signed-out one. */
async function signOutHere(req: Request, res: Response): Promise<void> {
  await new Promise<void>((resolve, reject) => req.logOut((err) => (err ? reject(err) : resolve())));
  await new Promise<void>((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));
  res.clearCookie(SESSION_COOKIE);
  res.locals.user = undefined;
  res.locals.csrfToken = undefined;
}

/**
 * Signs out a user the tenant has blocked, and throws the error page that says so. For a user
 * already read (a page's own read); `activeUser` reads fresh first.
 */
export async function refuseIfBlocked(req: Request, res: Response, user: Auth0User): Promise<void> {
  if (user.blocked !== true) return;
  await signOutHere(req, res);
  throw appError('user_blocked', BLOCKED);
}

/**
 * The signed-in user as the tenant has it now, read fresh: before any link or unlink. A user
 * blocked or deleted since signing in is signed out here, and the error page says why; the
 * caller changes nothing.
 */
export async function activeUser(req: Request, res: Response, management: ManagementClient): Promise<Auth0User> {
  if (!req.user) throw appError('sign_in_required');
  let user: Auth0User;
  try {
    user = await management.getUser(req.user.user_id, { fresh: true });
  } catch (err) {
    if (!isAppError(err, 'inexistent_user')) throw err;
    await signOutHere(req, res);
    throw appError('inexistent_user', GONE);
  }
  await refuseIfBlocked(req, res, user);
  return user;
}
