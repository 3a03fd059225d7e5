// Updates a pool through the management plane (PATCH) with @azure/arm-batch.
// Input: {resourceGroup, account, pool, patch}; prints {pool, warning} where
// warning is the response's HTTP Warning header (Cobalt's notice that an
// identity change does not reach existing nodes).
"use strict";
const { BatchManagementClient } = require("@azure/arm-batch");
const { credential, armOptions, run } = require("./common");

run(async (input, ep) => {
  const c = new BatchManagementClient(credential(ep), ep.subscriptionId, armOptions(ep));
  let warning = "";
  const pool = await c.poolOperations.update(input.resourceGroup, input.account, input.pool, input.patch, {
    onResponse: (raw) => { warning = raw.headers.get("warning") || ""; },
  });
  return { pool, warning };
});
