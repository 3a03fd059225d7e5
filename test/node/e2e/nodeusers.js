// Manages a node's users with @azure/batch 10.2.0 (api-version
// 2022-10-01.16.0) and SharedKey credentials, the key read with
// @azure/arm-batch from the account whose endpoint is input.endpoint.
// Input: {resourceGroup, endpoint, pool, node, action, user, password}.
// action "add": addUser (then updateUser to input.password), and prints
// {ip, port} from getRemoteLoginSettings and the node's extensions;
// "delete": deleteUser, then reimage; prints {}.
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
  if (input.action === "delete") {
    await c.computeNode.deleteUser(input.pool, input.node, input.user);
    await c.computeNode.reimage(input.pool, input.node, { nodeReimageOption: "requeue" });
    return {};
  }
  const expiryTime = new Date(Date.now() + 3600 * 1000);
  await c.computeNode.addUser(input.pool, input.node, { name: input.user, password: "first-" + input.password, isAdmin: false, expiryTime });
  await c.computeNode.updateUser(input.pool, input.node, input.user, { password: input.password, expiryTime });
  const rl = await c.computeNode.getRemoteLoginSettings(input.pool, input.node);
  const exts = [];
  for await (const x of await c.computeNodeExtension.list(input.pool, input.node)) exts.push(x);
  return { ip: rl.remoteLoginIPAddress, port: rl.remoteLoginPort, extensions: exts };
});
