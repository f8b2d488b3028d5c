/**
 * The one naming rule for sign-in methods, used by the app's pages and the tenant's alike, so a
 * person reads the same words for the same method everywhere ("Continue with Google" at the
 * tenant, "Google" on the profile).
 *
 * A method is named by what the person signs in with, in sentence case, and never ends in
 * "account": pages that mean the account add the word themselves ("Link Google account").
 * Precedence: a well-known connection name, then the connection's display_name, then a
 * well-known strategy, then the title-cased name. Well-known names come first because some
 * pages know only a connection's name (an identity's `connection`), and must still agree with
 * the pages that know its display_name too.
 */

// Keyed by lower-cased connection name or strategy. A Map, so names like "constructor"
// never resolve to Object.prototype members.
const NAMES = new Map<string, string>([
  ['username-password-authentication', 'Email and password'],
  ['auth0', 'Email and password'],
  ['email', 'Email code'],
  ['sms', 'Text message code'],
  ['google-oauth2', 'Google'],
  ['github', 'GitHub'],
  ['demo-social', 'Demo social'],
  ['windowslive', 'Microsoft'],
  ['apple', 'Apple'],
  ['facebook', 'Facebook'],
  ['linkedin', 'LinkedIn'],
]);

function titleCase(name: string): string {
  return name
    .split(/[\s_-]+/)
    .filter((word) => word !== '')
    .map((word) => word[0]!.toUpperCase() + word.slice(1))
    .join(' ');
}

/** A configured name that already says "account" would read "… account account" on a page that adds it. */
function withoutAccount(name: string): string {
  const trimmed = name.replace(/\s+account$/i, '').trim();
  return trimmed === '' ? name : trimmed;
}

export interface SignInMethod {
  name: string;
  strategy?: string | undefined;
  display_name?: string | undefined;
}

/** Human words for a sign-in method (a connection, or only its name). */
export function signInMethodName(connection: SignInMethod | string): string {
  const conn = typeof connection === 'string' ? { name: connection } : connection;
  if (conn === null || typeof conn !== 'object') return '';
  const name = typeof conn.name === 'string' ? conn.name.trim() : '';
  const known = NAMES.get(name.toLowerCase());
  if (known) return known;
  const displayName = typeof conn.display_name === 'string' ? conn.display_name.trim() : '';
  if (displayName) return withoutAccount(displayName);
  const strategy = typeof conn.strategy === 'string' ? conn.strategy.trim().toLowerCase() : '';
  const byStrategy = NAMES.get(strategy);
  if (byStrategy) return byStrategy;
  return withoutAccount(titleCase(name));
}
