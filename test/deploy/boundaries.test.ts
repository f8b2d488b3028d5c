/**
 * `npm run check:boundaries` (.dependency-cruiser.cjs) on a small tree laid out like src/: each
 * forbidden import fails the check and is named, and the wiring at the top may import both halves.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../helpers/processes.ts';

function checkBoundaries(cwd: string): Promise<{ failed: boolean; output: string }> {
  const depcruise = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
  const args = [depcruise, 'src', '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'err-long'];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd }, (err, stdout, stderr) => resolve({ failed: err !== null, output: stdout + stderr }));
  });
}

describe('the boundary check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-boundaries-'));
  const write = (file: string, text: string) => {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  };
  before(() => {
    cpSync(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    write('src/app/app.ts', 'export const app = 1;\n');
    write('src/tenant/tenant.ts', 'export const tenant = 1;\n');
    write('src/tenant/directory/directory.ts', "import { tenant } from '../tenant.ts';\nexport const directory = tenant;\n");
    write('src/platform/errors.ts', 'export const errors = 1;\n');
    write(
      'src/main.ts',
      "import { app } from './app/app.ts';\nimport { tenant } from './tenant/tenant.ts';\nimport { errors } from './platform/errors.ts';\nexport const all = [app, tenant, errors];\n",
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('passes the wiring at the top importing both halves', async () => {
    const result = await checkBoundaries(dir);
    assert.equal(result.failed, false, result.output);
  });

  const badImports: [string, string, string, RegExp][] = [
    [
      'app-imports-tenant',
      'src/app/bad.ts',
      "import { tenant } from '../tenant/tenant.ts';\nexport const bad = tenant;\n",
      /src\/app\/bad\.ts → src\/tenant\/tenant\.ts/,
    ],
    ['tenant-imports-app', 'src/tenant/bad.ts', "import { app } from '../app/app.ts';\nexport const bad = app;\n", /src\/tenant\/bad\.ts → src\/app\/app\.ts/],
    [
      'platform-imports-a-half',
      'src/platform/bad.ts',
      "import { app } from '../app/app.ts';\nexport const bad = app;\n",
      /src\/platform\/bad\.ts → src\/app\/app\.ts/,
    ],
    [
      'directory-imports-http',
      'src/tenant/directory/bad.ts',
      "import type { Request } from 'express';\nexport type Bad = Request;\n",
      /src\/tenant\/directory\/bad\.ts → \S*node_modules\/express\//,
    ],
    [
      'directory-imports-http',
      'src/tenant/directory/bad-http.ts',
      "import { STATUS_CODES } from 'node:http';\nexport const bad = STATUS_CODES;\n",
      /src\/tenant\/directory\/bad-http\.ts → http\b/,
    ],
  ];
  for (const [rule, file, text, named] of badImports) {
    it(`fails on ${file} (${rule}), naming the import`, async () => {
      write(file, text);
      try {
        const result = await checkBoundaries(dir);
        assert.equal(result.failed, true, result.output);
        assert.match(result.output, new RegExp(`error ${rule}: ${named.source}`));
      } finally {
        rmSync(join(dir, file));
      }
    });
  }
});
