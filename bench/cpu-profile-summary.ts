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
 * each (the measured phase), so only the measured load counts. Profiling slows a process: compare shares, not absolute times.
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
): { buckets: Map<string, number>; functions: Map<string, number>; total: number; idle: number } {
  const buckets = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const duration = profile.timeDeltas.reduce((n, d) => n + d, 0);
    const from = lastMicros > 0 ? duration - lastMicros : skipMicros;
    let elapsed = 0;
    profile.samples.forEach((id, i) => {
      const node = byId.get(id);
      const micros = profile.timeDeltas[i] ?? 0;
      elapsed += micros;
      if (!node || elapsed < from) return;
      if (node.callFrame.functionName === '(idle)') {
        idle += micros;
        return;
      }
      total += micros;
      const bucket = bucketOf(node.callFrame);
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + micros);
      const fn = `${node.callFrame.functionName || '(anonymous)'} ${bucket}:${node.callFrame.lineNumber + 1}`;
      functions.set(fn, (functions.get(fn) ?? 0) + micros);
    });
  }
  return { buckets, functions, total, idle };
}

function main(): void {
  const args = process.argv.slice(2);
  const files = args.filter((a) => !a.startsWith('--'));
  const per = Number(args.find((a) => a.startsWith('--per='))?.slice(6) ?? 0);
  const top = Number(args.find((a) => a.startsWith('--top='))?.slice(6) ?? 25);
  const skip = Number(args.find((a) => a.startsWith('--skip='))?.slice(7) ?? 0);
  const last = Number(args.find((a) => a.startsWith('--last='))?.slice(7) ?? 0);
  if (files.length === 0) throw new Error('usage: cpu-profile-summary.ts <file.cpuprofile>… [--per=<count>] [--top=<n>]');
  const { buckets, functions, total, idle } = summarise(
    files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile),
    skip * 1e6,
    last * 1e6,
  );
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
}

main();
