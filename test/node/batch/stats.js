// Reads a Cobalt Batch account's statistics with @azure/batch 10.2.0
// (api-version 2022-10-01.16.0) and SharedKey credentials: the lifetime job
// and pool statistics, the pool usage metrics, and a job with
// $expand=stats; then the status of GET /lifetimejobstats at an
// api-version that no longer has it. Prints one JSON object on stdout.
//
// Environment: BATCH_URL, BATCH_ACCOUNT, BATCH_KEY (base64), JOB_ID;
// NODE_EXTRA_CA_CERTS for the test CA. On failure it prints the error on
// stderr and exits 2.
"use strict";

const { BatchServiceClient, BatchSharedKeyCredentials } = require("@azure/batch");

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

async function main() {
  const creds = new BatchSharedKeyCredentials(env("BATCH_ACCOUNT"), env("BATCH_KEY"));
  const client = new BatchServiceClient(creds, env("BATCH_URL"));
  const out = {};
  const life = await client.job.getAllLifetimeStatistics();
  out.lifetime = {
    numSucceededTasks: life.numSucceededTasks, numFailedTasks: life.numFailedTasks,
    numTaskRetries: life.numTaskRetries, readIOps: life.readIOps, wallClockTime: life.wallClockTime,
  };
  const pool = await client.pool.getAllLifetimeStatistics();
  out.lifetimePool = { dedicatedCoreTime: pool.usageStats.dedicatedCoreTime };
  out.usage = [];
  for await (const m of await client.pool.listUsageMetrics()) {
    out.usage.push({ poolId: m.poolId, vmSize: m.vmSize, totalCoreHours: m.totalCoreHours });
  }
  const job = await client.job.get(env("JOB_ID"), { jobGetOptions: { expand: "stats" } });
  out.jobStats = { numSucceededTasks: job.stats.numSucceededTasks };

  // The lifetime statistics left the API in 2023-05-01.17.0.
  const req = new (require("@azure/ms-rest-js").WebResource)(
    env("BATCH_URL") + "/lifetimejobstats?api-version=2024-07-01.20.0", "GET");
  await creds.signRequest(req);
  const res = await client.sendRequest(req);
  out.newVersionStatus = res.status;
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(2);
});
