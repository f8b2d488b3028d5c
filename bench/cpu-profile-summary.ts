/**
 * Where a server's CPU went: summarises `.cpuprofile` files (written by `node --cpu-prof`, e.g.
 * LOGIN_BENCH_NODE_ARGS or APP_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof") by self
 * time per package (node_modules/<name>), per file of Accord's own code (src/…), and for
 * Node's internals, the garbage collector and idle time; then the top functions.
 *
 *   npx tsx bench/cpu-profile-summary.ts /tmp/prof/*.cpuprofile [--per=<count>] [--top=<n>]
 *
 * `--per=<count>` divides the busy time by a count of work units (sign-ins, requests) so the
 * table reads as µs per unit; `--skip=<seconds>` leaves out the start of each profile (start-up,
 * module loading, key generation, the warm-up), or `--last=<seconds>` keeps only the end of
 * each (the measured phase), so only the measured load counts. When the measured phase sits in
 * the middle of a run (the app bench's /profile load, between its sign-ins and its side
 * measurements), `--timeline` prints the busy share of each second of each profile, and
 * `--window=<from>,<to>` (seconds from the profile's start) keeps only that stretch.
 * A third table charges each sample to the innermost frame of Accord's own code on its stack
 * (a package's time spent for a call of Accord's, e.g. Kysely running a directory query, goes
 * to the directory's function), and samples with no Accord frame to the package at the root.
 * Profiling slows a process: compare shares, not absolute times.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The bucket of a frame: a package, a file of Accord's, or one of V8's pseudo-frames. */
function bucketOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return `pkg ${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  const bench = url.indexOf('/bench/');
  if (bench >= 0) return url.slice(bench + 1);
  return url.replace(/^file:\/\//, '');
}

/** Self time in µs per bucket and per function, over any number of profiles. */
function summarise(
  profiles: CpuProfile[],
  skipMicros = 0,
  lastMicros = 0,
  window?: [number, number],
): { buckets: Map<string, number>; functions: Map<string, number>; callers: Map<string, number>; total: number; idle: number } {
  const buckets = new Map<string, number>();
  const functions = new Map<string, number>();
  const callers = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parents = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
    const callerOf = new Map<number, string>();
    const accordCaller = (id: number): string => {
      const known = callerOf.get(id);
      if (known !== undefined) return known;
      let outermost = '(no frame)';
      for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
        const frame = byId.get(at)!.callFrame;
        const bucket = bucketOf(frame);
        if (bucket.startsWith('src/')) {
          outermost = `${frame.functionName || '(anonymous)'} ${bucket}:${frame.lineNumber + 1}`;
          break;
        }
        if (frame.url) outermost = `(outside Accord's code) ${bucket}`;
      }
      callerOf.set(id, outermost);
      return outermost;
    };
    const duration = profile.timeDeltas.reduce((n, d) => n + d, 0);
    const from = window ? window[0] : lastMicros > 0 ? duration - lastMicros : skipMicros;
    const to = window ? window[1] : Number.POSITIVE_INFINITY;
    let elapsed = 0;
    profile.samples.forEach((id, i) => {
      const node = byId.get(id);
      const micros = profile.timeDeltas[i] ?? 0;
      elapsed += micros;
      if (!node || elapsed < from || elapsed > to) return;
      if (node.callFrame.functionName === '(idle)') {
        idle += micros;
        return;
      }
      total += micros;
      const bucket = bucketOf(node.callFrame);
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + micros);
      const fn = `${node.callFrame.functionName || '(anonymous)'} ${bucket}:${node.callFrame.lineNumber + 1}`;
      functions.set(fn, (functions.get(fn) ?? 0) + micros);
      const caller = accordCaller(node.id);
      callers.set(caller, (callers.get(caller) ?? 0) + micros);
    });
  }
  return { buckets, functions, callers, total, idle };
}

/** Busy share of each second of a profile: where a measured phase starts and ends. */
function timeline(profile: CpuProfile): string {
  const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const busy: number[] = [];
  let elapsed = 0;
  profile.samples.forEach((id, i) => {
    const micros = profile.timeDeltas[i] ?? 0;
    elapsed += micros;
    const second = Math.floor(elapsed / 1e6);
    busy[second] = (busy[second] ?? 0) + (idleIds.has(id) ? 0 : micros);
  });
  return Array.from(busy, (b, s) => `${s}s ${Math.round((b ?? 0) / 1e4)}%`).join('  ');
}

function main(): void {
  const args = process.argv.slice(2);
  const files = args.filter((a) => !a.startsWith('--'));
  const per = Number(args.find((a) => a.startsWith('--per='))?.slice(6) ?? 0);
  const top = Number(args.find((a) => a.startsWith('--top='))?.slice(6) ?? 25);
  const skip = Number(args.find((a) => a.startsWith('--skip='))?.slice(7) ?? 0);
  const last = Number(args.find((a) => a.startsWith('--last='))?.slice(7) ?? 0);
  const windowArg = args.find((a) => a.startsWith('--window='))?.slice(9);
  const window = windowArg ? (windowArg.split(',').map((s) => Number(s) * 1e6) as [number, number]) : undefined;
  if (files.length === 0)
    throw new Error(
      'usage: cpu-profile-summary.ts <file.cpuprofile>… [--per=<count>] [--top=<n>] [--skip=<s> | --last=<s> | --window=<from>,<to>] [--timeline]',
    );
  const profiles = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile);
  if (args.includes('--timeline')) {
    for (const [i, f] of files.entries()) console.log(`${f}:\n  ${timeline(profiles[i]!)}`);
    return;
  }
  const { buckets, functions, callers, total, idle } = summarise(profiles, skip * 1e6, last * 1e6, window);
  const line = (label: string, micros: number) => {
    const share = `${((micros / total) * 100).toFixed(1)}%`.padStart(6);
    const unit = per > 0 ? `  ${(micros / per).toFixed(1).padStart(8)} µs/unit` : '';
    return `${share}${unit}  ${label}`;
  };
  console.log(
    `busy ${(total / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s${per > 0 ? `, ${(total / per).toFixed(1)} µs busy per unit (${per} units)` : ''}`,
  );
  console.log('\nself time by package / file:');
  for (const [label, micros] of [...buckets].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(line(label, micros));
  console.log(`\ntop ${top} functions by self time:`);
  for (const [label, micros] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(line(label, micros));
  console.log(`\ntop ${top} by the innermost function of Accord's code on the stack:`);
  for (const [label, micros] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(line(label, micros));
}

main();
