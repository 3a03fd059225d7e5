// Gets a token with @azure/identity's ClientSecretCredential from Cobalt's
// login service and prints {"token": ..., "expiresOnTimestamp": ...} on stdout.
//
// Environment: LOGIN_AUTHORITY_HOST (https://127.0.0.1:PORT), LOGIN_TENANT_ID,
// LOGIN_CLIENT_ID, LOGIN_CLIENT_SECRET, LOGIN_SCOPE; NODE_EXTRA_CA_CERTS for
// the test CA. On failure it prints the error message on stderr and exits 2.
"use strict";

const { ClientSecretCredential } = require("@azure/identity");

async function main() {
  const env = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
  };
  const cred = new ClientSecretCredential(
    env("LOGIN_TENANT_ID"),
    env("LOGIN_CLIENT_ID"),
    env("LOGIN_CLIENT_SECRET"),
    { authorityHost: env("LOGIN_AUTHORITY_HOST"), disableInstanceDiscovery: true, retryOptions: { maxRetries: 0 } },
  );
  const t = await cred.getToken(env("LOGIN_SCOPE"));
  process.stdout.write(JSON.stringify({ token: t.token, expiresOnTimestamp: t.expiresOnTimestamp }));
}

main().catch((e) => {
  process.stderr.write(String((e && e.message) || e) + "\n");
  process.exit(2);
});
