// Runs as a Batch task on a Cobalt node: the official @azure/storage-blob
// client, authenticated with @azure/identity's ManagedIdentityCredential (the
// node's identity endpoint, found in the environment the node gives tasks),
// creates a container, uploads, downloads, reads a range, lists with a prefix
// and a delimiter, and deletes. Environment: ACCOUNT_URL, CONTAINER.
"use strict";
const { BlobServiceClient } = require("@azure/storage-blob");
const { ManagedIdentityCredential } = require("@azure/identity");

async function main() {
  const svc = new BlobServiceClient(process.env.ACCOUNT_URL, new ManagedIdentityCredential());
  const cont = svc.getContainerClient(process.env.CONTAINER);
  await cont.create();
  const big = Buffer.alloc(6 * 1024 * 1024, 7);
  await cont.getBlockBlobClient("dir/small.txt").upload("node says hi", 12);
  await cont.getBlockBlobClient("dir/big.bin").uploadData(big, { blockSize: 1024 * 1024, maxSingleShotSize: 1024 * 1024 });
  const got = await cont.getBlobClient("dir/big.bin").downloadToBuffer();
  if (!got.equals(big)) throw new Error("downloaded bytes differ");
  const range = await cont.getBlobClient("dir/small.txt").downloadToBuffer(5, 4);
  if (range.toString() !== "says") throw new Error(`range read ${range}`);
  const names = [];
  for await (const item of cont.listBlobsByHierarchy("/", { prefix: "" })) names.push(item.name);
  if (names.join(",") !== "dir/") throw new Error(`hierarchical list ${names}`);
  const flat = [];
  for await (const b of cont.listBlobsFlat({ prefix: "dir/" })) flat.push(b.name);
  if (flat.join(",") !== "dir/big.bin,dir/small.txt") throw new Error(`flat list ${flat}`);
  await cont.getBlobClient("dir/small.txt").delete();
  await cont.delete();
  console.log("node blob ok");
}

main().catch((e) => { console.error(e); process.exit(1); });
