import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MANAGEMENT_SCOPES } from '../../src/tenant/clients/client-registry.ts';
import type { Tenant } from '../../src/tenant/tenant.ts';

export type AdminApi = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown) => Promise<{ status: number; body: unknown }>;

/**
 * The Management API of a listening tenant, over HTTP with every scope, as an administrator:
 * for arranging and checking what the app cannot. Its client and token are made on first use.
 */
export function adminApi(tenant: Tenant, tenantUrl: string): AdminApi {
  let token: Promise<string> | undefined;
  const requestToken = async () => {
    const client = await tenant.clients.create({
      name: `admin-${randomBytes(3).toString('hex')}`,
      grantTypes: ['client_credentials'],
      scopes: [...MANAGEMENT_SCOPES],
    });
    const res = await fetch(`${tenantUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'client_credentials',
        client_id: client.client_id,
        client_secret: client.client_secret,
        audience: `${tenantUrl}/api/v2/`,
      }),
    });
    assert.equal(res.status, 200, `the admin's token: ${res.status}`);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  return async (method, path, body) => {
    token ??= requestToken();
    const res = await fetch(`${tenantUrl}/api/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${await token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}
