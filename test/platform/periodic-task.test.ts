import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PeriodicTask } from '../../src/platform/periodic-task.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A run the test ends by hand, counting how many began. */
function heldRuns() {
  let began = 0;
  let release = () => {};
  const run = () => {
    began++;
    return new Promise<void>((resolve) => {
      release = resolve;
    });
  };
  return { run, began: () => began, release: () => release() };
}

describe('PeriodicTask', () => {
  it('stop() waits for the run under way, and no run begins after it', async () => {
    const runs = heldRuns();
    const task = new PeriodicTask(runs.run, 10);
    task.start({ now: true });
    assert.equal(runs.began(), 1);
    let stopped = false;
    const stopping = task.stop().then(() => {
      stopped = true;
    });
    await tick(30);
    assert.equal(stopped, false, 'stop() resolved while a run was under way');
    runs.release();
    await stopping;
    assert.equal(stopped, true);
    await tick(40);
    assert.equal(runs.began(), 1, 'a run began after stop()');
  });

  it('stop() gives up waiting for a run that never ends, so a shutdown cannot hang on it', async () => {
    const task = new PeriodicTask(() => new Promise<void>(() => {}), 5, 50);
    task.start({ now: true });
    const outcome = await Promise.race([task.stop().then(() => 'stopped'), tick(1_000).then(() => 'still waiting')]);
    assert.equal(outcome, 'stopped');
  });

  it('never starts a run while one is under way', async () => {
    const runs = heldRuns();
    const task = new PeriodicTask(runs.run, 5);
    task.start();
    await tick(60);
    assert.equal(runs.began(), 1);
    runs.release();
    await tick(40);
    assert.ok(runs.began() >= 2, 'the ticks go on once the run is over');
    runs.release();
    await task.stop();
  });

  it('goes on ticking after a run that fails', async () => {
    let runs = 0;
    const task = new PeriodicTask(async () => {
      runs++;
      throw new Error('the database is down');
    }, 5);
    task.start();
    await tick(60);
    await task.stop();
    assert.ok(runs >= 2, `${runs} runs`);
  });

  it('stops at once when nothing runs, and before it was started', async () => {
    await new PeriodicTask(async () => {}, 5).stop();
    const task = new PeriodicTask(async () => {}, 5);
    task.start();
    await task.stop();
  });
});
