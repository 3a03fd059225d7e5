// Drives job preparation and release tasks with @azure/batch 10.2.0 and
// SharedKey (the account's key from @azure/arm-batch) on a pool with real
// nodes: a job whose preparation task writes a mark on its node and whose
// tasks print it, the status list by node, the release task on terminate,
// and the 409 of a job without them.
// Input: {resourceGroup, account, accountEndpoint, pool}; prints what it saw.
"use strict";
const { BatchManagementClient } = require("@azure/arm-batch");
const { BatchServiceClient, BatchSharedKeyCredentials } = require("@azure/batch");
const { credential, armOptions, run } = require("./common");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function statuses(client, jobId) {
  const out = [];
  let page = await client.job.listPreparationAndReleaseTaskStatus(jobId, { jobListPreparationAndReleaseTaskStatusOptions: { maxResults: 1 } });
  for (;;) {
    out.push(...page);
    if (!page.odatanextLink) return out;
    page = await client.job.listPreparationAndReleaseTaskStatusNext(page.odatanextLink);
  }
}

run(async (input, ep) => {
  const arm = new BatchManagementClient(credential(ep), ep.subscriptionId, armOptions(ep));
  const keys = await arm.batchAccountOperations.getKeys(input.resourceGroup, input.account);
  const client = new BatchServiceClient(new BatchSharedKeyCredentials(input.account, keys.primary), "https://" + input.accountEndpoint);
  const out = {};

  await client.job.add({ id: "nodeplainprep", poolInfo: { poolId: input.pool } });
  try {
    await client.job.listPreparationAndReleaseTaskStatus("nodeplainprep");
    out.plain = { statusCode: 200 };
  } catch (e) {
    out.plain = { statusCode: e.statusCode, code: e.code };
  }

  const mark = '"$AZ_BATCH_NODE_SHARED_DIR/nodemark-$AZ_BATCH_JOB_ID"';
  await client.job.add({
    id: "nodeprep",
    poolInfo: { poolId: input.pool },
    jobPreparationTask: { id: "prep", commandLine: `/bin/sh -c 'echo $PREPVAR >> ${mark}'`, environmentSettings: [{ name: "PREPVAR", value: "ready" }] },
    jobReleaseTask: { commandLine: `/bin/sh -c 'rm ${mark}'`, maxWallClockTime: "PT5M" },
  });
  const job = await client.job.get("nodeprep");
  out.prep = { id: job.jobPreparationTask.id, waitForSuccess: job.jobPreparationTask.waitForSuccess };
  out.release = { id: job.jobReleaseTask.id, maxWallClockTime: job.jobReleaseTask.maxWallClockTime };
  await client.task.addCollection("nodeprep", [1, 2, 3, 4].map((i) => ({ id: `t${i}`, commandLine: `/bin/sh -c 'cat ${mark}'` })));
  const deadline = Date.now() + 120000;
  for (;;) {
    const counts = await client.job.getTaskCounts("nodeprep");
    if (counts.taskCounts.completed === 4) {
      out.succeeded = counts.taskCounts.succeeded;
      break;
    }
    if (Date.now() > deadline) throw new Error("the tasks did not complete");
    await sleep(200);
  }
  out.nodes = new Set();
  for (const i of [1, 2, 3, 4]) out.nodes.add((await client.task.get("nodeprep", `t${i}`)).nodeInfo.nodeId);
  out.nodes = out.nodes.size;
  out.statuses = (await statuses(client, "nodeprep")).map((s) => ({
    nodeId: s.nodeId,
    state: s.jobPreparationTaskExecutionInfo.state,
    result: s.jobPreparationTaskExecutionInfo.result,
    exitCode: s.jobPreparationTaskExecutionInfo.exitCode,
    dir: s.jobPreparationTaskExecutionInfo.taskRootDirectory,
  }));
  await client.job.terminate("nodeprep");
  for (;;) {
    const st = await statuses(client, "nodeprep");
    const done = st.filter((s) => s.jobReleaseTaskExecutionInfo && s.jobReleaseTaskExecutionInfo.state === "completed");
    if (done.length === st.length) {
      out.released = done.filter((s) => s.jobReleaseTaskExecutionInfo.result === "success").length;
      break;
    }
    if (Date.now() > deadline) throw new Error("the release tasks did not complete");
    await sleep(200);
  }
  return out;
});
