import { Router, type NextFunction, type Request, type Response } from 'express';
import { isTenantError } from '../../tenant-errors.ts';
import type { Connection } from '../../connections.ts';
import { SYSTEM_ACTOR } from '../../directory/audit.ts';
import { isPlausibleEmail, normalizeEmail } from '../../directory/email.ts';
import type { UserProfile } from '../../directory/profile.ts';
import { type ConnectionStrategy, type Interaction, type LoginEnvironment, proofOf, proofTitle } from '../../login/login-environment.ts';
import { signInLimiter } from '../../login/sign-in-limiter.ts';
import { LoginTickets } from '../../login/login-tickets.ts';
import { renderMail } from '../../mail/mail-templates.ts';
import type { MailMessage } from '../../mail/mailer.ts';

/** How long a mailed code stays valid. */
export const CODE_TTL_SECONDS = 10 * 60;
/** Guesses allowed per code, the right one included; after that a new code is needed. */
export const MAX_CODE_ATTEMPTS = 5;

/** Rate limits: code sends per address and per email, code guesses per address. */
export const PASSWORDLESS_LIMITS = {
  windowMs: 15 * 60_000,
  sendsPerIp: 10,
  sendsPerEmail: 5,
  guessesPerIp: 30,
} as const;

/** Accepts "123456", "123 456" or "123-456"; anything else is not a code. */
function parseCode(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const code = value.replace(/[\s-]/g, '');
  return /^\d{6}$/.test(code) ? code : undefined;
}

function parseEmail(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const email = value.trim();
  return isPlausibleEmail(email) ? email : undefined;
}

/** The mail that carries a code: names the tenant, shows the code, says when it expires and what to do if unexpected. */
export function codeMail(tenantName: string, to: string, code: string): MailMessage {
  return renderMail('sign-in-code', { to, subject: `Your sign-in code for ${tenantName}` }, { tenant: tenantName, code, minutes: CODE_TTL_SECONDS / 60 });
}

/**
 * Passwordless email: the person proves control of an address with a 6-digit code mailed to
 * it. Knowing the code is what `email_verified` means, so a first sign-in creates a verified
 * user and a later one verifies an identity that was not yet.
 */
