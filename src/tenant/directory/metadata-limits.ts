import { tenantError } from '../tenant-errors.ts';
import { nestingDepth } from '../../platform/json-nesting.ts';

/**
 * Limits of `user_metadata` and `app_metadata`, each. Auth0 allows up to 16 MB but calls
 * 16 kB "the upper practical limit" and now limits a whole profile to 10 kB; metadata travels
 * in id tokens, pages and every users-by-email answer, so Accord holds each field to 16 kB of
 * JSON. Ten levels of nesting is more than any profile needs and keeps every recursive walk
 * (serialising, merging, rendering) far from the stack's limit.
 */
export const METADATA_LIMITS = { maxDepth: 10, maxBytes: 16_384 } as const;

type MetadataField = 'user_metadata' | 'app_metadata';

/** Refuses metadata (as sent) that nests deeper than the limit; the object itself is level 1. */
export function checkMetadataDepth(field: MetadataField, value: Record<string, unknown> | undefined): void {
  if (value === undefined) return;
  if (nestingDepth(value, METADATA_LIMITS.maxDepth) > METADATA_LIMITS.maxDepth) {
    throw tenantError(
      'metadata_too_deep',
      `Payload validation error: ${field} nests objects and arrays more than ${METADATA_LIMITS.maxDepth} levels deep (the ${field} object itself is level 1).`,
    );
  }
}

/**
 * Refuses a stored value (its JSON) over the size limit. A value stored before the limit
 * existed may stay over it, but a change may only make it smaller.
 */
export function checkMetadataSize(field: MetadataField, json: string, previousJson?: string): void {
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes <= METADATA_LIMITS.maxBytes) return;
  if (previousJson !== undefined && bytes < Buffer.byteLength(previousJson, 'utf8')) return;
  throw tenantError(
    'metadata_too_large',
    `Payload validation error: ${field} would be ${bytes} bytes as JSON; at most ${METADATA_LIMITS.maxBytes} are allowed.`,
  );
}
