import { IncomingMessage, type ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { isDependencyError, RETRY_AFTER_SECONDS } from '../../platform/dependency-errors.ts';
import { isTenantError, tenantErrors } from '../tenant-errors.ts';
import { jsonBodyNestingGuard } from '../../platform/json-nesting.ts';
import type { ClientRegistry } from '../clients/client-registry.ts';

const parseJson = express.json({ limit: '100kb', type: 'application/json', verify: jsonBodyNestingGuard });
const parseForm = express.urlencoded({ limit: '100kb', extended: false, type: 'application/x-www-form-urlencoded' });

function oauthError(res: Response, status: number, error: string, description: string): void {
  res.status(status).set('Cache-Control', 'no-store').json({ error, error_description: description });
}

function clientIdOf(req: Request, body: Record<string, unknown>): string | undefined {
  if (typeof body.client_id === 'string') return body.client_id;
  const header = req.headers.authorization;
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i > 0 ? decodeURIComponent(decoded.slice(0, i)) : undefined;
}

/**
 * Makes `POST /oauth/token` speak Auth0's dialect before oidc-provider sees it: JSON bodies
 * as well as form bodies, and a client-credentials request without `scope` receives every
 * scope granted to the client, as Auth0 does. oidc-provider then reads the re-encoded form
 * body from a fresh request stream, as if the client had sent it.
 */
export function auth0TokenRequest(clients: ClientRegistry, provider: (req: IncomingMessage, res: ServerResponse) => unknown) {
  return [
    (req: Request, res: Response, next: NextFunction) => {
      const type = req.headers['content-type'] ?? '';
      const parser = type.startsWith('application/json') ? parseJson : parseForm;
      parser(req, res, (err?: unknown) => {
        if (!err) return next();
        const e = err as { status?: number; type?: string };
        if (e.type === 'entity.too.large') return oauthError(res, 413, 'invalid_request', 'The request body is too large.');
        if (isTenantError(err, 'json_too_deep')) return oauthError(res, 400, 'invalid_request', err.message);
        return oauthError(res, 400, 'invalid_request', 'The request body is not valid JSON or form data.');
      });
    },
    async (req: Request, res: Response) => {
      const raw: unknown = req.body;
      if (raw === undefined || raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        return oauthError(res, 400, 'invalid_request', 'Send the token request as application/x-www-form-urlencoded or application/json.');
      }
      const body: Record<string, string> = {};
      for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof value !== 'string') return oauthError(res, 400, 'invalid_request', `${key} must be a string.`);
        body[key] = value;
      }
      if (body.grant_type === 'client_credentials' && body.scope === undefined) {
        const clientId = clientIdOf(req, body);
        let client: Awaited<ReturnType<ClientRegistry['get']>> | undefined;
        try {
          client = clientId ? await clients.get(clientId) : undefined;
        } catch (err) {
          if (!isDependencyError(err)) throw err;
          res.set('Retry-After', String(RETRY_AFTER_SECONDS));
          return oauthError(res, 503, 'temporarily_unavailable', tenantErrors.definitions.temporarily_unavailable.message);
        }
        if (client && client.scopes.length > 0) body.scope = client.scopes.join(' ');
      }
      const encoded = Buffer.from(new URLSearchParams(body).toString());
      const replay = new IncomingMessage(req.socket);
      replay.method = req.method;
      replay.url = req.originalUrl;
      replay.httpVersion = req.httpVersion;
      replay.headers = { ...req.headers, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(encoded.length) };
      replay.complete = true;
      replay.push(encoded);
      replay.push(null);
      provider(replay, res);
    },
  ];
}