export const passwordlessConnection: ConnectionStrategy = {
  strategy: 'email',
  router(env: LoginEnvironment): Router {
    const router = Router({ mergeParams: true });
    const tickets = new LoginTickets(env.database);
    const base = (res: Response) => `/login/${(res.locals.interaction as Interaction).uid}/${encodeURIComponent((res.locals.connection as Connection).name)}`;

    const checkCsrf = (req: Request, res: Response, next: NextFunction) => {
      env.csrf.verify((res.locals.interaction as Interaction).uid, (req.body as Record<string, unknown> | undefined)?._csrf);
      next();
    };
    // Limiters are per tenant (built with its router), so tests and tenants never share counts.
    const sendsPerIp = signInLimiter({
      name: 'code-sends-ip',
      database: env.database,
      windowMs: PASSWORDLESS_LIMITS.windowMs,
      limit: PASSWORDLESS_LIMITS.sendsPerIp,
      message: 'Too many sign-in codes were requested from your network. Wait 15 minutes, then try again.',
    });
    const sendsPerEmail = signInLimiter({
      name: 'code-sends-email',
      database: env.database,
      windowMs: PASSWORDLESS_LIMITS.windowMs,
      limit: PASSWORDLESS_LIMITS.sendsPerEmail,
      message: 'Too many sign-in codes were requested for this email address. Wait 15 minutes, then ask for a new one.',
      key: (req) => `email:${String(req.params.connection)}:${normalizeEmail(parseEmail((req.body as Record<string, unknown>).email)!)}`,
      skip: (req) => parseEmail((req.body as Record<string, unknown> | undefined)?.email) === undefined,
    });
    const guessesPerIp = signInLimiter({
      name: 'code-guesses-ip',
      database: env.database,
      windowMs: PASSWORDLESS_LIMITS.windowMs,
      limit: PASSWORDLESS_LIMITS.guessesPerIp,
      message: 'Too many codes were tried from your network. Wait 15 minutes, then ask for a new code.',
    });

    const renderEmailForm = (res: Response, email: string, error?: string, status = 200) => {
      const interaction = res.locals.interaction as Interaction;
      env.render(
        res,
        'tenant/passwordless/email',
        {
          title: proofOf(res) ? proofTitle(proofOf(res)!) : 'Sign in with an email code',
          action: base(res),
          csrf: env.csrf.issue(interaction.uid),
          connection: res.locals.connection as Connection,
          email,
          error,
          // The chooser sends a request that named its connection straight back here.
          chooser: typeof interaction.params.connection === 'string' && interaction.params.connection ? undefined : `/login/${interaction.uid}`,
          abort: `/login/${interaction.uid}/abort`,
        },
        status,
      );
    };
    const renderCodeForm = (res: Response, email: string, options: { error?: string; sent?: boolean; status?: number } = {}) => {
      const interaction = res.locals.interaction as Interaction;
      env.render(
        res,
        'tenant/passwordless/code',
        {
          title: 'Enter your code',
          action: `${base(res)}/code`,
          resend: base(res),
          csrf: env.csrf.issue(interaction.uid),
          email,
          error: options.error,
          sent: options.sent ?? false,
          minutes: CODE_TTL_SECONDS / 60,
          restart: base(res),
        },
        options.status ?? 200,
      );
    };

    router.get('/', (req, res) => {
      const interaction = res.locals.interaction as Interaction;
      const hint =
        typeof req.query.login_hint === 'string'
          ? req.query.login_hint
          : typeof interaction.params.login_hint === 'string'
            ? interaction.params.login_hint
            : '';
      renderEmailForm(res, hint.slice(0, 320));
    });

    router.post('/', checkCsrf, sendsPerIp, sendsPerEmail, async (req, res) => {
      const body = req.body as Record<string, unknown>;
      const email = parseEmail(body.email);
      if (!email) {
        return renderEmailForm(res, typeof body.email === 'string' ? body.email.slice(0, 320) : '', 'Enter a valid email address, like name@example.com.', 400);
      }
      const interaction = res.locals.interaction as Interaction;
      const connection = res.locals.connection as Connection;
      const code = await tickets.issueCode(connection.name, interaction.uid, email, CODE_TTL_SECONDS);
      // The same answer whether or not an account exists: the first right code creates one.
      try {
        await env.mailer.send(codeMail(env.config.name, email, code));
      } catch (err) {
        env.logger.error({ err, connection: connection.name }, 'could not send a sign-in code');
        return renderEmailForm(res, email, 'We could not send the email just now. Try again in a moment.', 503);
      }
      res.redirect(303, `${base(res)}/code?email=${encodeURIComponent(email)}&sent=1`);
    });

    router.get('/code', (req, res) => {
      const email = parseEmail(req.query.email);
      if (!email) return res.redirect(303, base(res));
      renderCodeForm(res, email, { sent: req.query.sent === '1' });
    });

    router.post('/code', checkCsrf, guessesPerIp, async (req, res) => {
      const body = req.body as Record<string, unknown>;
      const email = parseEmail(body.email);
      if (!email) return renderEmailForm(res, '', 'Enter your email address to get a new code.', 400);
      const code = parseCode(body.code);
      if (!code) return renderCodeForm(res, email, { error: 'Enter the 6-digit code from the email.', status: 400 });

      const interaction = res.locals.interaction as Interaction;
      const connection = res.locals.connection as Connection;
      const result = await tickets.checkCode(connection.name, interaction.uid, email, code, MAX_CODE_ATTEMPTS);
      if (!result.ok) {
        switch (result.reason) {
          case 'wrong':
            return renderCodeForm(res, email, {
              error: `That code is not right, ${result.triesLeft} ${result.triesLeft === 1 ? 'try' : 'tries'} left.`,
              status: 400,
            });
          case 'expired':
            return renderCodeForm(res, email, {
              error: `That code has expired: codes work for ${CODE_TTL_SECONDS / 60} minutes. Ask for a new one below.`,
              status: 400,
            });
          case 'exhausted':
            return renderCodeForm(res, email, {
              error: 'That code was entered wrong too many times and no longer works. Ask for a new one below.',
              status: 400,
            });
          case 'missing':
            return renderCodeForm(res, email, {
              error:
                'There is no code waiting for this email in this sign-in: it was used already or replaced by a newer one. Use the newest email, or ask for a new code below.',
              status: 400,
            });
        }
      }
      const identity = await identityFor(env, connection, email);
      await env.finish(req, res, identity, ['otp']);
    });

    return router;
  },
};

/**
 * The identity the code proved: the existing one for this email (verified now if it was not),
 * or a new user of this connection with a verified email. With it, its user as read or created
 * here when nothing changed it since, so the sign-in need not read it again.
 */
async function identityFor(
  env: LoginEnvironment,
  connection: Connection,
  email: string,
): Promise<{ provider: string; user_id: string; owner?: UserProfile | undefined }> {
  const existing = await env.directory.findIdentityByEmail(connection.name, email);
  if (existing) return { provider: existing.provider, user_id: existing.user_id, owner: await verifyIfNeeded(env, existing) };
  try {
    const user = await env.directory.createUser({ connection: connection.name, email, email_verified: true }, SYSTEM_ACTOR);
    const main = user.identities[0]!;
    return { provider: main.provider, user_id: main.user_id, owner: user };
  } catch (err) {
    // Created meanwhile (a parallel sign-in, the Management API): use that one.
    if (!isTenantError(err, 'user_exists') && !isTenantError(err, 'conflict')) throw err;
    const created = await env.directory.findIdentityByEmail(connection.name, email);
    if (!created) throw err;
    return { provider: created.provider, user_id: created.user_id, owner: await verifyIfNeeded(env, created) };
  }
}

/** Marks the identity's email verified if it is not yet; answers its user when it was already (nothing changed). */
async function verifyIfNeeded(env: LoginEnvironment, identity: { provider: string; user_id: string; owner_id: string }): Promise<UserProfile | undefined> {
  const owner = await env.directory.findUser(identity.owner_id);
  if (!owner) return undefined;
  const own = owner.identities.find((i) => i.provider === identity.provider && i.user_id === identity.user_id);
  const isMain = owner.identities[0] === own;
  const verified = isMain ? owner.email_verified : own?.profileData?.email_verified === true;
  if (verified) return owner;
  await env.directory.markEmailVerified(identity.provider, identity.user_id, SYSTEM_ACTOR);
  return undefined;
}
