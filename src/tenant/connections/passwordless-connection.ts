import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Kysely } from 'kysely';
import type { Schema } from '../tenant-database.ts';
import { epochSeconds } from '../../platform/time.ts';
import { isTenantError } from '../tenant-errors.ts';
import type { Connection } from '../connections.ts';
import { SYSTEM_ACTOR } from '../directory/audit.ts';
import { isPlausibleEmail, normalizeEmail } from '../directory/email.ts';
import type { Interaction, LoginEnvironment, ConnectionStrategy } from '../login/login-environment.ts';
import { signInLimiter } from '../login/sign-in-limiter.ts';
import { escapeHtml } from '../mail/mail-html.ts';
import type { MailMessage } from '../mail/mailer.ts';

/** How long a mailed code stays valid. */
export const CODE_TTL_SECONDS = 10 * 60;
/** Guesses allowed per code, the right one included; after that a new code is needed. */
export const MAX_CODE_ATTEMPTS = 5;
const TICKET_KIND = 'email_code';

/** Rate limits: code sends per address and per email, code guesses per address. */
export const PASSWORDLESS_LIMITS = {
  windowMs: 15 * 60_000,
  sendsPerIp: 10,
  sendsPerEmail: 5,
  guessesPerIp: 30,
} as const;

/**
 * What is stored for a code: its SHA-256 together with what it is bound to, so equal codes
 * of different people or attempts never collide and a stored hash says nothing by itself.
 */
