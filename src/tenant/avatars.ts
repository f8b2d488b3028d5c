import { createHash } from 'node:crypto';
import { Router } from 'express';
import type { UserProfile } from './directory/profile.ts';

/** Where the tenant serves its default avatars: `/avatars/<initials>.svg`. */
export const AVATARS_PATH = '/avatars';

const INITIALS = /^[a-z0-9]{1,2}$/;

/** Background colours dark enough for white letters (WCAG AA for large text). */
const COLOURS = ['#1f6feb', '#8250df', '#bf3989', '#cf222e', '#bc4c00', '#4d7c0f', '#1a7f37', '#0a7ea4', '#57606a', '#6639ba'];

/**
 * Up to two letters or digits for a person, as Auth0's default avatars show them: the first
 * letters of the first two words of the name, or the first two characters of a one-word name
 * or of the email's local part. Accents are dropped (é → e); other scripts fall back to `u`.
 */
export function initialsOf(user: Pick<UserProfile, 'name' | 'email'>): string {
  const source = user.name && user.name !== user.email ? user.name : localPart(user.email ?? '');
  // Every user shown by the Management API goes through here: printable ASCII (most names and
  // emails) needs neither Unicode normalization nor the regular expressions below.
  const initials = PRINTABLE_ASCII.test(source) ? asciiInitials(source) : unicodeInitials(source);
  return INITIALS.test(initials) ? initials : 'u';
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function unicodeInitials(source: string): string {
  const words = source
    .normalize('NFD')
    .toLowerCase()
    .replace(/[^a-z0-9\s._-]/g, '')
    .split(/[\s._-]+/)
    .filter(Boolean);
  return words.length >= 2 ? `${words[0]![0]}${words[1]![0]}` : (words[0] ?? '').slice(0, 2);
}

/** unicodeInitials for printable ASCII, in one pass: separators end a word, other characters are dropped. */
function asciiInitials(source: string): string {
  let first = '';
  let words = 0;
  let inWord = false;
  for (let i = 0; i < source.length; i++) {
    let c = source.charCodeAt(i);
    if (c === 0x20 || c === 0x2e || c === 0x5f || c === 0x2d) {
      inWord = false;
      continue;
    }
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39))) continue;
    if (!inWord) {
      inWord = true;
      words++;
      if (words === 2) return `${first[0]}${String.fromCharCode(c)}`;
    }
    if (first.length < 2) first += String.fromCharCode(c);
  }
  return first;
}

function localPart(email: string): string {
  const at = email.indexOf('@');
  return at === -1 ? email : email.slice(0, at);
}

function trimmed(tenantUrl: string): string {
  return tenantUrl.replace(/\/+$/, '');
}

/**
 * A user with the profile fields Auth0 always fills: `name` (the email, or the phone number,
 * when nothing better is known), `nickname` (the email's local part) and `picture` (a default
 * avatar the tenant serves itself, since no CDN is reachable offline). Computed when a user is
 * shown, not stored: a later name changes the initials, and a stored value always wins.
 */
export function withProfileDefaults(user: UserProfile, tenantUrl: string): UserProfile {
  return profileDefaults(tenantUrl)(user);
}

/** withProfileDefaults for one tenant URL, its avatars' address worked out once. */
export function profileDefaults(tenantUrl: string): (user: UserProfile) => UserProfile {
  const avatars = `${trimmed(tenantUrl)}${AVATARS_PATH}/`;
  return (user) => {
    const shown: UserProfile = { ...user };
    const name = user.name ?? user.email ?? user.phone_number;
    if (name !== undefined) shown.name = name;
    const nickname = user.nickname ?? (user.email === undefined ? undefined : localPart(user.email));
    if (nickname !== undefined) shown.nickname = nickname;
    shown.picture = user.picture ?? `${avatars}${initialsOf(user)}.svg`;
    return shown;
  };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The SVG of a default avatar: the initials, upper case, on a colour chosen by the initials. */
export function avatarSvg(initials: string): string {
  const colour = COLOURS[createHash('sha256').update(initials).digest()[0]! % COLOURS.length]!;
  const label = escapeXml(initials.toUpperCase());
  return (
    '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128" role="img" ' +
    `aria-label="${label}"><rect width="128" height="128" fill="${colour}"/>` +
    '<text x="64" y="64" dy="0.35em" text-anchor="middle" font-family="Helvetica, Arial, sans-serif" ' +
    `font-size="52" font-weight="600" fill="#ffffff">${label}</text></svg>`
  );
}

/**
 * `GET /avatars/<initials>.svg`. Mounted before helmet: applications on other origins show
 * these images, which helmet's `Cross-Origin-Resource-Policy: same-origin` would block.
 */
export function avatarRoute(): Router {
  const router = Router();
  router.get(`${AVATARS_PATH}/:file`, (req, res) => {
    const initials = /^([a-z0-9]{1,2})\.svg$/.exec(req.params.file)?.[1];
    if (!initials) {
      res.status(404).type('text/plain').send('No such avatar: /avatars/ serves one or two lower-case letters or digits, such as /avatars/jd.svg.');
      return;
    }
    res
      .set({
        'Content-Type': 'image/svg+xml',
        'Cache-Control': 'public, max-age=86400',
        'Cross-Origin-Resource-Policy': 'cross-origin',
        'X-Content-Type-Options': 'nosniff',
        'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
      })
      .send(avatarSvg(initials));
  });
  return router;
}
