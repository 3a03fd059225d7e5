// Drives job schedules on a Cobalt Batch account with @azure/batch 10.2.0
// and SharedKey credentials: add (and a duplicate), get, list with paging,
// the job the schedule creates, and terminate. Prints one JSON object with
// what it saw on stdout.
//
// Environment: BATCH_URL, BATCH_ACCOUNT, BATCH_KEY (base64), POOL_ID;
// NODE_EXTRA_CA_CERTS for the test CA. On failure it prints the error on
// stderr and exits 2.
"use strict";

const { BatchServiceClient, BatchSharedKeyCredentials } = require("@azure/batch");

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const client = new BatchServiceClient(new BatchSharedKeyCredentials(env("BATCH_ACCOUNT"), env("BATCH_KEY")), env("BATCH_URL"));
  const poolId = env("POOL_ID");
  const out = {};

  const hourly = {
    id: "node-hourly",
    displayName: "Hourly",
    schedule: { recurrenceInterval: "PT1H", startWindow: "PT10M" },
    jobSpecification: { poolInfo: { poolId }, priority: 4 },
    metadata: [{ name: "k", value: "v" }],
  };
  await client.jobSchedule.add(hourly);
  try {
    await client.jobSchedule.add(hourly);
    out.duplicate = { statusCode: 201 };
  } catch (e) {
    out.duplicate = { statusCode: e.statusCode, code: e.code };
  }
  await client.jobSchedule.add({
    id: "node-later",
    schedule: { doNotRunUntil: new Date(Date.now() + 3600 * 1000) },
    jobSpecification: { poolInfo: { poolId } },
  });

  const got = await client.jobSchedule.get("node-hourly");
  out.get = {
    id: got.id,
    displayName: got.displayName,
    state: got.state,
    recurrenceInterval: got.schedule.recurrenceInterval,
    startWindow: got.schedule.startWindow,
    poolId: got.jobSpecification.poolInfo.poolId,
    priority: got.jobSpecification.priority,
    metadata: got.metadata,
    hasNextRunTime: !!(got.executionInfo && got.executionInfo.nextRunTime),
  };

  out.listed = [];
  let page = await client.jobSchedule.list({ jobScheduleListOptions: { maxResults: 1 } });
  for (;;) {
    for (const s of page) out.listed.push(s.id);
    if (!page.odatanextLink) break;
    page = await client.jobSchedule.listNext(page.odatanextLink);
  }

  // The service's sweep creates the schedule's first job.
  const deadline = Date.now() + 60000;
  let s = await client.jobSchedule.get("node-hourly");
  while (!(s.executionInfo && s.executionInfo.recentJob)) {
    if (Date.now() > deadline) throw new Error("the schedule created no job");
    await sleep(250);
    s = await client.jobSchedule.get("node-hourly");
  }
  out.recentJob = s.executionInfo.recentJob.id;
  out.recentJobState = (await client.job.get(out.recentJob)).state;

  await client.jobSchedule.terminate("node-hourly");
  const t = await client.jobSchedule.get("node-hourly");
  out.terminated = { state: t.state, hasEndTime: !!t.executionInfo.endTime };
  out.recentJobAfter = (await client.job.get(out.recentJob)).state;
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + "\n");
  process.exit(2);
});
