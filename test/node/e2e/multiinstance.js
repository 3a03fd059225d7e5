// Drives a multi-instance task with @azure/batch 10.2.0 and SharedKey (the
// account's key from @azure/arm-batch) on a pool with inter-node
// communication: add with multiInstanceSettings, get it back, wait for it
// to complete, and list its subtasks.
// Input: {resourceGroup, account, accountEndpoint, job}; prints what it saw.
"use strict";
const { BatchManagementClient } = require("@azure/arm-batch");
const { BatchServiceClient, BatchSharedKeyCredentials } = require("@azure/batch");
const { credential, armOptions, run } = require("./common");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

run(async (input, ep) => {
  const arm = new BatchManagementClient(credential(ep), ep.subscriptionId, armOptions(ep));
  const keys = await arm.batchAccountOperations.getKeys(input.resourceGroup, input.account);
  const client = new BatchServiceClient(new BatchSharedKeyCredentials(input.account, keys.primary), "https://" + input.accountEndpoint);
  await client.task.add(input.job, {
    id: "nodemi",
    commandLine: "/bin/sh -c 'echo hosts=$AZ_BATCH_HOST_LIST'",
    multiInstanceSettings: { numberOfInstances: 2, coordinationCommandLine: "/bin/sh -c 'echo coordinated'" },
  });
  const added = await client.task.get(input.job, "nodemi");
  const deadline = Date.now() + 120000;
  let task;
  for (;;) {
    task = await client.task.get(input.job, "nodemi");
    if (task.state === "completed") break;
    if (Date.now() > deadline) throw new Error("the multi-instance task did not complete");
    await sleep(200);
  }
  const subtasks = await client.task.listSubtasks(input.job, "nodemi");
  return {
    settings: added.multiInstanceSettings,
    result: task.executionInfo.result,
    exitCode: task.executionInfo.exitCode,
    primary: task.nodeInfo.nodeId,
    subtasks: subtasks.value.map((s) => ({ id: s.id, state: s.state, result: s.result, nodeId: s.nodeInfo.nodeId, exitCode: s.exitCode })),
  };
});
