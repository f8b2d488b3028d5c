import { appError, isAppError } from '../app-errors.ts';
import type { Auth0User, ManagementClient } from '../management/management-client.ts';
import { canBeSecondary } from './link-policy.ts';
import { metadataChanges, type MergeStrategy, type Metadata } from './merge-strategies.ts';

export interface LinkPlan {
  primary: Auth0User;
  secondary: Auth0User;
  merged: { user_metadata: Metadata; app_metadata: Metadata };
  changes: { user_metadata: ReturnType<typeof metadataChanges>; app_metadata: ReturnType<typeof metadataChanges> };
}

export interface LinkOutcome {
  primary: Auth0User;
  secondary: Auth0User;
}

const LINKED_ELSEWHERE =
  'These accounts were linked meanwhile from another tab or window. Nothing more was done here, and your profile information stays as that link left it.';

const metadataOf = (u: Auth0User) => ({ user_metadata: u.user_metadata ?? {}, app_metadata: u.app_metadata ?? {} });

const METADATA_KINDS = ['user_metadata', 'app_metadata'] as const;
type MetadataPatch = Partial<Record<(typeof METADATA_KINDS)[number], Metadata>>;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The PATCH that takes back what this request wrote (`written`, the keys it changed): Auth0
 * merges metadata at the top level, so a changed key gets its old value back and an added key
 * is deleted with null. Only keys that still hold what it wrote: a key changed since by
 * another request is left as it is now.
 */
export function undoPatch(before: Metadata, written: Metadata, now: Metadata): Metadata {
  const undo: Metadata = {};
  for (const key of Object.keys(written)) {
    if (!Object.hasOwn(now, key) || !same(now[key], written[key])) continue;
    undo[key] = Object.hasOwn(before, key) ? before[key] : null;
  }
  return undo;
}

/**
 * Links two accounts the user has proven to control: merges metadata into the primary under
 * the merge strategy, then moves the secondary's identity into it. Knows nothing of HTTP; the
 * tenant is reached through the Management API only.
 */
export class AccountLinker {
  constructor(
    private readonly management: ManagementClient,
    private readonly mergeStrategy: MergeStrategy,
  ) {}

  async plan(primaryId: string, secondaryId: string): Promise<LinkPlan> {
    if (primaryId === secondaryId) throw appError('link_already_linked');
    // Fresh reads: what is merged and linked must be the accounts as they are now.
    const [primary, secondary] = await Promise.all([
      this.management.getUser(primaryId, { fresh: true }),
      this.management.getUser(secondaryId, { fresh: true }).catch((err: unknown) => err as Error),
    ]);
    if (secondary instanceof Error) {
      // Gone because another request (another browser of the same person) just linked it here.
      if (isAppError(secondary, 'inexistent_user') && primary.identities.some((i) => `${i.provider}|${i.user_id}` === secondaryId)) {
        throw appError('link_confirm_taken', LINKED_ELSEWHERE);
      }
      throw secondary;
    }
    return this.planOf(primary, secondary);
  }

  /** The plan for two accounts already read. */
  planOf(primary: Auth0User, secondary: Auth0User): LinkPlan {
    if (!canBeSecondary(secondary))
      throw appError(
        'link_secondary_has_identities',
        'The account that would be merged in already has other accounts linked to it. Keep it as the primary account instead.',
      );
    const merged = this.mergeStrategy({ primary: metadataOf(primary), secondary: metadataOf(secondary) });
    return {
      primary,
      secondary,
      merged,
      changes: {
        user_metadata: metadataChanges(primary.user_metadata ?? {}, merged.user_metadata),
        app_metadata: metadataChanges(primary.app_metadata ?? {}, merged.app_metadata),
      },
    };
  }

  /**
   * PATCH the primary's metadata, then link. If the link fails the PATCH is undone, and the
   * error says whether that worked, so the person knows what state their account is in. If
   * the link failed because another request (another tab) linked the same accounts meanwhile,
   * nothing is undone: the metadata is that link's.
   */
  async link(primaryId: string, secondaryId: string, options: { requireVerifiedEmails: boolean }): Promise<LinkOutcome> {
    const plan = await this.plan(primaryId, secondaryId);
    if (options.requireVerifiedEmails && (plan.primary.email_verified !== true || plan.secondary.email_verified !== true)) {
      throw appError('link_email_unverified');
    }
    const identity = plan.secondary.identities[0]!;
    // Only the keys the merge changes: never an empty object, which the Management API reads as
    // "clear every key", and nothing a concurrent change to other keys would be overwritten by.
    const written: MetadataPatch = {};
    for (const kind of METADATA_KINDS) {
      if (plan.changes[kind].length > 0) written[kind] = Object.fromEntries(plan.changes[kind].map((change) => [change.key, change.to]));
    }
    const patched = Object.keys(written).length > 0;
    if (patched) await this.management.updateUser(primaryId, written);
    try {
      await this.management.linkIdentity(primaryId, { provider: identity.provider, user_id: identity.user_id });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      let now: Auth0User;
      try {
        now = await this.management.getUser(primaryId, { fresh: true });
      } catch (readError) {
        if (!patched) throw err;
        throw appError(
          'link_failed',
          `The accounts were not linked (${reason}), and whether the profile information merged into your account needs putting back could not be checked (${(readError as Error).message}). Nothing else changed; contact support if it looks wrong.`,
          { rolledBack: false },
        );
      }
      if (now.identities.some((i) => i.provider === identity.provider && i.user_id === identity.user_id)) {
        throw appError('link_confirm_taken', LINKED_ELSEWHERE);
      }
      if (!patched) throw err;
      try {
        const undo: MetadataPatch = {};
        for (const kind of METADATA_KINDS) {
          const keys = undoPatch(plan.primary[kind] ?? {}, written[kind] ?? {}, now[kind] ?? {});
          if (Object.keys(keys).length > 0) undo[kind] = keys;
        }
        if (Object.keys(undo).length > 0) await this.management.updateUser(primaryId, undo);
      } catch (undoError) {
        throw appError(
          'link_failed',
          `The accounts were not linked (${reason}), and the profile information merged into your account could not be put back (${(undoError as Error).message}). Nothing else changed; contact support if it looks wrong.`,
          { rolledBack: false },
        );
      }
      throw appError('link_failed', `The accounts were not linked: ${reason} Your profile information is unchanged.`, {
        rolledBack: true,
        cause: isAppError(err) ? err.code : 'unknown',
      });
    }
    return { primary: plan.primary, secondary: plan.secondary };
  }
}
