// Drives Cobalt's ARM front door with @azure/arm-msi: creates a user-assigned
// identity in an existing resource group (twice: create, then update), gets
// it, lists it by resource group and subscription, updates its tags, deletes
// it, and checks that a get afterwards fails with 404. Prints a JSON summary
// on stdout.
//
// Environment: ARM_ENDPOINT (https://127.0.0.1:PORT), ARM_AUTHORITY_HOST,
// ARM_TENANT_ID, ARM_SUBSCRIPTION_ID, ARM_CLIENT_ID, ARM_CLIENT_SECRET,
// ARM_RESOURCE_GROUP; NODE_EXTRA_CA_CERTS for the test CA. On failure it
// prints the error on stderr and exits 2.
"use strict";

const { ClientSecretCredential } = require("@azure/identity");
const { ManagedServiceIdentityClient } = require("@azure/arm-msi");

async function main() {
  const env = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
  };
  const cred = new ClientSecretCredential(env("ARM_TENANT_ID"), env("ARM_CLIENT_ID"), env("ARM_CLIENT_SECRET"), {
    authorityHost: env("ARM_AUTHORITY_HOST"),
    disableInstanceDiscovery: true,
    retryOptions: { maxRetries: 0 },
  });
  const client = new ManagedServiceIdentityClient(cred, env("ARM_SUBSCRIPTION_ID"), {
    endpoint: env("ARM_ENDPOINT"),
    credentialScopes: ["https://management.azure.com/.default"],
    retryOptions: { maxRetries: 0 },
  });
  const rg = env("ARM_RESOURCE_GROUP");
  const ids = client.userAssignedIdentities;
  const created = await ids.createOrUpdate(rg, "nodeuami", { location: "eastus", tags: { from: "node" } });
  const again = await ids.createOrUpdate(rg, "nodeuami", { location: "eastus" });
  const got = await ids.get(rg, "nodeuami");
  const byGroup = [];
  for await (const i of ids.listByResourceGroup(rg)) byGroup.push(i.name);
  const bySub = [];
  for await (const i of ids.listBySubscription()) bySub.push(i.name);
  const updated = await ids.update(rg, "nodeuami", { tags: { k: "v" } });
  await ids.delete(rg, "nodeuami");
  let afterDelete = 0;
  try {
    await ids.get(rg, "nodeuami");
  } catch (e) {
    afterDelete = e.statusCode;
  }
  process.stdout.write(
    JSON.stringify({
      id: created.id,
      principalId: created.principalId,
      clientId: created.clientId,
      tenantId: created.tenantId,
      samePrincipal: again.principalId === created.principalId,
      gotName: got.name,
      byGroup,
      bySub,
      tags: updated.tags,
      afterDelete,
    }),
  );
}

main().catch((e) => {
  process.stderr.write(String((e && (e.stack || e.message)) || e) + "\n");
  process.exit(2);
});
