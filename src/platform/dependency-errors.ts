import { AccordError, platformErrors } from './errors.ts';

/** What every 503 asks the client to wait (seconds): enough for a failover or a restart. */
export const RETRY_AFTER_SECONDS = 30;

/** Socket errors of a dependency that is down, restarting or cut off. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
]);

/**
 * PostgreSQL SQLSTATEs: class 08 (connection exception), 57014 (statement timeout, or
 * cancelled), 57P01–57P03 (server shutting down or starting), 53300 (too many connections).
 */
const POSTGRES_STATES = /^(08...|57014|57P0[123]|53300)$/;

/** node-pg's own words for a connection it lost or never got. */
const POSTGRES_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
];

/** node-redis' errors (by class: they keep the name Error) for a client that is not connected or whose command timed out. */
const REDIS_ERRORS = new Set([
  'ClientClosedError',
  'ClientOfflineError',
  'SocketClosedUnexpectedlyError',
  'ConnectionTimeoutError',
  'SocketTimeoutError',
  'TimeoutError',
  'CommandTimeoutDuringMaintenanceError',
  'ReconnectStrategyError',
  // Commands still waiting on a connection that was closed under them (one that stopped answering).
  'DisconnectsClientError',
]);

/**
 * Whether `err` says a dependency (PostgreSQL, Redis, the tenant over HTTP) is unreachable or
 * too slow, rather than that the request or the code is wrong: those answer 503 with
 * Retry-After, the others 4xx or 500. Looks through `cause` and AggregateError's `errors`
 * (fetch and net.connect wrap the socket error).
 */
export function isDependencyError(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 4) return false;
  if (err instanceof AccordError) return err.status === 503;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || POSTGRES_STATES.test(e.code))) return true;
  if (REDIS_ERRORS.has((err as object).constructor?.name)) return true;
  if (typeof e.message === 'string' && POSTGRES_MESSAGES.some((m) => (e.message as string).startsWith(m))) return true;
  if (e.cause !== undefined && isDependencyError(e.cause, depth + 1)) return true;
  return Array.isArray(e.errors) && e.errors.some((inner) => isDependencyError(inner, depth + 1));
}

/** The error an edge answers with: a dependency's failure becomes `temporarily_unavailable`. */
export function unavailableOr(err: unknown): unknown {
  return isDependencyError(err) && !(err instanceof AccordError) ? platformErrors.error('temporarily_unavailable') : err;
}
