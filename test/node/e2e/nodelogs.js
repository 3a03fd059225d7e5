// Uploads a node's Batch service logs with @azure/batch 10.2.0 and
// SharedKey credentials, the key read with @azure/arm-batch from the account
// whose endpoint is input.endpoint.
// Input: {resourceGroup, endpoint, pool, node, containerUrl, startTime}
// (containerUrl with a SAS). Prints {virtualDirectoryName, numberOfFilesUploaded}.
"use strict";
const { BatchManagementClient } = require("@azure/arm-batch");
const { BatchServiceClient, BatchSharedKeyCredentials } = require("@azure/batch");
const { credential, armOptions, run } = require("./common");

run(async (input, ep) => {
  const arm = new BatchManagementClient(credential(ep), ep.subscriptionId, armOptions(ep));
  let account;
  for await (const a of arm.batchAccountOperations.listByResourceGroup(input.resourceGroup)) {
    if (a.accountEndpoint === input.endpoint) account = a;
  }
  if (!account) throw new Error(`no Batch account has the endpoint ${input.endpoint}`);
  const keys = await arm.batchAccountOperations.getKeys(input.resourceGroup, account.name);
  const c = new BatchServiceClient(new BatchSharedKeyCredentials(account.name, keys.primary), "https://" + input.endpoint);
  const r = await c.computeNode.uploadBatchServiceLogs(input.pool, input.node, {
    containerUrl: input.containerUrl, startTime: new Date(input.startTime),
  });
  return { virtualDirectoryName: r.virtualDirectoryName, numberOfFilesUploaded: r.numberOfFilesUploaded };
});
