// Gets one token with @azure/identity's ManagedIdentityCredential and prints
// it on stdout. Run from test/node, one process per scenario (the credential's
// source and token cache are process-wide).
//
//   COBALT_MI_KIND  none | client | object | resource
//   COBALT_MI_ID    the client ID, object ID or resource ID
//   COBALT_MI_SCOPE the scope, for example https://management.azure.com/.default
"use strict";
const { ManagedIdentityCredential } = require("@azure/identity");

async function main() {
  const kind = process.env.COBALT_MI_KIND || "none";
  const id = process.env.COBALT_MI_ID;
  let cred;
  switch (kind) {
    case "client":
      cred = new ManagedIdentityCredential({ clientId: id });
      break;
    case "object":
      cred = new ManagedIdentityCredential({ objectId: id });
      break;
    case "resource":
      cred = new ManagedIdentityCredential({ resourceId: id });
      break;
    default:
      cred = new ManagedIdentityCredential();
  }
  const tok = await cred.getToken(process.env.COBALT_MI_SCOPE);
  if (!tok || !tok.token) {
    throw new Error("no token");
  }
  const left = tok.expiresOnTimestamp - Date.now();
  if (!(left > 60 * 1000)) {
    throw new Error("token expiry not parsed: expiresOnTimestamp " + tok.expiresOnTimestamp);
  }
  process.stdout.write(tok.token + "\n");
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + "\n");
  process.exit(3);
});
