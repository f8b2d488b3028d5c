import { AccordError, isAccordError } from '../../platform/errors.ts';
import type { Auth0User, ManagementClient } from '../management-client.ts';
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

const metadataOf = (u: Auth0User) => ({ user_metadata: u.user_metadata ?? {}, app_metadata: u.app_metadata ?? {} });

/**
 * The PATCH that puts `before` back after `after` was written: Auth0 merges metadata at the
 * top level, so changed keys get their old value and added keys are deleted with null.
 */
function undoPatch(before: Metadata, after: Metadata): Metadata {
  const undo: Metadata = {};
  for (const key of Object.keys(after)) {
    if (!Object.hasOwn(before, key)) undo[key] = null;
    else if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) undo[key] = before[key];
  }
  return undo;
}

/**
 * Links two accounts the user has proven to control: merges metadata into the primary under
 * the merge strategy, then moves the secondary's identity into it. Knows nothing of HTTP; the
 * tenant is reached through the Management API only.
 */
export class AccountLinker {
  constructor(private readonly management: ManagementClient, private readonly mergeStrategy: MergeStrategy) {}

  /** Which account can be the secondary: one that has no other identities linked to it. */
  static canBeSecondary(user: Auth0User): boolean {
    return user.identities.length === 1;
  }

  async plan(primaryId: string, secondaryId: string): Promise<LinkPlan> {
    if (primaryId === secondaryId) throw new AccordError('link_already_linked');
    // Fresh reads: what is merged and linked must be the accounts as they are now.
    const [primary, secondary] = await Promise.all([this.management.getUser(primaryId, { fresh: true }), this.management.getUser(secondaryId, { fresh: true })]);
    return this.planOf(primary, secondary);
  }

  /** The plan for two accounts already read. */
  planOf(primary: Auth0User, secondary: Auth0User): LinkPlan {
    if (!AccountLinker.canBeSecondary(secondary)) throw new AccordError('link_secondary_has_identities', 'The account that would be merged in already has other accounts linked to it. Keep it as the primary account instead.');
    const merged = this.mergeStrategy({ primary: metadataOf(primary), secondary: metadataOf(secondary) });
    return {
      primary, secondary, merged,
      changes: {
        user_metadata: metadataChanges(primary.user_metadata ?? {}, merged.user_metadata),
        app_metadata: metadataChanges(primary.app_metadata ?? {}, merged.app_metadata),
      },
    };
  }

  /**
   * PATCH the primary's metadata, then link. If the link fails the PATCH is undone, and the
   * error says whether that worked, so the person knows what state their account is in.
   */
  async link(primaryId: string, secondaryId: string, options: { requireVerifiedEmails: boolean }): Promise<LinkOutcome> {
    const plan = await this.plan(primaryId, secondaryId);
    if (options.requireVerifiedEmails && (plan.primary.email_verified !== true || plan.secondary.email_verified !== true)) {
      throw new AccordError('link_email_unverified');
    }
    const identity = plan.secondary.identities[0]!;
    const patched = plan.changes.user_metadata.length > 0 || plan.changes.app_metadata.length > 0;
    if (patched) await this.management.updateUser(primaryId, plan.merged);
    try {
      await this.management.linkIdentity(primaryId, { provider: identity.provider, user_id: identity.user_id });
    } catch (err) {
      if (!patched) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      try {
        await this.management.updateUser(primaryId, {
          user_metadata: undoPatch(plan.primary.user_metadata ?? {}, plan.merged.user_metadata),
          app_metadata: undoPatch(plan.primary.app_metadata ?? {}, plan.merged.app_metadata),
        });
      } catch (undoError) {
        throw new AccordError('link_failed', `The accounts were not linked (${reason}), and the profile information merged into your account could not be put back (${(undoError as Error).message}). Nothing else changed; contact support if it looks wrong.`, { rolledBack: false });
      }
      throw new AccordError('link_failed', `The accounts were not linked: ${reason} Your profile information is unchanged.`, {
        rolledBack: true, cause: isAccordError(err) ? err.code : 'unknown',
      });
    }
    return { primary: plan.primary, secondary: plan.secondary };
  }
}
