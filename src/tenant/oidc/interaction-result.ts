import type { ServerResponse } from 'node:http';
import { errors, type InteractionResults } from 'oidc-provider';
import type Provider from 'oidc-provider';
import { epochSeconds } from '../../platform/time.ts';

/** An interaction as `Provider#interactionDetails` loads it (cookie signature, row, session checked). */
export type LoadedInteraction = Awaited<ReturnType<Provider['interactionDetails']>>;

/**
 * What oidc-provider's `interactionFinished` stores (without merging the last submission), on an
 * interaction this request has already loaded and checked rather than on a second lookup of it.
 * An interaction expired meanwhile is refused, as that lookup would refuse it.
 */
export async function saveInteractionResult(interaction: LoadedInteraction, result: InteractionResults): Promise<void> {
  const ttl = interaction.exp - epochSeconds();
  if (ttl <= 0) throw new errors.SessionNotFound('interaction session not found');
  interaction.result = result;
  await interaction.save(ttl);
}

/** The answer `interactionFinished` sends: back to the authorization, which resumes with the result. */
export function resumeAuthorization(res: ServerResponse, interaction: LoadedInteraction): void {
  res.statusCode = 303;
  res.setHeader('Location', interaction.returnTo);
  res.setHeader('Content-Length', '0');
  res.end();
}
