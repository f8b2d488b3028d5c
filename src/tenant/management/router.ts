import express, { Router, type ErrorRequestHandler, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';
import { FixedWindowLimiter, type RateLimitDecision, type WindowLimiter } from '../../platform/rate-limit.ts';
import type { z } from 'zod';
import { tenantError } from '../tenant-errors.ts';
import { jsonBodyNestingGuard } from '../../platform/json-nesting.ts';
import type { Logger } from '../../platform/logger.ts';
import { auth0ErrorHandler, sendAuth0Error } from './http-errors.ts';
import { buildOpenApiDocument } from './openapi.ts';
import type { RouteDefinition } from './route-definition.ts';
import { managementTokenGuard, requireScopes } from './token-guard.ts';
import { managementCors, managementPreflight, type WebOrigins } from './cors.ts';
import type { SigningJwk } from '../oidc/keys.ts';

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.join('.') : '';
      if (issue.code === 'unrecognized_keys') return `Additional properties not allowed: ${issue.keys.join(', ')}${where ? ` (in ${where})` : ''}`;
      return where ? `${where}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

function parse<T extends z.ZodType>(
  schema: T | undefined,
  value: unknown,
  code: 'invalid_body' | 'invalid_query_string',
  label: string,
): z.output<T> | undefined {
  if (!schema) return undefined;
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw tenantError(code, `${label} validation error: ${describeIssues(result.error)}`);
  return result.data;
}

export interface ManagementRouterOptions {
  routes: RouteDefinition[];
  issuer: string;
  audience: string;
  keys: SigningJwk[];
  /** Requests per minute before 429: per client (`perClient` counts them), and per address for requests that never authenticate. */
  rateLimitPerMinute: number;
  /** Counts each client's requests: shared by every tenant process on PostgreSQL (see managementRateLimiter). */
  perClient: WindowLimiter;
  /** Which browser pages may call the API (CORS): the clients' web origins. */
  webOrigins: WebOrigins;
  logger: Logger;
}

/** `/api/v2`: token guard, rate limit, body parser, one thin handler per route definition, Auth0 error bodies. */
export function managementRouter(options: ManagementRouterOptions): RequestHandler {
  const router = Router();
  const openapi = buildOpenApiDocument(options.routes, options.issuer);
  router.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  const tooManyRequests = (res: Response) => sendAuth0Error(res, tenantError('too_many_requests', 'Global limit has been reached'));
  const tokenGuard = managementTokenGuard({ issuer: options.issuer, audience: options.audience, keys: options.keys });
  // Per address, counting only requests that never authenticated: token guessing and floods
  // of bad tokens are throttled before they cost a signature check each. A token this
  // process already verified cannot be a guess, so it skips this (and its cost). Counted in
  // each process on purpose: it guards that process' CPU, and a shared counter would give
  // whoever sends bad tokens a database write to cause.
  const unauthenticated = new FixedWindowLimiter(options.rateLimitPerMinute, 60_000);
  const gate = (req: Request, res: Response, next: NextFunction) => {
    if (tokenGuard.recognizes(req)) return next();
    const address = ipKeyGenerator(req.ip ?? '');
    if (unauthenticated.exhausted(address)) return tooManyRequests(res);
    res.once('finish', () => {
      if (req.management === undefined) unauthenticated.hit(address);
    });
    next();
  };
  // Per client, with Auth0's x-ratelimit-* headers. The limiter answers at once unless it must
  // ask the shared counter, so most calls pay no promise for it.
  const { perClient } = options;
  const answer = (res: Response, next: NextFunction, decision: RateLimitDecision) => {
    res.setHeader('x-ratelimit-limit', perClient.limit);
    res.setHeader('x-ratelimit-remaining', decision.remaining);
    res.setHeader('x-ratelimit-reset', Math.ceil(decision.resetAt / 1000));
    if (!decision.allowed) {
      res.setHeader('retry-after', Math.max(1, Math.ceil((decision.resetAt - Date.now()) / 1000)));
      return tooManyRequests(res);
    }
    next();
  };
  const limit = (req: Request, res: Response, next: NextFunction) => {
    const decision = perClient.hit(req.management!.clientId);
    if (decision instanceof Promise) decision.then((shared) => answer(res, next, shared), next);
    else answer(res, next, decision);
  };
  // Bodies are read only for authenticated, non-throttled callers. A request without a body
  // (every GET) skips the parser, as the parser itself would, without its bookkeeping.
  const json = express.json({ limit: '100kb', strict: true, verify: jsonBodyNestingGuard });
  const body = (req: Request, res: Response, next: NextFunction) => {
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) return next();
    return json(req, res, next);
  };
  const beforeRoutes: RequestHandler[] = [
    gate,
    // Preflights carry no token: counted by the gate as unauthenticated requests, like any other.
    managementPreflight(options.webOrigins),
    tokenGuard,
    // Before the rate limit, so that a page can read its 429 too.
    managementCors(options.webOrigins),
    limit,
    body,
  ];
  router.use(...beforeRoutes);

  // Routes whose paths are literal segments and `:name`s, each with its handlers in the order
  // the router would run them, where no earlier route of the same method could take its calls.
  const literalLanes = new Map<string, RequestHandler[]>();
  const patternLanes = new Map<string, PatternLane[]>();
  options.routes.forEach((route, index) => {
    const handler = routeHandler(route);
    router[route.method](route.path, handler);
    const earlier = [{ method: 'get', path: '/openapi.json' }, ...options.routes.slice(0, index)];
    if (!isPlain(route.path) || earlier.some((other) => other.method === route.method && mayOverlap(other.path, route.path))) return;
    const method = route.method.toUpperCase();
    const handlers = [...beforeRoutes, handler];
    if (isLiteral(route.path)) {
      literalLanes.set(`${method} ${route.path}`, handlers);
      return;
    }
    const lanes = patternLanes.get(method) ?? [];
    lanes.push({ segments: route.path.split('/').map((segment) => (segment.startsWith(':') ? { param: segment.slice(1) } : segment)), handlers });
    patternLanes.set(method, lanes);
  });
  const notFound = (_req: Request, res: Response) => sendAuth0Error(res, tenantError('not_found', 'Not Found: no such Management API endpoint.'));
  const onError = auth0ErrorHandler(options.logger);
  router.use(notFound);
  router.use(onError);
  // A call whose method and path are exactly a route's (users-by-email, a link, an unlink among
  // them) runs that route's handlers from these tables, with the parameters the router would
  // give it, without the router's walk of its layers. Anything else (HEAD, OPTIONS, another
  // case, a trailing or doubled slash, a parameter that does not decode, a path an earlier route
  // could also take) goes through the router.
  return (req, res, next) => {
    const url = req.url;
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const literal = literalLanes.get(`${req.method} ${path}`);
    if (literal !== undefined) return runLane(literal, notFound, onError, req, res, next);
    const lanes = patternLanes.get(req.method);
    const found = lanes === undefined ? undefined : matchLane(lanes, path);
    if (found === undefined) return router(req, res, next);
    req.params = found.params;
    runLane(found.lane.handlers, notFound, onError, req, res, next);
  };
}

/** A route with parameters in the dispatch table: its path's segments (`''` first), a parameter where the path has `:name`. */
interface PatternLane {
  segments: Array<string | { param: string }>;
  handlers: RequestHandler[];
}

/**
 * What parseurl leaves as it is and the router splits only at `/`: non-empty segments of URL
 * characters, no trailing slash. Anything else (a space, `#`, an empty segment) goes to the router.
 */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9\-._~!$&'()*+,;=:@%]+)+$/;

/**
 * The lane whose segments `path` has, with the parameters the router would decode from it (as
 * its path-to-regexp match does: an object without prototype, each value decoded when it holds
 * a `%`); undefined when none matches or a parameter does not decode (the router answers that).
 */
function matchLane(lanes: readonly PatternLane[], path: string): { lane: PatternLane; params: Record<string, string> } | undefined {
  if (!PLAIN_PATH.test(path)) return undefined;
  const given = path.split('/');
  for (const lane of lanes) {
    if (lane.segments.length !== given.length) continue;
    const params = Object.create(null) as Record<string, string>;
    let matched = true;
    for (let i = 1; i < given.length && matched; i++) {
      const wanted = lane.segments[i]!;
      const segment = given[i]!;
      if (typeof wanted === 'string') matched = wanted === segment;
      else if (segment.indexOf('%') === -1) params[wanted.param] = segment;
      else {
        try {
          params[wanted.param] = decodeURIComponent(segment);
        } catch {
          return undefined;
        }
      }
    }
    if (matched) return { lane, params };
  }
  return undefined;
}

function routeHandler(route: RouteDefinition) {
  return async (req: Request, res: Response) => {
    const params = parse(route.params, req.params, 'invalid_query_string', 'Path');
    const pathUserId = (params as { id?: string } | undefined)?.id;
    requireScopes(req.management!, route.scopes, route.selfScopes ?? [], pathUserId);
    // Express 5 parses the query string again on every read of req.query: read once.
    const rawQuery = req.query as Record<string, unknown>;
    const query = parse(route.query, rawQuery, 'invalid_query_string', 'Query');
    if (!route.query) {
      const extra = Object.keys(rawQuery);
      if (extra.length > 0) throw tenantError('invalid_query_string', `Query validation error: Additional properties not allowed: ${extra.join(', ')}`);
    }
    const body = parse(route.body, req.body, 'invalid_body', 'Payload');
    const result = await route.handle({ params, query, body, auth: req.management! });
    if (route.status === 204) {
      res.status(204).end();
      return;
    }
    // res.json's extras (settings lookups, a MIME lookup, freshness checks) are for pages;
    // the API answers no-store JSON on every call.
    res.statusCode = route.status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(result));
  };
}

