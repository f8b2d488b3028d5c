/**
 * deploy/: containers cannot run here, so this checks what it can without them. The Dockerfile,
 * compose.yaml and the systemd unit set only settings that README or .env.example documents, and
 * run the commands that production-build.test.ts proves on a fresh checkout.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/processes.ts';
import { PRODUCTION_COMMANDS } from './production-commands.ts';

const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const dockerfile = read('deploy/Dockerfile');
const compose = read('deploy/compose.yaml');
const unit = read('deploy/accord@.service');
const readme = read('README.md');
const envExample = read('.env.example');
/** Documented: a line of .env.example sets it (commented out or not), or README names it in code. */
const isDocumented = (name: string) => new RegExp(`^(# ?)?${name}=`, 'm').test(envExample) || readme.includes(`\`${name}\``) || readme.includes(`${name}=`);
const ROLES = ['all', 'tenant', 'app'];

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(text: string): string[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** compose.yaml's services: their indented blocks by name. */
function services(text: string): Map<string, string> {
  const block = text.slice(text.indexOf('\nservices:\n'), text.indexOf('\nvolumes:\n'));
  const found = new Map<string, string>();
  for (const part of block.split(/\n(?= {2}[a-z][a-z-]*:\n)/).slice(1)) found.set(part.slice(2, part.indexOf(':')), part);
  return found;
}

/** The keys of a service's `environment:` map. */
function environmentKeys(service: string): string[] {
  const env = /\n {4}environment:[^\n]*\n((?: {6}[^\n]*\n)*)/.exec(`${service}\n`);
  return env ? [...env[1]!.matchAll(/^ {6}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!) : [];
}

describe('deploy/', () => {
  const composeServices = services(compose);
  const accordServices = [...composeServices].filter(([, text]) => text.includes('<<: *accord'));

  it('the Dockerfile builds with the production commands in one stage and runs as a non-root user in another', () => {
    const steps = instructions(dockerfile);
    assert.equal(steps.filter((s) => s.startsWith('FROM ')).length, 2);
    const runs = steps.filter((s) => s.startsWith('RUN ')).map((s) => s.slice(4));
    assert.ok(runs.includes(PRODUCTION_COMMANDS.install.join(' ')), 'npm ci --omit=dev');
    assert.ok(runs.includes(PRODUCTION_COMMANDS.build.join(' ')), 'npm run build');
    const runtime = steps.slice(steps.map((s) => s.startsWith('FROM ')).lastIndexOf(true));
    assert.deepEqual(JSON.parse(runtime.find((s) => s.startsWith('ENTRYPOINT '))!.slice('ENTRYPOINT '.length)), PRODUCTION_COMMANDS.start);
    const user = runtime.filter((s) => s.startsWith('USER ')).at(-1);
    assert.ok(user !== undefined && !/^USER (root|0)\b/.test(user), user);
    // dist/ finds its views and stylesheets beside it, as in the checkout.
    for (const dir of ['dist', 'views', 'public', 'bin'])
      assert.ok(
        runtime.some((s) => new RegExp(`^COPY .*\\b${dir} ${dir}$`).test(s)),
        dir,
      );
  });

  it('the Dockerfile copies files that exist', () => {
    for (const step of instructions(dockerfile).filter((s) => s.startsWith('COPY ') && !s.includes('--from='))) {
      for (const source of step.split(/\s+/).slice(1, -1)) assert.ok(existsSync(join(ROOT, source)), `${step}: ${source} is missing`);
    }
  });

  it('compose.yaml runs PostgreSQL, Redis, the tenant and the app, each half from the image with a role', () => {
    for (const name of ['postgres', 'redis', 'tenant', 'app']) assert.ok(composeServices.has(name), name);
    assert.match(compose, /dockerfile: deploy\/Dockerfile\n/);
    for (const [name, text] of accordServices) {
      const command = /\n {4}command: (\[.*\])\n/.exec(text);
      if (command) assert.ok(ROLES.includes(JSON.parse(command[1]!)[0]), `${name}: ${command[1]}`);
    }
    assert.match(composeServices.get('tenant')!, /command: \["tenant"\]/);
    assert.match(composeServices.get('app')!, /command: \["app"\]/);
    for (const name of ['postgres', 'redis', 'tenant', 'app']) assert.match(composeServices.get(name)!, /\n {4}healthcheck:\n/, name);
  });

  it('the systemd unit starts a role with the production start command', () => {
    const execStart = /^ExecStart=(.*)$/m.exec(unit)![1]!.split(' ');
    assert.equal(execStart[0]!.split('/').at(-1), PRODUCTION_COMMANDS.start[0]);
    assert.deepEqual(execStart.slice(1), [...PRODUCTION_COMMANDS.start.slice(1), '%i']);
    assert.match(unit, /^User=(?!root)\w+$/m);
    for (const command of [PRODUCTION_COMMANDS.install, PRODUCTION_COMMANDS.build]) assert.ok(unit.includes(command.join(' ')), command.join(' '));
  });

  it('names only settings that README or .env.example documents', () => {
    const settings = new Set<string>();
    for (const step of instructions(dockerfile).filter((s) => s.startsWith('ENV '))) {
      for (const m of step.matchAll(/([A-Z][A-Z0-9_]*)=/g)) settings.add(m[1]!);
    }
    for (const [, text] of accordServices) for (const key of environmentKeys(text)) settings.add(key);
    // Interpolated from deploy/.env: Accord's settings, but for the PostgreSQL image's own.
    const postgresKeys = environmentKeys(composeServices.get('postgres')!);
    for (const m of compose.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)) if (!postgresKeys.includes(m[1]!)) settings.add(m[1]!);
    for (const m of unit.matchAll(/^Environment=([A-Z][A-Z0-9_]*)=/gm)) settings.add(m[1]!);

    assert.ok(settings.size >= 15, [...settings].join(' '));
    const undocumented = [...settings].filter((name) => !isDocumented(name));
    assert.deepEqual(undocumented, []);
  });
});
