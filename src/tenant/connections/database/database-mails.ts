import type { TenantConfig } from '../../tenant-config.ts';
import type { Directory } from '../../directory/directory.ts';
import type { LoginTickets } from '../../login/login-tickets.ts';
import { renderMail } from '../../mail/mail-templates.ts';
import type { Mailer } from '../../mail/mailer.ts';
import type { Connection } from '../../connections.ts';
import { RESET_PASSWORD_TTL_SECONDS, VERIFY_EMAIL_TTL_SECONDS } from './database-settings.ts';

/** The database connection's mails, each carrying a single-use link (views/mail). */

export interface MailEnvironment {
  config: TenantConfig;
  mailer: Mailer;
  tickets: LoginTickets;
}

type IdentityRef = { provider: string; user_id: string };

export async function sendVerificationMail(
  env: MailEnvironment,
  connection: Connection,
  email: string,
  identity: IdentityRef,
  clientId: string | undefined,
): Promise<void> {
  const secret = await env.tickets.issueLink({
    kind: 'verify_email',
    connection: connection.name,
    email,
    identity: `${identity.provider}|${identity.user_id}`,
    ttlSeconds: VERIFY_EMAIL_TTL_SECONDS,
  });
  // The application that started the sign-up: the confirmation page links back to it (only ever
  // to a registered client's own address, whatever the link says).
  const href = `${env.config.url}/account/verify-email?token=${secret}${clientId ? `&client_id=${encodeURIComponent(clientId)}` : ''}`;
  await env.mailer.send(
    renderMail('verify-email', { to: email, subject: `Confirm your email address for ${env.config.name}` }, { tenant: env.config.name, href }),
  );
}

export async function sendResetMail(
  env: MailEnvironment & { directory: Directory },
  connection: Connection,
  email: string,
  identity: IdentityRef & { owner_id: string },
): Promise<void> {
  const owner = await env.directory.getUser(identity.owner_id);
  const secret = await env.tickets.issueLink({
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
    return `${name}${address ? ` (${address})` : ''}`;
  });
  await env.mailer.send(
    renderMail('reset-password', { to: email, subject: `Reset your ${env.config.name} password` }, { tenant: env.config.name, href, methods }),
  );
}

/**
 * Sign-up with an address that has an account already: its owner is told, with the ways
 * forward, and the person signing up sees the same page as for a new address (OWASP's
 * advice against account enumeration).
 */
export async function sendAccountExistsMail(
  env: MailEnvironment,
  connection: Connection,
  email: string,
  identity: IdentityRef,
  signInUrl: string | undefined,
): Promise<void> {
  const secret = await env.tickets.issueLink({
    kind: 'reset_password',
    connection: connection.name,
    email,
    identity: `${identity.provider}|${identity.user_id}`,
    ttlSeconds: RESET_PASSWORD_TTL_SECONDS,
  });
  const resetHref = `${env.config.url}/account/reset-password?token=${secret}`;
  const name = env.config.name;
  await env.mailer.send(
    renderMail('account-exists', { to: email, subject: `Someone tried to sign up to ${name} with your email address` }, { tenant: name, signInUrl, resetHref }),
  );
}
