import { appError } from '../app-errors.ts';
import type { Auth0User } from '../management/management-client.ts';

/**
 * The app's linking policy: which of two proven accounts may be merged into the other. The
 * tenant decides whether the link itself is allowed (tenant/directory/linking.ts); this decides
 * what the app offers.
 */

/** Which account can be the secondary: one that has no other identities linked to it. */
export function canBeSecondary(user: Auth0User): boolean {
  return user.identities.length === 1;
}

export type PrimaryChoice = 'current' | 'other';

/**
 * The primary account of a link between the signed-in account and the other one: the one the
 * person asked for when the other can be merged into it, else the one that can. Refused when
 * neither can be merged.
 */
export function choosePrimary(asked: PrimaryChoice, current: Auth0User, other: Auth0User): { primary: PrimaryChoice; canSwitch: boolean } {
  const canKeepCurrent = canBeSecondary(other);
  const canKeepOther = canBeSecondary(current);
  if (!canKeepCurrent && !canKeepOther) {
    throw appError(
      'link_secondary_has_identities',
      'Both accounts already have other accounts linked to them, so they cannot be merged. Unlink from one of them first.',
    );
  }
  const primary = asked === 'current' ? (canKeepCurrent ? 'current' : 'other') : canKeepOther ? 'other' : 'current';
  return { primary, canSwitch: canKeepCurrent && canKeepOther };
}
