// Reads one blob with @azure/storage-blob at Azure's own URL,
// https://{account}.blob.core.windows.net, with no endpoint or cloud
// override, and the default ManagedIdentityCredential; prints its content.
//
//   COBALT_BLOB  account/container/blob
"use strict";
const { ManagedIdentityCredential } = require("@azure/identity");
const { BlobServiceClient } = require("@azure/storage-blob");

async function main() {
  const [account, container, ...rest] = process.env.COBALT_BLOB.split("/");
  const svc = new BlobServiceClient(`https://${account}.blob.core.windows.net`, new ManagedIdentityCredential());
  const buf = await svc.getContainerClient(container).getBlobClient(rest.join("/")).downloadToBuffer();
  process.stdout.write(buf);
}

main().catch((err) => {
  console.error(err && err.message ? err.message : err);
  process.exit(1);
});
