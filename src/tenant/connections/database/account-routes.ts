import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { TenantConfig } from '../../tenant-config.ts';
import type { Database, LoginTicketsTable } from '../../tenant-database.ts';
import { markUnavailable, tenantErrorPage } from '../../error-pages.ts';
import type { Logger } from '../../../platform/logger.ts';
import { SYSTEM_ACTOR } from '../../directory/audit.ts';
import type { Directory } from '../../directory/directory.ts';
import { checkPasswordStrength } from '../../directory/passwords.ts';
import type { CsrfTokens } from '../../login/csrf.ts';
import { LoginTickets } from '../../login/login-tickets.ts';
import { signInLimiter } from '../../login/sign-in-limiter.ts';
import type { Mailer } from '../../mail/mailer.ts';
import type { AccountSessions } from '../../oidc/revoke-sessions.ts';
import type { ClientRegistry } from '../../clients/client-registry.ts';
import { field, limitsOf, originOf, PASSWORD_RULE_TEXT } from './database-settings.ts';

function splitIdentity(identity: string | null): { provider: string; user_id: string } | undefined {
  const at = identity?.indexOf('|') ?? -1;
  if (!identity || at <= 0) return undefined;
  return { provider: identity.slice(0, at), user_id: identity.slice(at + 1) };
}

export interface AccountRoutesEnvironment {
  config: TenantConfig;
  database: Database;
  directory: Directory;
  mailer: Mailer;
  csrf: CsrfTokens;
  logger: Logger;
  /** Ends the account's sessions after a password reset, at the tenant and at every client. */
  accountSessions: AccountSessions;
  /** The registered applications: a confirmed address links back to the one that started the sign-up. */
  clients: ClientRegistry;
}

/**
 * `/account/verify-email?token=…` and `/account/reset-password?token=…`: the links the
 * database connection mails. They are opened outside any sign-in, so they are not bound to
 * an interaction; the secret in the link is the proof. The reset form's CSRF token is bound
 * to the ticket.
 */
export function databaseAccountRoutes(env: AccountRoutesEnvironment): Router {
  const router = Router();
  const tickets = new LoginTickets(env.database);
  const limits = limitsOf(env.config);
  const render = (res: Response, view: string, locals: Record<string, unknown>, status = 200) => {
    res.status(status).render(view, { tenantName: env.config.name, ...locals });
  };
  const message = (res: Response, status: number, title: string, text: string) => render(res, 'tenant/message', { title, message: text }, status);
  const badLink = (res: Response, state: 'expired' | 'invalid', what: string) =>
    state === 'expired'
      ? message(res, 410, 'This link has expired', `For your security, ${what} links work for a limited time. Ask for a new one from the sign-in page.`)
      : message(
          res,
          404,
          'This link is not valid',
          `This ${what} link has already been used, or it was copied incompletely. Ask for a new one from the sign-in page if you still need it.`,
        );
  const csrfKey = (ticketId: string) => `account:${ticketId}`;
  const tokenAttempts = signInLimiter({
    name: 'account-link-ip',
    database: env.database,
    limit: limits.loginPerIp,
    windowMs: limits.windowMs,
    message: 'Too many attempts from your network. Wait a few minutes and try again.',
    refuse: (_req, res, _next, text) => message(res, 429, 'Too many attempts', text),
  });

  router.use(
    '/account',
    (_req, res, next) => {
      res.set('Cache-Control', 'no-store');
      next();
    },
    express.urlencoded({ extended: false, limit: '10kb' }),
    tokenAttempts,
  );

  /** The ticket's identity, if the address it was mailed to is still that identity's. */
  const identityOf = async (ticket: LoginTicketsTable) => {
    const identity = splitIdentity(ticket.identity);
    const current = identity ? await env.directory.findIdentityByEmail(ticket.connection, ticket.email_normalized) : undefined;
    return identity && current && current.provider === identity.provider && current.user_id === identity.user_id ? current : undefined;
  };

  router.get('/account/verify-email', async (req, res) => {
    const found = await tickets.findLink('verify_email', req.query.token);
    if (found.status !== 'valid') return badLink(res, found.status, 'email-confirmation');
    const identity = await identityOf(found.ticket);
    if (!identity) return badLink(res, 'invalid', 'email-confirmation');
    if (!(await tickets.consumeLink(found.ticket.id))) return badLink(res, 'invalid', 'email-confirmation');
    await env.directory.markEmailVerified(identity.provider, identity.user_id, SYSTEM_ACTOR);
    const client = typeof req.query.client_id === 'string' && req.query.client_id.length <= 128 ? await env.clients.get(req.query.client_id) : undefined;
    const back = client ? originOf(client.redirect_uris[0]) : undefined;
    render(res, 'tenant/message', {
      title: 'Email address confirmed',
      message: back
        ? `Thank you: ${found.ticket.email_normalized} is confirmed. Continue to ${client!.name} and sign in.`
        : `Thank you: ${found.ticket.email_normalized} is confirmed. You can close this page and go back to the application.`,
      link: back ? { href: back, label: `Continue to ${client!.name}` } : undefined,
    });
  });

  const renderReset = (res: Response, ticket: LoginTicketsTable, token: string, error?: string, status = 200) => {
    render(
      res,
      'tenant/database/reset',
      {
        title: 'Choose a new password',
        token,
        csrf: env.csrf.issue(csrfKey(ticket.id)),
        email: ticket.email_normalized,
        rules: PASSWORD_RULE_TEXT,
        error,
      },
      status,
    );
  };

  router.get('/account/reset-password', async (req, res) => {
    const found = await tickets.findLink('reset_password', req.query.token);
    if (found.status !== 'valid') return badLink(res, found.status, 'password-reset');
    renderReset(res, found.ticket, req.query.token as string);
  });

  router.post('/account/reset-password', async (req, res) => {
    const token = field(req.body, 'token');
    const found = await tickets.findLink('reset_password', token);
    if (found.status !== 'valid') return badLink(res, found.status, 'password-reset');
    const { ticket } = found;
    try {
      env.csrf.verify(csrfKey(ticket.id), field(req.body, '_csrf'));
    } catch {
      return message(res, 403, 'Please try again', 'This form has expired or did not come from this page. Open the link from the email again.');
    }
    const password = field(req.body, 'password');
    if (password === undefined) return renderReset(res, ticket, token!, 'Enter a new password.', 400);
    try {
      checkPasswordStrength(password);
    } catch {
      return renderReset(res, ticket, token!, `That password is too weak. ${PASSWORD_RULE_TEXT}`, 400);
    }
    const identity = await identityOf(ticket);
    if (!identity || !(await tickets.consumeLink(ticket.id))) return badLink(res, 'invalid', 'password-reset');
    await env.directory.setPassword(identity.provider, identity.user_id, password, SYSTEM_ACTOR);
    // Whoever knew the old password, or holds a session or token it gave, is out: the owner
    // read after the change, so an identity linked or unlinked meanwhile revokes its current user.
    const owner = await env.directory.findByIdentity(identity.provider, identity.user_id);
    if (owner) await env.accountSessions.end(owner.user_id);
    await tickets.consumeLinksOf('reset_password', ticket.identity);
    env.logger.info({ user_id: owner?.user_id }, 'password reset; sessions and grants revoked');
    message(
      res,
      200,
      'Password changed',
      'Your new password is set, and this account was signed out everywhere. Go back to the application and sign in with it.',
    );
  });

  router.use('/account', (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const page = tenantErrorPage(err);
    if (!page) return next(err);
    if (page.status === 503) markUnavailable(res);
    message(res, page.status, page.title, page.message);
  });
  return router;
}