function codeHash(connection: string, uid: string, emailNormalized: string, code: string): string {
  return createHash('sha256').update(`${TICKET_KIND}\0${connection}\0${uid}\0${emailNormalized}\0${code}`).digest('hex');
}

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
  const minutes = CODE_TTL_SECONDS / 60;
  const subject = `Your sign-in code for ${tenantName}`;
  const text = [
    `Your code to sign in to ${tenantName} is:`,
    '',
    `    ${code}`,
    '',
    `Enter it on the sign-in page. It expires in ${minutes} minutes and works only once, only in the browser where you asked for it.`,
    '',
    `If you did not try to sign in to ${tenantName}, you can ignore this message: nobody can sign in with your email without this code. Do not share it with anyone; ${tenantName} will never ask you for it.`,
  ].join('\n');
  const name = escapeHtml(tenantName);
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#1b1f24">
<p>Your code to sign in to <strong>${name}</strong> is:</p>
<p style="font-size:2rem;font-weight:700;letter-spacing:.3em;font-family:ui-monospace,monospace;margin:1rem 0">${code}</p>
<p>Enter it on the sign-in page. It expires in ${minutes} minutes and works only once, only in the browser where you asked for it.</p>
<p style="color:#5b6573">If you did not try to sign in to ${name}, you can ignore this message: nobody can sign in with your email without this code. Do not share it with anyone; ${name} will never ask you for it.</p>
</body></html>`;
  return { to, subject, text, html };
}

type CheckResult = { ok: true } | { ok: false; reason: 'missing' | 'expired' | 'exhausted' } | { ok: false; reason: 'wrong'; triesLeft: number };

/** Single-use, hashed codes in login_tickets, bound to a connection, an email and an interaction. */
class CodeTickets {
  constructor(private readonly db: Kysely<Schema>) {}

  /** Issues a new code; earlier codes for this email in this interaction stop working. */
  async issue(connection: string, uid: string, email: string): Promise<string> {
    const emailNormalized = normalizeEmail(email);
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const now = epochSeconds();
    await this.db.transaction().execute(async (trx) => {
      const mine = trx
        .updateTable('login_tickets')
        .where('kind', '=', TICKET_KIND)
        .where('connection', '=', connection)
        .where('email_normalized', '=', emailNormalized);
      await mine.set({ consumed_at: now }).where('interaction_uid', '=', uid).where('consumed_at', 'is', null).execute();
      // Housekeeping on the same index: this email's codes that expired a day ago or more.
      await trx
        .deleteFrom('login_tickets')
        .where('kind', '=', TICKET_KIND)
        .where('connection', '=', connection)
        .where('email_normalized', '=', emailNormalized)
        .where('expires_at', '<', now - 86_400)
        .execute();
      await trx
        .insertInto('login_tickets')
        .values({
          id: codeHash(connection, uid, emailNormalized, code),
          kind: TICKET_KIND,
          connection,
          email_normalized: emailNormalized,
          identity: null,
          interaction_uid: uid,
          attempts: 0,
          expires_at: now + CODE_TTL_SECONDS,
          consumed_at: null,
          created_at: new Date().toISOString(),
        })
        .execute();
    });
    return code;
  }

  /**
   * Checks a guess against the live code for this email and interaction. Every guess is
   * counted before it is compared (atomically, so parallel guesses cannot exceed the limit),
   * and a right guess consumes the code in a conditional update (so it works once).
   */
  async check(connection: string, uid: string, email: string, code: string): Promise<CheckResult> {
    const emailNormalized = normalizeEmail(email);
    const ticket = await this.db
      .selectFrom('login_tickets')
      .select(['id', 'attempts', 'expires_at'])
      .where('kind', '=', TICKET_KIND)
      .where('connection', '=', connection)
      .where('email_normalized', '=', emailNormalized)
      .where('interaction_uid', '=', uid)
      .where('consumed_at', 'is', null)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!ticket) return { ok: false, reason: 'missing' };
    const now = epochSeconds();
    if (Number(ticket.expires_at) <= now) return { ok: false, reason: 'expired' };
    if (Number(ticket.attempts) >= MAX_CODE_ATTEMPTS) return { ok: false, reason: 'exhausted' };

    const counted = await this.db
      .updateTable('login_tickets')
      .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
      .where('id', '=', ticket.id)
      .where('consumed_at', 'is', null)
      .where('attempts', '<', MAX_CODE_ATTEMPTS)
      .where('expires_at', '>', now)
      .returning('attempts')
      .executeTakeFirst();
    if (!counted) return { ok: false, reason: 'exhausted' };

    const expected = Buffer.from(ticket.id, 'hex');
    const actual = Buffer.from(codeHash(connection, uid, emailNormalized, code), 'hex');
    if (!timingSafeEqual(actual, expected)) {
      const triesLeft = MAX_CODE_ATTEMPTS - Number(counted.attempts);
      return triesLeft > 0 ? { ok: false, reason: 'wrong', triesLeft } : { ok: false, reason: 'exhausted' };
    }
    const consumed = await this.db
      .updateTable('login_tickets')
      .set({ consumed_at: now })
      .where('id', '=', ticket.id)
      .where('consumed_at', 'is', null)
      .executeTakeFirst();
    return Number(consumed.numUpdatedRows) === 1 ? { ok: true } : { ok: false, reason: 'missing' };
  }
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
    const tickets = new CodeTickets(env.database.db);
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
          title: 'Sign in with an email code',
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
      const code = await tickets.issue(connection.name, interaction.uid, email);
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
      const result = await tickets.check(connection.name, interaction.uid, email, code);
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
 * or a new user of this connection with a verified email.
 */
async function identityFor(env: LoginEnvironment, connection: Connection, email: string): Promise<{ provider: string; user_id: string }> {
  const existing = await env.directory.findIdentityByEmail(connection.name, email);
  if (existing) {
    await verifyIfNeeded(env, existing);
    return { provider: existing.provider, user_id: existing.user_id };
  }
  try {
    const user = await env.directory.createUser({ connection: connection.name, email, email_verified: true }, SYSTEM_ACTOR);
    const main = user.identities[0]!;
    return { provider: main.provider, user_id: main.user_id };
  } catch (err) {
    // Created meanwhile (a parallel sign-in, the Management API): use that one.
    if (!isTenantError(err, 'user_exists') && !isTenantError(err, 'conflict')) throw err;
    const created = await env.directory.findIdentityByEmail(connection.name, email);
    if (!created) throw err;
    await verifyIfNeeded(env, created);
    return { provider: created.provider, user_id: created.user_id };
  }
}

async function verifyIfNeeded(env: LoginEnvironment, identity: { provider: string; user_id: string; owner_id: string }): Promise<void> {
  const owner = await env.directory.findUser(identity.owner_id);
  if (!owner) return;
  const own = owner.identities.find((i) => i.provider === identity.provider && i.user_id === identity.user_id);
  const isMain = owner.identities[0] === own;
  const verified = isMain ? owner.email_verified : own?.profileData?.email_verified === true;
  if (!verified) await env.directory.markEmailVerified(identity.provider, identity.user_id, SYSTEM_ACTOR);
}
