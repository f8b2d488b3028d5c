import { randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';
import { isTenantError } from '../../tenant-errors.ts';
import type { Connection } from '../../connections.ts';
import { SYSTEM_ACTOR } from '../../directory/audit.ts';
import { isPlausibleEmail, normalizeEmail } from '../../directory/email.ts';
import { hashPassword, PASSWORD_RULES, verifyPassword } from '../../directory/passwords.ts';
import { type ConnectionStrategy, type Interaction, type LoginEnvironment, proofOf, proofTitle } from '../../login/login-environment.ts';
import { LoginTickets } from '../../login/login-tickets.ts';
import { type SignInLimiterOptions, signInLimiter } from '../../login/sign-in-limiter.ts';
import { sendAccountExistsMail, sendResetMail, sendVerificationMail } from './database-mails.ts';
import { field, limitsOf, originOf, PASSWORD_RULE_TEXT } from './database-settings.ts';

/**
 * The database connection (Auth0's `Username-Password-Authentication`, strategy `auth0`):
 * sign in with email and password, sign up, verify an email, reset a forgotten password.
 *
 * Sign-in pages live under `/login/:uid/:connection` (inside an interaction); the links sent
 * by mail are opened later, in any browser, so they live at `/account/verify-email` and
 * `/account/reset-password` (account-routes.ts). Mailed secrets are single use and stored
 * only as SHA-256 hashes (login/login-tickets.ts); the mails are database-mails.ts.
 */

const WRONG_CREDENTIALS = 'Wrong email or password.';

/** Where the application that started this sign-in lives (its redirect URI's origin), to send a person back to it. */
function applicationOrigin(interaction: Interaction): string | undefined {
  return originOf(interaction.params.redirect_uri);
}

interface PageContext {
  uid: string;
  connection: Connection;
  base: string;
  csrf: string;
}

/** Where the connection's forms live for this sign-in: `/login/:uid/:connection`. */
function formsBase(res: Response): string {
  return `/login/${(res.locals.interaction as Interaction).uid}/${encodeURIComponent((res.locals.connection as Connection).name)}`;
}

function pageContext(env: LoginEnvironment, res: Response): PageContext {
  const interaction = res.locals.interaction as Interaction;
  return {
    uid: interaction.uid,
    connection: res.locals.connection as Connection,
    base: formsBase(res),
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
  const mails = { config: env.config, mailer: env.mailer, directory: env.directory, tickets: new LoginTickets(env.database) };
  const limits = limitsOf(env.config);
  const minutes = Math.max(1, Math.round(limits.windowMs / 60_000));
  const wait = `Wait ${minutes} minute${minutes === 1 ? '' : 's'} and try again.`;

  // An unknown email costs the same argon2 verification as a known one.
  const dummyHash = hashPassword(randomBytes(18).toString('base64url'));

  /** One of the connection's limits, over its window, per address unless `key` says otherwise. */
  const limiter = (name: string, limit: number, message: string, options: Pick<SignInLimiterOptions, 'failuresOnly' | 'key' | 'refuse'> = {}) =>
    signInLimiter({ name, database: env.database, limit, windowMs: limits.windowMs, message, ...options });
  const loginPerIp = limiter('login-ip', limits.loginPerIp, `Too many sign-in attempts from your network. ${wait}`);
  const loginPerIpAndEmail = limiter(
    'login-ip-email',
    limits.loginPerIpAndEmail,
    `Too many failed sign-in attempts for this account. ${wait} You can also reset your password.`,
    {
      failuresOnly: true,
      key: (req) => `${ipKeyGenerator(req.ip ?? '')}:${normalizeEmail(field(req.body, 'email') ?? '')}`,
      // The page offers the way out it names: the reset form, with the address filled in.
      refuse: (req, res, _next, text) => {
        const email = field(req.body, 'email')?.trim().slice(0, 320) ?? '';
        const link = { href: `${formsBase(res)}/forgot?login_hint=${encodeURIComponent(email)}`, label: 'Reset your password' };
        env.render(res, 'tenant/message', { title: 'Too many attempts', message: text, link }, 429);
      },
    },
  );
  const signupPerIp = limiter('signup-ip', limits.signupPerIp, `Too many sign-ups from your network. ${wait}`);
  const forgotPerIp = limiter('forgot-ip', limits.forgotPerIp, `Too many password-reset requests from your network. ${wait}`);

  const renderLogin = (res: Response, ctx: PageContext, locals: { email: string; error?: string }, status = 200) => {
    const proof = proofOf(res);
    env.render(res, 'tenant/database/login', { title: proof ? proofTitle(proof) : 'Sign in', ...ctx, error: undefined, ...locals }, status);
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
      if (created) return sendVerificationMail(mails, connection, email, created, (res.locals.interaction as Interaction).clientId);
      const identity = await env.directory.findIdentityByEmail(connection.name, email);
      const owner = identity ? await env.directory.findUser(identity.owner_id) : undefined;
      if (!identity || !owner) return;
      // To the address the account holds (the one typed may differ in case).
      const own = owner.identities.find((i) => i.provider === identity.provider && i.user_id === identity.user_id);
      const address = (own === owner.identities[0] ? owner.email : own?.profileData?.email) ?? email;
      await sendAccountExistsMail(mails, connection, address, identity, signInUrl);
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
      await sendResetMail(mails, connection, email, identity);
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
