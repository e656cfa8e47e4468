// One graphile-worker process for bench/job_queue.py (benchmark-only, never part of the product).
//
//   node worker.mjs CONNECTION_STRING STAMP_FILE
//
// Settings: the batching preset of graphile-worker's performance page
// (https://worker.graphile.org/docs/performance) and its perfTest (perfTest/graphile.config.js,
// perfTest/run.js: `cli.js --once -j 24 -m 25`): concurrentJobs 24, maxPoolSize 25,
// localQueue { size: 500 }, completeJobBatchDelay 0, failJobBatchDelay 0, prepared statements
// on (the default). BENCH_GW_* override them for tuning runs.
//
// Protocol (as the Python workers): connect, warm the pool and install the schema, print
// "ready"; the first stdin line starts the worker, the second stops it gracefully.
import { appendFileSync } from "node:fs";
import { createInterface } from "node:readline";
import pg from "pg";
import { Logger, run, runMigrations } from "graphile-worker";

const [connectionString, stampFile] = process.argv.slice(2);
const env = (name, fallback) => Number(process.env[name] ?? fallback);
const concurrentJobs = env("BENCH_GW_CONCURRENCY", 24);
const maxPoolSize = env("BENCH_GW_MAX_POOL", concurrentJobs + 1);
const preset = {
  worker: {
    concurrentJobs,
    maxPoolSize,
    preparedStatements: true,
    localQueue: { size: env("BENCH_GW_LOCAL_QUEUE", 500) },
    completeJobBatchDelay: env("BENCH_GW_BATCH_DELAY", 0),
    failJobBatchDelay: env("BENCH_GW_BATCH_DELAY", 0),
  },
};
// Success lines would fill the stdout pipe nobody reads after "ready": warnings and errors only.
const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") process.stderr.write(`graphile ${level}: ${message}\n`);
});
const taskList = {
  noop: async () => {},
  // The handler's own wall-clock time stamp, in seconds (the bench compares it with time.time()).
  stamp: async (payload) => {
    appendFileSync(stampFile, `${payload.i} ${(performance.timeOrigin + performance.now()) / 1000}\n`);
  },
};

const pgPool = new pg.Pool({ connectionString, max: maxPoolSize });
pgPool.on("error", (e) => process.stderr.write(`graphile pool error: ${e.message}\n`));
pgPool.on("connect", (client) => client.on("error", (e) => process.stderr.write(`graphile client error: ${e.message}\n`)));
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

await runMigrations({ pgPool, logger });
// Open every connection of the pool before the clock starts, as the Python workers do.
const clients = await Promise.all(Array.from({ length: maxPoolSize }, () => pgPool.connect()));
clients.forEach((c) => c.release());
process.stdout.write("ready\n");

await lines.next();
const runner = await run({ pgPool, logger, taskList, preset, noHandleSignals: true });
await lines.next();
await runner.stop();
await pgPool.end();
