import type { TenantConfig } from '../../tenant-config.ts';
import type { Directory } from '../../directory/directory.ts';
import type { LinkKind, LoginTickets } from '../../login/login-tickets.ts';
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

const LINKS: Record<LinkKind, { path: string; ttlSeconds: number }> = {
  verify_email: { path: '/account/verify-email', ttlSeconds: VERIFY_EMAIL_TTL_SECONDS },
  reset_password: { path: '/account/reset-password', ttlSeconds: RESET_PASSWORD_TTL_SECONDS },
};

/** A new single-use link of `kind` for the identity, as its mail carries it (account-routes.ts opens it). */
async function mailedLink(env: MailEnvironment, kind: LinkKind, connection: Connection, email: string, identity: IdentityRef): Promise<string> {
  const link = LINKS[kind];
  const secret = await env.tickets.issueLink({
    kind,
    connection: connection.name,
    email,
    identity: `${identity.provider}|${identity.user_id}`,
    ttlSeconds: link.ttlSeconds,
  });
  return `${env.config.url}${link.path}?token=${secret}`;
}

export async function sendVerificationMail(
  env: MailEnvironment,
  connection: Connection,
  email: string,
  identity: IdentityRef,
  clientId: string | undefined,
): Promise<void> {
  // The application that started the sign-up: the confirmation page links back to it (only ever
  // to a registered client's own address, whatever the link says).
  const href = `${await mailedLink(env, 'verify_email', connection, email, identity)}${clientId ? `&client_id=${encodeURIComponent(clientId)}` : ''}`;
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
  const href = await mailedLink(env, 'reset_password', connection, email, identity);
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
  const resetHref = await mailedLink(env, 'reset_password', connection, email, identity);
  const name = env.config.name;
  await env.mailer.send(
    renderMail('account-exists', { to: email, subject: `Someone tried to sign up to ${name} with your email address` }, { tenant: name, signInUrl, resetHref }),
  );
}
