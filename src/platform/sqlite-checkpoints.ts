import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';

/** The writer checkpoints only if the thread falls this far behind (pages; SQLite's default is 1,000). */
const FALLBACK_AUTOCHECKPOINT = 10_000;

export interface BackgroundCheckpoints {
  stop(): Promise<void>;
}

/**
 * Moves SQLite's WAL checkpoints off the thread that serves requests. By default the commit
 * that fills the WAL past 1,000 pages copies them into the database file and syncs both files
 * before answering: those commits are rare but take far longer than the rest (docs/performance.md),
 * and the event loop serves nothing meanwhile. A thread with its own
 * connection now checkpoints every `intervalMs` (PASSIVE: never in the way of readers or of the
 * writer); the writer still checkpoints itself if the thread ever falls far behind or stops.
 */
export function startBackgroundCheckpoints(writer: SQLite.Database, file: string, intervalMs = 100): BackgroundCheckpoints {
  writer.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT}`);
  const worker = new Worker(new URL('./sqlite-checkpoint-worker.mjs', import.meta.url), { workerData: { file, intervalMs } });
  worker.unref();
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', () => resolve());
  });
  // If the thread dies, the writer goes back to checkpointing itself.
  worker.once('error', () => {
    if (writer.open) writer.pragma('wal_autocheckpoint = 1000');
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const timeout = setTimeout(() => {
        void worker.terminate();
      }, 2_000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
