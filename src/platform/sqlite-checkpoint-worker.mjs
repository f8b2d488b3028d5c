// The thread started by startBackgroundCheckpoints (sqlite-checkpoints.ts): a connection of its
// own that only checkpoints. Plain JavaScript: worker threads start without the TypeScript loader.
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

const { file, intervalMs } = workerData;
const sqlite = new SQLite(file);
// The checkpoint's syncs follow this connection's setting: the same as the writer's.
sqlite.pragma('synchronous = NORMAL');
const timer = setInterval(() => {
  sqlite.pragma('wal_checkpoint(PASSIVE)');
}, intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  sqlite.close();
  parentPort.close();
});
