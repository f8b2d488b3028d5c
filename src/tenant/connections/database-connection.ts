import { createHash, randomBytes } from 'node:crypto';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';
import type { Kysely } from 'kysely';
import type { LoginRateLimits, TenantConfig } from '../tenant-config.ts';
import type { Database, LoginTicketsTable, Schema } from '../tenant-database.ts';
import { isTenantError } from '../tenant-errors.ts';
import type { Logger } from '../../platform/logger.ts';
import { epochSeconds } from '../../platform/time.ts';
import type { Connection } from '../connections.ts';
import { SYSTEM_ACTOR } from '../directory/audit.ts';
import type { Directory } from '../directory/directory.ts';
import { isPlausibleEmail, normalizeEmail } from '../directory/email.ts';
import { checkPasswordStrength, hashPassword, PASSWORD_RULES, verifyPassword } from '../directory/passwords.ts';
import type { CsrfTokens } from '../login/csrf.ts';
import type { ConnectionStrategy, Interaction, LoginEnvironment } from '../login/login-environment.ts';
import { signInLimiter } from '../login/sign-in-limiter.ts';
import { escapeHtml } from '../mail/mail-html.ts';
import type { Mailer } from '../mail/mailer.ts';
import type { AccountSessions } from '../oidc/revoke-sessions.ts';

/**
 * The database connection (Auth0's `Username-Password-Authentication`, strategy `auth0`):
 * sign in with email and password, sign up, verify an email, reset a forgotten password.
 *
 * Sign-in pages live under `/login/:uid/:connection` (inside an interaction); the links sent
 * by mail are opened later, in any browser, so they live at `/account/verify-email` and
 * `/account/reset-password` (see databaseAccountRoutes). Mailed secrets are single use and
 * stored only as SHA-256 hashes in login_tickets.
 */

export const DEFAULT_LOGIN_RATE_LIMITS: LoginRateLimits = {
  windowMs: 15 * 60_000,
  loginPerIpAndEmail: 10,
  loginPerIp: 100,
  signupPerIp: 20,
  forgotPerIp: 10,
};

const VERIFY_EMAIL_TTL_SECONDS = 24 * 3600;
const RESET_PASSWORD_TTL_SECONDS = 3600;
const WRONG_CREDENTIALS = 'Wrong email or password.';
const PASSWORD_RULE_TEXT = `Use ${PASSWORD_RULES.minLength} or more characters with at least three of: lower case letters, upper case letters, digits, symbols.`;

type TicketKind = 'verify_email' | 'reset_password';

