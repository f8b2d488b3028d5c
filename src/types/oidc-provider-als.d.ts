// oidc-provider's request context: not in its typings, imported by src/tenant/oidc/request-context.ts.
declare module 'oidc-provider/lib/helpers/als.js' {
  import type { AsyncLocalStorage } from 'node:async_hooks';
  const requestContext: AsyncLocalStorage<unknown>;
  export default requestContext;
}
