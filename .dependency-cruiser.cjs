/**
 * The boundaries between Accord's parts (`npm run check:boundaries`, run by `npm test`). The two
 * halves talk over HTTP only, as the app would to Auth0; the platform serves both and knows neither;
 * the directory is the tenant's domain and knows nothing of HTTP. src/main.ts, src/cli.ts (with cli-commands.ts) and
 * src/embedded-wiring.ts are the wiring at the top and may import both halves.
 */
module.exports = {
  forbidden: [
    {
      name: 'app-imports-tenant',
      comment: 'The app talks to the tenant over OIDC and /api/v2 only, as it would to Auth0.',
      severity: 'error',
      from: { path: '^src/app/' },
      to: { path: '^src/tenant/' },
    },
    {
      name: 'tenant-imports-app',
      comment: 'The tenant serves any relying party; it knows nothing of the app.',
      severity: 'error',
      from: { path: '^src/tenant/' },
      to: { path: '^src/app/' },
    },
    {
      name: 'platform-imports-a-half',
      comment: 'src/platform is shared by both halves, so it imports neither.',
      severity: 'error',
      from: { path: '^src/platform/' },
      to: { path: '^src/(app|tenant)/' },
    },
    {
      name: 'directory-imports-http',
      comment: 'The directory is the domain: HTTP routes call it, never the other way round.',
      severity: 'error',
      from: { path: '^src/tenant/directory/' },
      to: { path: ['(^|/)node_modules/(@types/)?express/', '^(node:)?https?$'] },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports cross a boundary as much as value imports do.
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
