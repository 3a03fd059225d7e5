// Creates a Batch account and a pool through the management plane with
// @azure/arm-batch, the way the seed walkthrough does in the portal.
// Input: {resourceGroup, account, pool, location, poolBody}; prints {account, pool}.
"use strict";
const { BatchManagementClient } = require("@azure/arm-batch");
const { credential, armOptions, run } = require("./common");

run(async (input, ep) => {
  const c = new BatchManagementClient(credential(ep, input.clientId, input.clientSecret), ep.subscriptionId, armOptions(ep));
  const account = input.skipAccount
    ? await c.batchAccountOperations.get(input.resourceGroup, input.account)
    : await c.batchAccountOperations.beginCreateAndWait(input.resourceGroup, input.account,
        { location: input.location, autoStorage: input.autoStorage }, { updateIntervalInMs: 100 });
  const pool = await c.poolOperations.create(input.resourceGroup, input.account, input.pool, input.poolBody);
  return { account, pool };
});
