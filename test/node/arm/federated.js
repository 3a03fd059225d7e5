// Drives Cobalt's federated identity credentials with @azure/arm-msi and
// exchanges an external issuer's token with @azure/identity's
// ClientAssertionCredential: lists the provider's operations, creates a
// federated credential on an existing identity, gets and lists it, gets a
// token for the identity with the assertion, reads the identity with that
// token, deletes the credential and checks that the same assertion then
// fails. Prints a JSON summary on stdout.
//
// Environment: ARM_ENDPOINT, ARM_AUTHORITY_HOST, ARM_TENANT_ID,
// ARM_SUBSCRIPTION_ID, ARM_CLIENT_ID, ARM_CLIENT_SECRET (the admin),
// ARM_RESOURCE_GROUP, MI_NAME and MI_CLIENT_ID (the identity), FED_ISSUER,
// FED_SUBJECT and FED_ASSERTION (a token of that issuer for that subject);
// NODE_EXTRA_CA_CERTS for the test CA. On failure it prints the error on
// stderr and exits 2.
"use strict";

const { ClientSecretCredential, ClientAssertionCredential } = require("@azure/identity");
const { ManagedServiceIdentityClient } = require("@azure/arm-msi");

async function main() {
  const env = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
  };
  const idOpts = { authorityHost: env("ARM_AUTHORITY_HOST"), disableInstanceDiscovery: true, retryOptions: { maxRetries: 0 } };
  const clientOpts = {
    endpoint: env("ARM_ENDPOINT"),
    credentialScopes: ["https://management.azure.com/.default"],
    retryOptions: { maxRetries: 0 },
  };
  const admin = new ClientSecretCredential(env("ARM_TENANT_ID"), env("ARM_CLIENT_ID"), env("ARM_CLIENT_SECRET"), idOpts);
  const client = new ManagedServiceIdentityClient(admin, env("ARM_SUBSCRIPTION_ID"), clientOpts);
  const rg = env("ARM_RESOURCE_GROUP");
  const mi = env("MI_NAME");

  const operations = [];
  for await (const op of client.operations.list()) operations.push(op.name);

  const fics = client.federatedIdentityCredentials;
  const created = await fics.createOrUpdate(rg, mi, "nodefic", {
    issuer: env("FED_ISSUER"),
    subject: env("FED_SUBJECT"),
    audiences: ["api://AzureADTokenExchange"],
  });
  const got = await fics.get(rg, mi, "nodefic");
  const listed = [];
  for await (const f of fics.list(rg, mi)) listed.push(f.name);

  const assertion = () => Promise.resolve(env("FED_ASSERTION"));
  const federated = new ClientAssertionCredential(env("ARM_TENANT_ID"), env("MI_CLIENT_ID"), assertion, idOpts);
  const token = await federated.getToken("https://management.azure.com/.default");
  const asMI = new ManagedServiceIdentityClient(federated, env("ARM_SUBSCRIPTION_ID"), clientOpts);
  const self = await asMI.userAssignedIdentities.get(rg, mi);

  await fics.delete(rg, mi, "nodefic");
  let afterDelete = "";
  try {
    await new ClientAssertionCredential(env("ARM_TENANT_ID"), env("MI_CLIENT_ID"), assertion, idOpts).getToken(
      "https://management.azure.com/.default",
    );
    afterDelete = "token";
  } catch (e) {
    const m = /AADSTS\d+/.exec(String(e && e.message));
    afterDelete = m ? m[0] : String(e);
  }
  const payload = JSON.parse(Buffer.from(token.token.split(".")[1], "base64url").toString());
  process.stdout.write(
    JSON.stringify({
      operations,
      createdType: created.type,
      gotSubject: got.subject,
      listed,
      oid: payload.oid,
      appidacr: payload.appidacr,
      selfName: self.name,
      afterDelete,
    }),
  );
}

main().catch((e) => {
  process.stderr.write(String((e && (e.stack || e.message)) || e) + "\n");
  process.exit(2);
});