/** A path the router matches only as itself (no parameters, no patterns). */
function isLiteral(path: string): boolean {
  return /^(\/[A-Za-z0-9._-]+)+$/.test(path);
}

/** A path of literal segments and whole-segment `:name` parameters, nothing fancier. */
function isPlain(path: string): boolean {
  return /^(\/([A-Za-z0-9._-]+|:[A-Za-z_][A-Za-z0-9_]*))+$/.test(path);
}

/** Whether the router could match one path against both patterns (case-insensitive, `:name` a segment; anything fancier: assume it could). */
function mayOverlap(pattern: string, other: string): boolean {
  if (/[*?+(){}]/.test(pattern)) return true;
  const wanted = pattern.toLowerCase().split('/');
  const given = other.toLowerCase().split('/');
  return wanted.length === given.length && wanted.every((segment, i) => segment.startsWith(':') || given[i]!.startsWith(':') || segment === given[i]);
}

/**
 * Runs a route's handlers in turn as Express's router does: a handler's throw or rejected
 * promise, or `next(err)`, goes to the error handler; `next()` past the last one is a 404.
 */
function runLane(
  lane: readonly RequestHandler[],
  notFound: RequestHandler,
  onError: ErrorRequestHandler,
  req: Request,
  res: Response,
  out: NextFunction,
): void {
  let index = 0;
  // Assigned to a property, not declared: tsx names every `const f = () => …` made at run time
  // with a defineProperty, and this one is made for each call.
  const run = {} as { next: NextFunction };
  run.next = (err?: unknown) => {
    if (err) {
      try {
        onError(err, req, res, out);
      } catch (thrown) {
        out(thrown);
      }
      return;
    }
    const handler = index < lane.length ? lane[index++]! : notFound;
    try {
      const ret: unknown = handler(req, res, run.next);
      if (ret instanceof Promise) ret.then(undefined, (error: unknown) => run.next(error || new Error('Rejected promise')));
    } catch (thrown) {
      run.next(thrown);
    }
  };
  run.next();
}
