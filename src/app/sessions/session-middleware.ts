import type { RequestHandler } from 'express';
import session, { type Store } from 'express-session';
import { ClientOfflineError } from 'redis';

export const SESSION_COOKIE = 'accord.sid';

export interface SessionMiddlewareOptions {
  secret: string;
  store: Store;
  /** Secure cookies (the app's URL is https). */
  secure: boolean;
  /** Whether X-Forwarded-Proto says the connection is https; undefined: as Express's `trust proxy` decides. */
  proxy: boolean | undefined;
  ttlSeconds: number;
}

/**
 * The app's express-session settings, in one place: the app and its benchmark floor use
 * these. A session is stored only once something is put in it; the cookie rolls, so a
 * session ends after `ttlSeconds` without a request, not while it is used.
 */
export function sessionMiddleware(options: SessionMiddlewareOptions): RequestHandler {
  return session({
    name: SESSION_COOKIE,
    secret: options.secret,
    store: options.store,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    proxy: options.proxy,
    cookie: { httpOnly: true, sameSite: 'lax', secure: options.secure, maxAge: options.ttlSeconds * 1000 },
  });
}

/**
 * With sessions in Redis: a request that comes while Redis is not connected fails at once (a 503
 * page), rather than run and fail to save its session after its answer has begun (express-session
 * saves at the end, and a first visit reads nothing from the store before that).
 */
export function whileRedisConnected(connected: () => boolean): RequestHandler {
  return (_req, _res, next) => next(connected() ? undefined : new ClientOfflineError());
}
