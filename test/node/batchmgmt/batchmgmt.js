// Drives Cobalt's Microsoft.Batch provider with @azure/arm-batch 9.1.0:
// creates a Batch account (long-running), reads and regenerates its keys,
// creates a pool with a user-assigned identity, updates its identities,
// gets and lists it, checks that a Reader cannot create a pool and that a
// Contributor without the identity's assign action gets
// LinkedAuthorizationFailed, deletes the pool (long-running) and the account.
// Prints a JSON summary on stdout.
//
// Environment: ARM_ENDPOINT, ARM_AUTHORITY_HOST, ARM_TENANT_ID,
// ARM_SUBSCRIPTION_ID, ARM_RESOURCE_GROUP, ADMIN_ID/ADMIN_SECRET,
// READER_ID/READER_SECRET, CONTRIB_ID/CONTRIB_SECRET, UAMI1, UAMI2;
// NODE_EXTRA_CA_CERTS for the test CA. On failure it prints the error on
// stderr and exits 2.
"use strict";

const { ClientSecretCredential } = require("@azure/identity");
const { BatchManagementClient } = require("@azure/arm-batch");

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

function client(idVar, secretVar) {
  const cred = new ClientSecretCredential(env("ARM_TENANT_ID"), env(idVar), env(secretVar), {
    authorityHost: env("ARM_AUTHORITY_HOST"),
    disableInstanceDiscovery: true,
    retryOptions: { maxRetries: 0 },
  });
  return new BatchManagementClient(cred, env("ARM_SUBSCRIPTION_ID"), {
    endpoint: env("ARM_ENDPOINT"),
    credentialScopes: ["https://management.azure.com/.default"],
    retryOptions: { maxRetries: 0 },
  });
}

function poolParams(identities, dedicated) {
  const p = {
    vmSize: "STANDARD_D2S_V3",
    deploymentConfiguration: {
      virtualMachineConfiguration: {
        imageReference: { publisher: "canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
        nodeAgentSkuId: "batch.node.ubuntu 24.04",
      },
    },
    scaleSettings: { fixedScale: { targetDedicatedNodes: dedicated } },
    taskSlotsPerNode: 2,
    taskSchedulingPolicy: { nodeFillType: "Pack" },
    startTask: {
      commandLine: "/bin/sh -c 'echo hello'",
      waitForSuccess: true,
      userIdentity: { autoUser: { scope: "Pool", elevationLevel: "NonAdmin" } },
    },
    metadata: [{ name: "owner", value: "node" }],
  };
  if (identities) {
    const u = {};
    for (const id of identities) u[id] = {};
    p.identity = { type: "UserAssigned", userAssignedIdentities: u };
  }
  return p;
}

async function failure(promise) {
  try {
    await promise;
    return { statusCode: 0, code: "" };
  } catch (e) {
    return { statusCode: e.statusCode, code: e.code };
  }
}

async function main() {
  const rg = env("ARM_RESOURCE_GROUP");
  const uami1 = env("UAMI1");
  const uami2 = env("UAMI2");
  const admin = client("ADMIN_ID", "ADMIN_SECRET");
  const acct = await admin.batchAccountOperations.beginCreateAndWait(rg, "nodeacct", {
    location: "eastus",
    tags: { from: "node" },
  });
  const got = await admin.batchAccountOperations.get(rg, "nodeacct");
  const keys = await admin.batchAccountOperations.getKeys(rg, "nodeacct");
  const regen = await admin.batchAccountOperations.regenerateKey(rg, "nodeacct", { keyName: "Primary" });
  const accounts = [];
  for await (const a of admin.batchAccountOperations.listByResourceGroup(rg)) accounts.push(a.name);

  const pools = admin.poolOperations;
  const created = await pools.create(rg, "nodeacct", "pool1", poolParams([uami1], 1));
  const again = await pools.create(rg, "nodeacct", "pool1", poolParams([uami1], 1));
  const updated = await pools.update(rg, "nodeacct", "pool1", { identity: { type: "UserAssigned", userAssignedIdentities: { [uami2]: {} } } });
  const fetched = await pools.get(rg, "nodeacct", "pool1");
  const listed = [];
  for await (const p of pools.listByBatchAccount(rg, "nodeacct")) listed.push(p.name);
  const stopped = await pools.stopResize(rg, "nodeacct", "pool1");

  const reader = await failure(client("READER_ID", "READER_SECRET").poolOperations.create(rg, "nodeacct", "pool2", poolParams(null, 0)));
  const contrib = client("CONTRIB_ID", "CONTRIB_SECRET");
  const linked = await failure(contrib.poolOperations.create(rg, "nodeacct", "pool3", poolParams([uami1], 0)));
  const plain = await contrib.poolOperations.create(rg, "nodeacct", "pool3", poolParams(null, 0));

  await pools.beginDeleteAndWait(rg, "nodeacct", "pool1");
  const afterDelete = await failure(pools.get(rg, "nodeacct", "pool1"));
  await admin.batchAccountOperations.beginDeleteAndWait(rg, "nodeacct");
  const acctAfterDelete = await failure(admin.batchAccountOperations.get(rg, "nodeacct"));

  const ids = (p) =>
    Object.fromEntries(Object.entries((p.identity && p.identity.userAssignedIdentities) || {}).map(([k, v]) => [k, v]));
  process.stdout.write(
    JSON.stringify({
      accountEndpoint: acct.accountEndpoint,
      accountState: got.provisioningState,
      accountTags: got.tags,
      keysAccount: keys.accountName,
      keyChanged: regen.primary !== keys.primary && regen.secondary === keys.secondary,
      accounts,
      created: {
        id: created.id,
        type: created.type,
        etag: created.etag,
        identities: ids(created),
        allocationState: created.allocationState,
        vmSize: created.vmSize,
        taskSlotsPerNode: created.taskSlotsPerNode,
        nodeFillType: created.taskSchedulingPolicy && created.taskSchedulingPolicy.nodeFillType,
        startTask: created.startTask && created.startTask.commandLine,
        target: created.scaleSettings && created.scaleSettings.fixedScale && created.scaleSettings.fixedScale.targetDedicatedNodes,
      },
      againSameIdentity: JSON.stringify(ids(again)) === JSON.stringify(ids(created)),
      updatedIdentities: ids(updated),
      updatedMetadata: updated.metadata,
      fetchedIdentities: ids(fetched),
      listed,
      stoppedState: stopped.allocationState,
      reader,
      linked,
      plainName: plain.name,
      afterDelete,
      acctAfterDelete,
    }),
  );
}

main().catch((e) => {
  process.stderr.write(String((e && (e.stack || e.message)) || e) + "\n");
  if (e && e.response) process.stderr.write(String(e.response.bodyAsText) + "\n");
  process.exit(2);
});
