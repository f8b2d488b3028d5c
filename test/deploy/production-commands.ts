/**
 * The commands that take a checkout to a running production Accord. production-build.test.ts
 * runs them on a fresh copy; deployment-files.test.ts checks that deploy/ runs these and no others.
 */
export const PRODUCTION_COMMANDS = {
  install: ['npm', 'ci', '--omit=dev'],
  build: ['npm', 'run', 'build'],
  start: ['node', 'dist/main.js'],
} as const;
