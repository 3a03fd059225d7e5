// Updates a pool through the management plane (PATCH) with @azure/arm-batch.
// Input: {resourceGroup, account, pool, patch}; prints the pool.
"use strict";
const { BatchManagementClient } = require("@azure/arm-batch");
const { credential, armOptions, run } = require("./common");

run(async (input, ep) => {
  const c = new BatchManagementClient(credential(ep), ep.subscriptionId, armOptions(ep));
  return c.poolOperations.update(input.resourceGroup, input.account, input.pool, input.patch);
});
