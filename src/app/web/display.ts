/** Small formatting helpers for pages: masked emails, sign-in method names, dates. */
import { signInMethodName } from '../../platform/sign-in-methods.ts';

const BULLET = '•';
const MAX_BULLETS = 5;

// At least one bullet so a masked value never looks like the complete original.
function bullets(hiddenCount: number): string {
  return BULLET.repeat(Math.min(Math.max(hiddenCount, 1), MAX_BULLETS));
}

function maskLocal(local: string): string {
  const chars = Array.from(local); // code points, so emoji/accents are not split
  // Two characters of a short name would give most of it away ("ad•" for ada).
  const keep = chars.length <= 4 ? 1 : 2;
  return chars.slice(0, keep).join('') + bullets(chars.length - keep);
}

function maskDomain(domain: string): string {
  const labels = domain.split('.').filter((label) => label !== '');
  if (labels.length === 0) return '';
  if (labels.length === 1) return maskLabel(labels[0]!);
  const tld = labels[labels.length - 1]!;
  const rest = Array.from(labels.slice(0, -1).join('.'));
  return rest[0]! + bullets(rest.length - 1) + '.' + tld;
}

// A dotless domain ("localhost"): keep its first character only.
function maskLabel(label: string): string {
  const chars = Array.from(label);
  return chars[0]! + bullets(chars.length - 1);
}

/**
 * `jane.doe@example.com` → `ja•••••@e•••••.com`: first 2 characters of the local part
 * (1 if it has ≤ 2), at most 5 bullets, first character of the domain and its TLD.
 */
export function maskEmail(email: string): string {
  if (typeof email !== 'string') return '';
  const trimmed = email.trim();
  if (trimmed === '') return '';
  // The last "@" separates the domain; a quoted local part may itself contain "@".
  const at = trimmed.lastIndexOf('@');
  if (at === -1) return maskLocal(trimmed);
  const local = trimmed.slice(0, at);
  const domain = trimmed.slice(at + 1);
  const maskedLocal = local === '' ? BULLET : maskLocal(local);
  const maskedDomain = maskDomain(domain);
  return maskedDomain === '' ? maskedLocal : `${maskedLocal}@${maskedDomain}`;
}

/** Human words for a sign-in method: the one naming rule both halves use. */
export const connectionLabel = signInMethodName;

// en-GB long month names: Intl's formatter gives the same words but costs microseconds of ICU
// work on every page.
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

// ISO 8601 date or date-time; a space separator (SQL style) is accepted as well.
const ISO_DATE = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * `2026-03-12T10:00:00Z` → `12 March 2026` (en-GB, UTC). Only ISO strings are accepted,
 * because Date's loose parsing turns junk like "12" into real-looking dates. A date-time
 * without an offset is read as UTC (JS would use the server's local zone).
 */
export function formatDate(iso: string): string {
  if (typeof iso !== 'string') return '';
  const match = ISO_DATE.exec(iso.trim());
  if (!match) return '';
  const [, date, time, offset] = match;
  // Date rolls impossible days over (2026-02-30 → 2 March), so check the calendar date first.
  const day = new Date(`${date}T00:00:00Z`);
  if (Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== date) return '';
  const parsed = time === undefined ? day : new Date(`${date}T${time}${offset ?? 'Z'}`);
  // Years before 1 AD would need an era to be read right; no account dates from then.
  if (Number.isNaN(parsed.getTime()) || parsed.getUTCFullYear() < 1) return '';
  return `${parsed.getUTCDate()} ${MONTHS[parsed.getUTCMonth()]} ${parsed.getUTCFullYear()}`;
}

/** How a candidate or account is shown before its owner has proven control: never its metadata. */
export function describeAccount(account: { user_id: string; connection: string; email: string; created_at: string }) {
  return {
    user_id: account.user_id,
    connection: account.connection,
    method: connectionLabel(account.connection),
    maskedEmail: maskEmail(account.email),
    created: formatDate(account.created_at),
  };
}
