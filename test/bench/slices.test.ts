import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alternate, formatRoundRatios, roundRatios, sliceOrder, summedRate } from '../../bench/slices.ts';

describe('alternating slices (Accord and its floor in one stretch of time)', () => {
  it('reverses the order every round', () => {
    assert.deepEqual(sliceOrder(3), [
      ['accord', 'floor'],
      ['floor', 'accord'],
      ['accord', 'floor'],
    ]);
    assert.deepEqual(sliceOrder(0), []);
  });

  it('runs the slices one at a time, in that order, and returns each side’s in round order', async () => {
    const ran: string[] = [];
    let running = 0;
    const results = await alternate(4, async (side, round) => {
      running++;
      assert.equal(running, 1, 'two slices at once');
      await new Promise((resolve) => setTimeout(resolve, 1));
      ran.push(`${side}${round}`);
      running--;
      return round;
    });
    assert.deepEqual(ran, ['accord0', 'floor0', 'floor1', 'accord1', 'accord2', 'floor2', 'floor3', 'accord3']);
    assert.deepEqual(results, { accord: [0, 1, 2, 3], floor: [0, 1, 2, 3] });
  });

  it('sums counts and seconds over the slices, not the slices’ rates', () => {
    // 100 in 1 s and 100 in 3 s: 50/s, where the mean of the rates would say 66.7/s.
    assert.equal(
      summedRate([
        { count: 100, seconds: 1 },
        { count: 100, seconds: 3 },
      ]),
      50,
    );
    assert.ok(Number.isNaN(summedRate([])));
  });

  it('gives each round’s ratio, the floor divided as the target asks, and their spread', () => {
    const accord = [
      { count: 40, seconds: 2 },
      { count: 60, seconds: 2 },
    ];
    const floor = [
      { count: 100, seconds: 2 },
      { count: 100, seconds: 2.5 },
    ];
    const byRound = roundRatios(accord, floor);
    assert.deepEqual(byRound.ratios, [0.4, 0.75]);
    assert.equal(byRound.min, 0.4);
    assert.equal(byRound.max, 0.75);
    assert.deepEqual(roundRatios(accord, floor, 2).ratios, [0.8, 1.5]);
    assert.equal(formatRoundRatios(byRound), '0.40–0.75 (0.40, 0.75)');
    assert.equal(formatRoundRatios(roundRatios([], [])), 'n/a');
  });
});
