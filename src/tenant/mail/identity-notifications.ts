import type { Logger } from '../../platform/logger.ts';
import type { ConnectionRegistry } from '../connections.ts';
import type { Directory, IdentityChange } from '../directory/directory.ts';
import { normalizeEmail } from '../directory/email.ts';
import type { UserProfile } from '../directory/profile.ts';
import { renderMail } from './mail-templates.ts';
import type { Mailer, MailMessage } from './mailer.ts';

export interface IdentityNotificationsOptions {
  directory: Directory;
  connections: ConnectionRegistry;
  mailer: Mailer;
  tenantName: string;
  logger: Logger;
}

export interface IdentityNotifications {
  /** Resolves when every notification started so far has been sent (or has failed and been logged). */
  idle(): Promise<void>;
}

/**
 * Tells the owner of an account, at every address of it that is verified, that a sign-in
 * method was linked to or unlinked from it — whoever did it: the Management API, automatic
 * linking, the CLI. Mail goes out after the change is committed and in the background: a
 * failing or slow mail server is logged and never fails, delays or undoes the link.
 */
export function subscribeIdentityNotifications(options: IdentityNotificationsOptions): IdentityNotifications {
  const { directory, logger } = options;
  const pending = new Set<Promise<void>>();

  // No function is declared per change: under tsx (the bench, `npm run dev`) each named one
  // costs a defineProperty for its name.
  directory.onIdentityChange(async (change) => {
    // Who to tell is the account as the change committed it (a later change must not
    // redirect the mail); sending happens in the background.
    let mails: MailMessage[];
    try {
      mails = notificationsFor(options, change);
    } catch (err) {
      logFailure(logger, change, err);
      return;
    }
    if (mails.length === 0) return;
    const work = sendAll(options.mailer, mails)
      .then(
        (failures) => {
          if (failures.length > 0) logFailure(logger, change, failures[0], { failed: failures.length, of: mails.length });
        },
        (err: unknown) => logFailure(logger, change, err),
      )
      .finally(() => {
        pending.delete(work);
      });
    pending.add(work);
  });

  return {
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}

function logFailure(logger: Logger, change: IdentityChange, err: unknown, counts: { failed?: number; of?: number } = {}): void {
  logger.error(
    { err, ...counts, type: change.type, user_id: change.primaryId, connection: change.connection },
    'could not send the identity change notification',
  );
}

function notificationsFor(options: IdentityNotificationsOptions, change: IdentityChange): MailMessage[] {
  const { primary, detached } = change;
  const identityEmail =
    change.type === 'identity.linked'
      ? primary.identities.find((i) => i.provider === change.provider && i.user_id === change.identityUserId)?.profileData?.email
      : detached?.email;
  // An unlinked identity was part of the account until now: its owner hears of it too.
  // One message per address: no recipient learns the account's other addresses.
  return verifiedAddresses([primary, detached]).map((to) => identityChangeMail(options, change, identityEmail, to));
}

/** Sends each mail, one failure not stopping the others; returns the failures. */
async function sendAll(mailer: Mailer, mails: MailMessage[]): Promise<unknown[]> {
  const failures: unknown[] = [];
  for (const mail of mails) {
    try {
      await mailer.send(mail);
    } catch (err) {
      failures.push(err);
    }
  }
  return failures;
}

/**
 * The verified addresses of these users: the root email when `email_verified` is true and each
 * linked identity's profileData email when its own `email_verified` is true. Deduplicated by
 * normalized form; an unverified address never receives anything.
 */
export function verifiedAddresses(users: (UserProfile | undefined)[]): string[] {
  const seen = new Map<string, string>();
  for (const user of users) {
    if (!user) continue;
    addVerified(seen, user.email, user.email_verified);
    for (const identity of user.identities) addVerified(seen, identity.profileData?.email, identity.profileData?.email_verified);
  }
  return [...seen.values()];
}

function addVerified(seen: Map<string, string>, email: unknown, verified: unknown): void {
  if (typeof email !== 'string' || verified !== true) return;
  const key = normalizeEmail(email);
  if (key.length > 0 && !seen.has(key)) seen.set(key, email.trim());
}

function describeActor(change: IdentityChange, tenantName: string): string {
  const { actor } = change;
  if (actor.id.startsWith('user:')) return 'from your account, while signed in';
  if (actor.id.startsWith('client:')) return `by an application connected to ${tenantName}`;
  if (actor.id === 'cli') return `by an administrator of ${tenantName}`;
  return change.type === 'identity.linked'
    ? `automatically by ${tenantName} at sign-in, because both accounts have the same verified email address`
    : `by ${tenantName}`;
}

/** The message: what changed (which sign-in method), when, by what, and what to do if it was not them. No secrets. */
export function identityChangeMail(
  options: Pick<IdentityNotificationsOptions, 'connections' | 'tenantName'>,
  change: IdentityChange,
  identityEmail: string | undefined,
  to: string,
): MailMessage {
  const tenant = options.tenantName;
  const connection = options.connections.byName(change.connection);
  const method = connection ? connection.displayName : change.connection;
  const methodLine = connection && connection.displayName !== connection.name ? `${method} (connection "${connection.name}")` : method;
  const when = new Date(change.date);
  const whenText = when.toUTCString().replace('GMT', 'UTC');
  const by = describeActor(change, tenant);
  const linked = change.type === 'identity.linked';

  const subject = linked ? `A sign-in method was linked to your ${tenant} account` : `A sign-in method was removed from your ${tenant} account`;
  return renderMail(
    'identity-changed',
    { to, subject },
    { tenant, linked, method: methodLine, forEmail: identityEmail ? ` for ${identityEmail}` : '', when: whenText, by },
  );
}
