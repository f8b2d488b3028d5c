/**
 * Accord and its floor measured in alternating slices of one stretch of time. A floor measured
 * in its own stretch, minutes from Accord, saw the machine's speed drift by up to 2× between
 * phases of one run; slices a few seconds long, taken in turn (A F, F A, A F…: the order
 * reversed each round, so neither side always runs just after the other), let the drift fall
 * on both sides alike. Each side's figures are summed over its slices; the ratio of each
 * round's two slices shows how much drift there was.
 */

export type Side = 'accord' | 'floor';

/** The order of each round's two slices: Accord first in even rounds, the floor first in odd ones. */
export function sliceOrder(rounds: number): Array<[Side, Side]> {
  return Array.from({ length: rounds }, (_, round) => (round % 2 === 0 ? ['accord', 'floor'] : ['floor', 'accord']));
}

/** Runs `rounds` rounds of one slice a side, in sliceOrder; each side's results in round order. */
export async function alternate<T>(rounds: number, slice: (side: Side, round: number) => Promise<T>): Promise<Record<Side, T[]>> {
  const results: Record<Side, T[]> = { accord: [], floor: [] };
  for (const [round, order] of sliceOrder(rounds).entries()) {
    for (const side of order) results[side].push(await slice(side, round));
  }
  return results;
}

/** What one slice measured: units of work done (sign-ins, pages) in so many seconds. */
export interface SliceRate {
  count: number;
  seconds: number;
}

/** Units per second over all of a side's slices: their counts summed over their seconds summed. */
export function summedRate(slices: readonly SliceRate[]): number {
  const seconds = slices.reduce((n, s) => n + s.seconds, 0);
  return seconds > 0 ? slices.reduce((n, s) => n + s.count, 0) / seconds : Number.NaN;
}

/**
 * Each round's Accord ÷ floor by throughput (the floor's rate divided by `floorDivisor` first,
 * as a target may ask), and their least and greatest: how far the two sides' ratio moved
 * from one round to the next.
 */
export function roundRatios(accord: readonly SliceRate[], floor: readonly SliceRate[], floorDivisor = 1): { ratios: number[]; min: number; max: number } {
  const ratios = accord.slice(0, floor.length).map((a, i) => summedRate([a]) / (summedRate([floor[i]!]) / floorDivisor));
  const finite = ratios.filter(Number.isFinite);
  return { ratios, min: finite.length ? Math.min(...finite) : Number.NaN, max: finite.length ? Math.max(...finite) : Number.NaN };
}

/** "0.45–0.52 (0.47, 0.45, 0.52, 0.49, 0.50)": the rounds' ratios, for a reader to see the drift. */
export function formatRoundRatios({ ratios, min, max }: { ratios: number[]; min: number; max: number }): string {
  if (ratios.length === 0) return 'n/a';
  return `${min.toFixed(2)}–${max.toFixed(2)} (${ratios.map((r) => r.toFixed(2)).join(', ')})`;
}