const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** A form field as a string; a repeated or missing field is not one (`email[]=a&email[]=b`). */
function field(body: unknown, name: string): string | undefined {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

function limitsOf(config: TenantConfig): LoginRateLimits {
  return { ...DEFAULT_LOGIN_RATE_LIMITS, ...config.loginRateLimits };
}

// ------------------------------------------------------------------ login tickets

async function issueTicket(
  db: Kysely<Schema>,
  ticket: {
    kind: TicketKind;
    connection: string;
    email: string;
    identity: string;
    ttlSeconds: number;
  },
): Promise<string> {
  const secret = randomBytes(32).toString('base64url');
  await db
    .insertInto('login_tickets')
    .values({
      id: hashSecret(secret),
      kind: ticket.kind,
      connection: ticket.connection,
      email_normalized: normalizeEmail(ticket.email),
      identity: ticket.identity,
      interaction_uid: null,
      attempts: 0,
      expires_at: epochSeconds() + ticket.ttlSeconds,
      consumed_at: null,
      created_at: new Date().toISOString(),
    })
    .execute();
  return secret;
}

type TicketState = { status: 'valid'; ticket: LoginTicketsTable } | { status: 'expired' | 'invalid' };

async function findTicket(db: Kysely<Schema>, kind: TicketKind, secret: unknown): Promise<TicketState> {
  if (typeof secret !== 'string' || secret.length < 20 || secret.length > 200) return { status: 'invalid' };
  const ticket = await db.selectFrom('login_tickets').selectAll().where('id', '=', hashSecret(secret)).where('kind', '=', kind).executeTakeFirst();
  if (!ticket || ticket.consumed_at !== null) return { status: 'invalid' };
  if (Number(ticket.expires_at) <= epochSeconds()) return { status: 'expired' };
  return { status: 'valid', ticket };
}

/** Consumes a ticket; false when another request consumed it first or it just expired. */
async function consumeTicket(db: Kysely<Schema>, id: string): Promise<boolean> {
  const now = epochSeconds();
  const result = await db
    .updateTable('login_tickets')
    .set({ consumed_at: now })
    .where('id', '=', id)
    .where('consumed_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

function splitIdentity(identity: string | null): { provider: string; user_id: string } | undefined {
  const at = identity?.indexOf('|') ?? -1;
  if (!identity || at <= 0) return undefined;
  return { provider: identity.slice(0, at), user_id: identity.slice(at + 1) };
}

// ------------------------------------------------------------------ mail

function mailHtml(paragraphs: string[], link: { href: string; label: string }): string {
  const body = paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n');
  return `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5">
<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.label)}</a></p>
${body}
</body></html>`;
}

async function sendVerificationMail(
  config: TenantConfig,
  mailer: Mailer,
  db: Kysely<Schema>,
  connection: Connection,
  email: string,
  identity: { provider: string; user_id: string },
): Promise<void> {
  const secret = await issueTicket(db, {
    kind: 'verify_email',
    connection: connection.name,
    email,
    identity: `${identity.provider}|${identity.user_id}`,
    ttlSeconds: VERIFY_EMAIL_TTL_SECONDS,
  });
  const href = `${config.url}/account/verify-email?token=${secret}`;
  const lines = [
    `You created an account on ${config.name} with this email address. Open the link to confirm that the address is yours; it works once, for 24 hours.`,
    `If you did not create this account, ignore this message: the address stays unconfirmed.`,
  ];
  await mailer.send({
    to: email,
    subject: `Confirm your email address for ${config.name}`,
    text: `Confirm your email address: ${href}\n\n${lines.join('\n\n')}\n`,
    html: mailHtml(lines, { href, label: 'Confirm your email address' }),
  });
}

async function sendResetMail(
  env: { config: TenantConfig; mailer: Mailer; directory: Directory; database: Database },
  connection: Connection,
  email: string,
  identity: { provider: string; user_id: string; owner_id: string },
): Promise<void> {
  const owner = await env.directory.getUser(identity.owner_id);
  const secret = await issueTicket(env.database.db, {
    kind: 'reset_password',
    connection: connection.name,
    email,
    identity: `${identity.provider}|${identity.user_id}`,
    ttlSeconds: RESET_PASSWORD_TTL_SECONDS,
  });
  const href = `${env.config.url}/account/reset-password?token=${secret}`;
  const methods = owner.identities.map((i) => {
    const name = env.directory.connections.byName(i.connection)?.displayName ?? i.connection;
    const address = i.profileData ? i.profileData.email : owner.email;
    return `- ${name}${address ? ` (${address})` : ''}`;
  });
  const lines = [
    `Someone asked to reset the password of your ${env.config.name} account. Open the link to choose a new password; it works once, for 1 hour.`,
    `Setting a new password signs this account out everywhere.`,
    `If you did not ask for this, ignore this message: your password stays as it is.`,
  ];
  const signIns = `This account signs in with:\n${methods.join('\n')}`;
  await env.mailer.send({
    to: email,
    subject: `Reset your ${env.config.name} password`,
    text: `Choose a new password: ${href}\n\n${lines.join('\n\n')}\n\n${signIns}\n`,
    html: mailHtml([...lines, 'This account signs in with:'], { href, label: 'Choose a new password' }).replace(
      '</body>',
      `<ul>${methods.map((m) => `<li>${escapeHtml(m.slice(2))}</li>`).join('')}</ul>\n</body>`,
    ),
  });
}

/**
 * Sign-up with an address that has an account already: its owner is told, with the ways
 * forward, and the person signing up sees the same page as for a new address (OWASP's
 * advice against account enumeration).
 */
async function sendAccountExistsMail(
  env: { config: TenantConfig; mailer: Mailer; database: Database },
  connection: Connection,
  email: string,
  identity: { provider: string; user_id: string },
  signInUrl: string | undefined,
): Promise<void> {
  const secret = await issueTicket(env.database.db, {
    kind: 'reset_password',
    connection: connection.name,
    email,
    identity: `${identity.provider}|${identity.user_id}`,
    ttlSeconds: RESET_PASSWORD_TTL_SECONDS,
  });
  const resetHref = `${env.config.url}/account/reset-password?token=${secret}`;
  const name = env.config.name;
  const intro = `Someone tried to create a ${name} account with this email address. It already has an account, so nothing was created and nothing changed.`;
  const signIn = signInUrl ? `If it was you, sign in with your password instead: ${signInUrl}` : 'If it was you, sign in with your password instead.';
  const reset = `Forgot your password? Choose a new one (the link works once, for 1 hour): ${resetHref}`;
  const notYou = 'If it was not you, ignore this message: your account and your password stay as they are.';
  const link = (href: string, label: string) => `<a href="${escapeHtml(href)}">${escapeHtml(label)}</a>`;
  await env.mailer.send({
    to: email,
    subject: `Someone tried to sign up to ${name} with your email address`,
    text: [intro, signIn, reset, notYou].join('\n\n') + '\n',
    html: `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5">
<p>${escapeHtml(intro)}</p>
<p>If it was you, ${signInUrl ? link(signInUrl, 'sign in with your password') : 'sign in with your password'} instead.</p>
<p>Forgot your password? ${link(resetHref, 'Choose a new one')} (the link works once, for 1 hour).</p>
<p>${escapeHtml(notYou)}</p>
</body></html>`,
  });
}

/** Where the application that started this sign-in lives (its redirect URI's origin), to send a person back to it. */
function applicationOrigin(interaction: Interaction): string | undefined {
  const redirectUri = interaction.params.redirect_uri;
  if (typeof redirectUri !== 'string') return undefined;
  try {
    const url = new URL(redirectUri);
    return url.protocol === 'https:' || url.protocol === 'http:' ? `${url.origin}/` : undefined;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ rate limits

// ------------------------------------------------------------------ sign-in pages

interface PageContext {
  uid: string;
  connection: Connection;
  base: string;
  csrf: string;
}

function pageContext(env: LoginEnvironment, res: Response): PageContext {
  const interaction = res.locals.interaction as Interaction;
  const connection = res.locals.connection as Connection;
  return {
    uid: interaction.uid,
    connection,
    base: `/login/${interaction.uid}/${encodeURIComponent(connection.name)}`,
    csrf: env.csrf.issue(interaction.uid),
  };
}

function loginHint(req: Request, res: Response): string {
  const fromQuery = req.query.login_hint;
  if (typeof fromQuery === 'string') return fromQuery.slice(0, 320);
  const fromRequest = (res.locals.interaction as Interaction).params.login_hint;
  return typeof fromRequest === 'string' ? fromRequest.slice(0, 320) : '';
}

function databaseLoginRouter(env: LoginEnvironment): Router {
  const router = Router({ mergeParams: true });
  const db = env.database.db;
  const limits = limitsOf(env.config);
  const minutes = Math.max(1, Math.round(limits.windowMs / 60_000));
  const wait = `Wait ${minutes} minute${minutes === 1 ? '' : 's'} and try again.`;

  // An unknown email costs the same argon2 verification as a known one.
  const dummyHash = hashPassword(randomBytes(18).toString('base64url'));

  const loginPerIp = signInLimiter({
    name: 'login-ip',
    database: env.database,
    limit: limits.loginPerIp,
    windowMs: limits.windowMs,
    message: `Too many sign-in attempts from your network. ${wait}`,
  });
  const loginPerIpAndEmail = signInLimiter({
    name: 'login-ip-email',
    database: env.database,
    limit: limits.loginPerIpAndEmail,
    windowMs: limits.windowMs,
    failuresOnly: true,
    key: (req) => `${ipKeyGenerator(req.ip ?? '')}:${normalizeEmail(field(req.body, 'email') ?? '')}`,
    message: `Too many failed sign-in attempts for this account. ${wait} You can also reset your password.`,
  });
  const signupPerIp = signInLimiter({
    name: 'signup-ip',
    database: env.database,
    limit: limits.signupPerIp,
    windowMs: limits.windowMs,
    message: `Too many sign-ups from your network. ${wait}`,
  });
  const forgotPerIp = signInLimiter({
    name: 'forgot-ip',
    database: env.database,
    limit: limits.forgotPerIp,
    windowMs: limits.windowMs,
    message: `Too many password-reset requests from your network. ${wait}`,
  });

  const renderLogin = (res: Response, ctx: PageContext, locals: { email: string; error?: string }, status = 200) => {
    env.render(res, 'tenant/database/login', { title: 'Sign in', ...ctx, error: undefined, ...locals }, status);
  };
  const renderSignup = (res: Response, ctx: PageContext, locals: { email: string; error?: string }, status = 200) => {
    env.render(res, 'tenant/database/signup', { title: 'Create your account', ...ctx, rules: PASSWORD_RULE_TEXT, error: undefined, ...locals }, status);
  };

  router.get('/', (req, res) => {
    renderLogin(res, pageContext(env, res), { email: loginHint(req, res) });
  });

  router.post('/', loginPerIp, loginPerIpAndEmail, async (req, res) => {
    const ctx = pageContext(env, res);
    env.csrf.verify(ctx.uid, field(req.body, '_csrf'));
    const email = field(req.body, 'email');
    const password = field(req.body, 'password');
    if (email === undefined || password === undefined) {
      return renderLogin(res, ctx, { email: '', error: 'Enter your email address and password.' }, 400);
    }
    const identity = isPlausibleEmail(email) ? await env.directory.findIdentityByEmail(ctx.connection.name, email) : undefined;
    const passwordHash = identity ? await env.directory.passwordHashOf(identity.provider, identity.user_id) : undefined;
    // Always one argon2 verification, so timing says nothing about whether the email exists.
    const matches = await verifyPassword(passwordHash ?? (await dummyHash), password.slice(0, PASSWORD_RULES.maxLength * 4));
    if (!identity || !passwordHash || !matches) {
      return renderLogin(res, ctx, { email, error: WRONG_CREDENTIALS }, 401);
    }
    try {
      await env.finish(req, res, { provider: identity.provider, user_id: identity.user_id }, ['pwd']);
    } catch (err) {
      if (isTenantError(err, 'user_blocked')) return renderLogin(res, ctx, { email, error: err.message }, 403);
      throw err;
    }
  });

  router.get('/signup', (req, res) => {
    renderSignup(res, pageContext(env, res), { email: loginHint(req, res) });
  });

  router.post('/signup', signupPerIp, async (req, res) => {
    const ctx = pageContext(env, res);
    env.csrf.verify(ctx.uid, field(req.body, '_csrf'));
    const email = field(req.body, 'email')?.trim();
    const password = field(req.body, 'password');
    if (!email || password === undefined || !isPlausibleEmail(email)) {
      return renderSignup(res, ctx, { email: email ?? '', error: 'Enter a valid email address and a password.' }, 400);
    }
    // The same answer, page and time whether or not the address has an account
    // (docs/security.md case 39): createUser hashes the password before it looks, and the
    // mail — a confirmation link, or a note to the existing owner — goes out after the answer.
    let created: { provider: string; user_id: string } | undefined;
    try {
      const user = await env.directory.createUser({ connection: ctx.connection.name, email, password, email_verified: false }, SYSTEM_ACTOR);
      created = user.identities[0]!;
    } catch (err) {
      if (isTenantError(err, 'password_strength_error')) {
        return renderSignup(res, ctx, { email, error: `That password is too weak. ${PASSWORD_RULE_TEXT}` }, 400);
      }
      if (isTenantError(err, 'invalid_body')) return renderSignup(res, ctx, { email, error: 'Enter a valid email address.' }, 400);
      if (!isTenantError(err, 'user_exists') && !isTenantError(err, 'conflict')) throw err;
    }
    const connection = ctx.connection;
    const signInUrl = applicationOrigin(res.locals.interaction as Interaction);
    void (async () => {
      if (created) return sendVerificationMail(env.config, env.mailer, db, connection, email, created);
      const identity = await env.directory.findIdentityByEmail(connection.name, email);
      const owner = identity ? await env.directory.findUser(identity.owner_id) : undefined;
      if (!identity || !owner) return;
      // To the address the account holds (the one typed may differ in case).
      const own = owner.identities.find((i) => i.provider === identity.provider && i.user_id === identity.user_id);
      const address = (own === owner.identities[0] ? owner.email : own?.profileData?.email) ?? email;
      await sendAccountExistsMail(env, connection, address, identity, signInUrl);
    })().catch((err: unknown) => env.logger.error({ err: { message: (err as Error).message } }, 'could not send the sign-up email'));
    env.render(res, 'tenant/message', {
      title: 'Check your email',
      message: `We sent a message to ${email}. Open the link in it to confirm your address, then sign in with your password. The link works for 24 hours.`,
      link: { href: `${ctx.base}?login_hint=${encodeURIComponent(email)}`, label: 'Continue to sign in' },
    });
  });

  router.get('/forgot', (req, res) => {
    const ctx = pageContext(env, res);
    env.render(res, 'tenant/database/forgot', { title: 'Reset your password', ...ctx, email: loginHint(req, res), error: undefined });
  });

  router.post('/forgot', forgotPerIp, async (req, res) => {
    const ctx = pageContext(env, res);
    env.csrf.verify(ctx.uid, field(req.body, '_csrf'));
    const email = field(req.body, 'email')?.trim();
    if (!email || !isPlausibleEmail(email)) {
      return env.render(
        res,
        'tenant/database/forgot',
        { title: 'Reset your password', ...ctx, email: email ?? '', error: 'Enter a valid email address.' },
        400,
      );
    }
    // The answer is the same, and as fast, whether or not the account exists: the mail goes out after it.
    const connection = ctx.connection;
    void (async () => {
      const identity = await env.directory.findIdentityByEmail(connection.name, email);
      if (!identity || !(await env.directory.passwordHashOf(identity.provider, identity.user_id))) return;
      await sendResetMail(env, connection, email, identity);
    })().catch((err: unknown) => env.logger.error({ err: { message: (err as Error).message } }, 'could not send the password-reset email'));
    env.render(res, 'tenant/message', {
      title: 'Check your email',
      message: `If an account exists for ${email}, we sent it a link to choose a new password. The link works once, for 1 hour.`,
      link: { href: ctx.base, label: 'Back to sign in' },
    });
  });

  return router;
}

export const databaseConnection: ConnectionStrategy = {
  strategy: 'auth0',
  router: databaseLoginRouter,
};

// ------------------------------------------------------------------ mailed links

export interface AccountRoutesEnvironment {
  config: TenantConfig;
  database: Database;
  directory: Directory;
  mailer: Mailer;
  csrf: CsrfTokens;
  logger: Logger;
  /** Ends the account's sessions after a password reset, at the tenant and at every client. */
  accountSessions: AccountSessions;
}

/**
 * `/account/verify-email?token=…` and `/account/reset-password?token=…`: the links the
 * database connection mails. They are opened outside any sign-in, so they are not bound to
 * an interaction; the secret in the link is the proof. The reset form's CSRF token is bound
 * to the ticket.
 */
export function databaseAccountRoutes(env: AccountRoutesEnvironment): Router {
  const router = Router();
  const db = env.database.db;
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
    const found = await findTicket(db, 'verify_email', req.query.token);
    if (found.status !== 'valid') return badLink(res, found.status, 'email-confirmation');
    const identity = await identityOf(found.ticket);
    if (!identity) return badLink(res, 'invalid', 'email-confirmation');
    if (!(await consumeTicket(db, found.ticket.id))) return badLink(res, 'invalid', 'email-confirmation');
    await env.directory.markEmailVerified(identity.provider, identity.user_id, SYSTEM_ACTOR);
    message(
      res,
      200,
      'Email address confirmed',
      `Thank you: ${found.ticket.email_normalized} is confirmed. You can close this page and go back to the application.`,
    );
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
    const found = await findTicket(db, 'reset_password', req.query.token);
    if (found.status !== 'valid') return badLink(res, found.status, 'password-reset');
    renderReset(res, found.ticket, req.query.token as string);
  });

  router.post('/account/reset-password', async (req, res) => {
    const token = field(req.body, 'token');
    const found = await findTicket(db, 'reset_password', token);
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
    if (!identity || !(await consumeTicket(db, ticket.id))) return badLink(res, 'invalid', 'password-reset');
    await env.directory.setPassword(identity.provider, identity.user_id, password, SYSTEM_ACTOR);
    // Whoever knew the old password, or holds a session or token it gave, is out: the owner
    // read after the change, so an identity linked or unlinked meanwhile revokes its current user.
    const owner = await env.directory.findByIdentity(identity.provider, identity.user_id);
    if (owner) await env.accountSessions.end(owner.user_id);
    await db
      .updateTable('login_tickets')
      .set({ consumed_at: epochSeconds() })
      .where('kind', '=', 'reset_password')
      .where('identity', '=', ticket.identity)
      .where('consumed_at', 'is', null)
      .execute();
    env.logger.info({ user_id: owner?.user_id }, 'password reset; sessions and grants revoked');
    message(
      res,
      200,
      'Password changed',
      'Your new password is set, and this account was signed out everywhere. Go back to the application and sign in with it.',
    );
  });

  router.use('/account', (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (isTenantError(err, 'too_many_requests')) return message(res, 429, 'Too many attempts', err.message);
    next(err);
  });
  return router;
}
