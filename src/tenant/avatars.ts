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
  const source = user.name && user.name !== user.email ? user.name : (user.email?.split('@')[0] ?? '');
  const words = source
    .normalize('NFD')
    .toLowerCase()
    .replace(/[^a-z0-9\s._-]/g, '')
    .split(/[\s._-]+/)
    .filter(Boolean);
  const initials = words.length >= 2 ? `${words[0]![0]}${words[1]![0]}` : (words[0] ?? '').slice(0, 2);
  return INITIALS.test(initials) ? initials : 'u';
}

function trimmed(tenantUrl: string): string {
  return tenantUrl.replace(/\/+$/, '');
}

/** The absolute URL of the tenant's default avatar for these initials. */
export function defaultAvatarUrl(tenantUrl: string, initials: string): string {
  return `${trimmed(tenantUrl)}${AVATARS_PATH}/${initials}.svg`;
}

/**
 * A user with the profile fields Auth0 always fills: `name` (the email, or the phone number,
 * when nothing better is known), `nickname` (the email's local part) and `picture` (a default
 * avatar the tenant serves itself, since no CDN is reachable offline). Computed when a user is
 * shown, not stored: a later name changes the initials, and a stored value always wins.
 */
export function withProfileDefaults(user: UserProfile, tenantUrl: string): UserProfile {
  const name = user.name ?? user.email ?? user.phone_number;
  const nickname = user.nickname ?? user.email?.split('@')[0];
  return {
    ...user,
    ...(name !== undefined ? { name } : {}),
    ...(nickname !== undefined ? { nickname } : {}),
    picture: user.picture ?? defaultAvatarUrl(tenantUrl, initialsOf(user)),
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
