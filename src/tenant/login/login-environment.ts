import type { Request, Response, Router } from 'express';
import type Provider from 'oidc-provider';
import type { TenantConfig } from '../tenant-config.ts';
import type { Database } from '../tenant-database.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Connection, ConnectionRegistry } from '../connections.ts';
import type { Directory } from '../directory/directory.ts';
import type { UserProfile } from '../directory/profile.ts';
import type { Mailer } from '../mail/mailer.ts';
import type { CsrfTokens } from './csrf.ts';
import type { LoginPipeline } from './login-pipeline.ts';

/** The sign-in attempt in progress, as oidc-provider describes it. */
export interface Interaction {
  uid: string;
  /** Authorization request parameters: client_id, login_hint, connection, prompt, max_age, … */
  params: Record<string, unknown>;
  promptName: string;
  clientId: string;
}

/**
 * A link proof: an application asks for a fresh sign-in to one named account of one connection
 * (`prompt=login` with `login_hint` and `connection`), as Accord's app does before linking it.
 * Its pages offer only that account (and a forgotten password for it) and say why.
 */
export interface LinkProof {
  /** The application's name, as registered. */
  app: string;
  /** The account being proven (the login_hint). */
  email: string;
}

/** The link proof of this sign-in page, if it is one (set by the interaction router). */
export function proofOf(res: Response): LinkProof | undefined {
  return res.locals.proof as LinkProof | undefined;
}

/** The heading of a proof's sign-in page. */
export function proofTitle(proof: LinkProof): string {
  return `Confirm it's you to link this account to ${proof.app}`;
}

/** Everything a connection's sign-in routes need; built once by the interaction router. */
export interface LoginEnvironment {
  config: TenantConfig;
  /** The tenant's database (login tickets, OIDC state); prefer the Directory for users. */
  database: Database;
  provider: Provider;
  directory: Directory;
  connections: ConnectionRegistry;
  pipeline: LoginPipeline;
  csrf: CsrfTokens;
  mailer: Mailer;
  logger: Logger;
  /** Loads the interaction of this request (404-style page if it expired). */
  interaction(req: Request, res: Response): Promise<Interaction>;
  /**
   * Resolves the proven identity to its user and completes the sign-in (redirects back to the
   * client). `owner`: its user, when the connection has just read it in this request and changed
   * nothing since (see LoginPipeline.signIn).
   */
  finish(req: Request, res: Response, identity: { provider: string; user_id: string; owner?: UserProfile | undefined }, amr: string[]): Promise<void>;
  /** Renders a tenant page inside the layout. */
  render(res: Response, view: string, locals: Record<string, unknown>, status?: number): void;
}

/**
 * A sign-in method. Its router is mounted at `/login/:uid/:connection` (mergeParams), and
 * receives `res.locals.connection` (the Connection) and `res.locals.interaction`.
 */
export interface ConnectionStrategy {
  strategy: Connection['strategy'];
  router(env: LoginEnvironment): Router;
}
