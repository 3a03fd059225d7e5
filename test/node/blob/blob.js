// Exercises Cobalt's blob service with the official @azure/storage-blob client.
// Run from test/node by internal/blob's Go tests (inside a loopback-only
// network namespace): node blob/blob.js <mode>
//   mode "sharedkey": the full scenario with StorageSharedKeyCredential, plus SAS URLs
//   mode "token":     the full scenario with ClientSecretCredential
//   mode "reader":    reads succeed, writes must fail with 403 AuthorizationPermissionMismatch
//   mode "nobody":    every call must fail with 403 AuthorizationPermissionMismatch
//   mode "large":     upload a LARGE_MIB MiB file in blocks (uploadFile), download it (downloadToFile), compare SHA-256
//   mode "features":  copy (async, sync, from URL), append blobs, leases and index tags with the account key
// Environment: ACCOUNT_URL, ACCOUNT, ACCOUNT_KEY, TENANT_ID, CLIENT_ID, CLIENT_SECRET,
// AUTHORITY_HOST, CONTAINER; NODE_EXTRA_CA_CERTS for the test CA.
"use strict";
const crypto = require("node:crypto");
const {
  BlobServiceClient, ContainerClient, StorageSharedKeyCredential,
  generateBlobSASQueryParameters, generateAccountSASQueryParameters,
  ContainerSASPermissions, AccountSASPermissions, AccountSASResourceTypes, AccountSASServices,
} = require("@azure/storage-blob");
const { ClientSecretCredential } = require("@azure/identity");

const env = process.env;
const mode = process.argv[2];
const cont = env.CONTAINER;

function fail(msg) {
  console.error("FAIL: " + msg);
  process.exit(1);
}
function check(cond, msg) {
  if (!cond) fail(msg);
}
async function expectCode(promise, code, what) {
  try {
    await promise;
  } catch (e) {
    const got = e.details?.errorCode || e.code;
    check(got === code && e.statusCode === 403, `${what}: got ${e.statusCode} ${got}, want 403 ${code}`);
    return;
  }
  fail(`${what}: succeeded, want ${code}`);
}

// Deterministic data: SHA-256 chained blocks.
function data(n, seed) {
  const out = Buffer.alloc(n);
  let h = Buffer.from(seed);
  for (let off = 0; off < n; off += 32) {
    h = crypto.createHash("sha256").update(h).digest();
    h.copy(out, off, 0, Math.min(32, n - off));
  }
  return out;
}
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

// writeFile streams n deterministic bytes (an AES-CTR keystream) to p, 1 MiB
// at a time, and returns their SHA-256.
async function writeFile(p, n) {
  const out = fs.createWriteStream(p);
  const h = crypto.createHash("sha256");
  const ks = crypto.createCipheriv("aes-128-ctr", Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(1 << 20);
  for (let off = 0; off < n; off += 1 << 20) {
    const chunk = ks.update(zeros.subarray(0, Math.min(1 << 20, n - off)));
    h.update(chunk);
    if (!out.write(chunk)) await new Promise((r) => out.once("drain", r));
  }
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
  return h.digest("hex");
}

async function fileSHA(p) {
  const h = crypto.createHash("sha256");
  for await (const chunk of fs.createReadStream(p)) h.update(chunk);
  return h.digest("hex");
}

async function large(svc) {
  const n = Number(env.LARGE_MIB) * 1024 * 1024;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cobalt-blob-"));
  try {
    const src = path.join(dir, "src.bin"), dst = path.join(dir, "dst.bin");
    const want = await writeFile(src, n);
    const cc = svc.getContainerClient(cont);
    await cc.create();
    const bb = cc.getBlockBlobClient("large.bin");
    await bb.uploadFile(src, { blockSize: 8 * 1024 * 1024, concurrency: 4 });
    const bl = await bb.getBlockList("committed");
    check(bl.committedBlocks.length === Math.ceil(n / (8 * 1024 * 1024)), "committed blocks " + bl.committedBlocks.length);
    await bb.downloadToFile(dst);
    check((await fileSHA(dst)) === want, "downloaded large blob differs");
    await cc.delete();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const sha = (b) => crypto.createHash("sha256").update(b).digest("hex");
const opts = { retryOptions: { maxTries: 1 } };

function service() {
  if (mode === "sharedkey" || mode === "large" || mode === "features") {
    return new BlobServiceClient(env.ACCOUNT_URL, new StorageSharedKeyCredential(env.ACCOUNT, env.ACCOUNT_KEY), opts);
  }
  const cred = new ClientSecretCredential(env.TENANT_ID, env.CLIENT_ID, env.CLIENT_SECRET, {
    authorityHost: env.AUTHORITY_HOST, disableInstanceDiscovery: true,
  });
  return new BlobServiceClient(env.ACCOUNT_URL, cred, opts);
}

async function scenario(svc) {
  const cc = svc.getContainerClient(cont);
  await cc.create({ metadata: { team: "node" } });
  for (const name of ["in/a.txt", "in/b.txt", "in/sub/c.txt", "out/d.txt"]) {
    const body = Buffer.from("hello " + name);
    await cc.getBlockBlobClient(name).upload(body, body.length, { blobHTTPHeaders: { blobContentType: "text/plain" } });
  }
  // Multi-block upload: 5 MiB in 1 MiB blocks.
  const big = data(5 * 1024 * 1024 + 333, "node");
  await cc.getBlockBlobClient("in/big.bin").uploadData(big, { blockSize: 1024 * 1024, maxSingleShotSize: 1024 * 1024, concurrency: 3 });
  const bl = await cc.getBlockBlobClient("in/big.bin").getBlockList("committed");
  check(bl.committedBlocks.length === 6, "committed blocks " + bl.committedBlocks.length);
  const down = await cc.getBlobClient("in/big.bin").downloadToBuffer();
  check(sha(down) === sha(big), "downloaded content differs");
  const part = await cc.getBlobClient("in/big.bin").downloadToBuffer(1024 * 1024 - 5, 100);
  check(part.equals(big.subarray(1024 * 1024 - 5, 1024 * 1024 + 95)), "range read differs");
  const props = await cc.getBlobClient("in/a.txt").getProperties();
  check(props.contentLength === "hello in/a.txt".length && props.contentType === "text/plain" && props.blobType === "BlockBlob", "properties " + JSON.stringify(props));
  await cc.getBlobClient("in/a.txt").setMetadata({ k: "v" });
  const p2 = await cc.getBlobClient("in/a.txt").getProperties();
  check(p2.metadata.k === "v" && p2.etag !== props.etag, "metadata " + JSON.stringify(p2.metadata));

  const flat = [];
  for await (const page of cc.listBlobsFlat({ prefix: "in/" }).byPage({ maxPageSize: 2 })) {
    for (const b of page.segment.blobItems) flat.push(b.name);
  }
  check(JSON.stringify(flat) === JSON.stringify(["in/a.txt", "in/b.txt", "in/big.bin", "in/sub/c.txt"]), "flat " + flat);
  const blobs = [], prefixes = [];
  for await (const item of cc.listBlobsByHierarchy("/", { prefix: "in/" })) {
    if (item.kind === "prefix") prefixes.push(item.name); else blobs.push(item.name);
  }
  check(JSON.stringify(blobs) === JSON.stringify(["in/a.txt", "in/b.txt", "in/big.bin"]) && JSON.stringify(prefixes) === JSON.stringify(["in/sub/"]),
    "hierarchy " + blobs + " | " + prefixes);
  const conts = [];
  for await (const c of svc.listContainers({ prefix: cont })) conts.push(c.name);
  check(conts.includes(cont), "containers " + conts);

  await cc.getBlobClient("in/a.txt").delete();
  check(!(await cc.getBlobClient("in/a.txt").exists()), "deleted blob still exists");
  return cc;
}

async function sasChecks(svc) {
  const cred = new StorageSharedKeyCredential(env.ACCOUNT, env.ACCOUNT_KEY);
  const expiresOn = new Date(Date.now() + 3600 * 1000);
  for (const version of [undefined, "2019-12-12", "2018-03-28"]) {
    const q = generateBlobSASQueryParameters({ containerName: cont, permissions: ContainerSASPermissions.parse("rl"), expiresOn, version }, cred).toString();
    const cc = new ContainerClient(`${env.ACCOUNT_URL}/${cont}?${q}`, undefined, opts);
    const buf = await cc.getBlobClient("in/b.txt").downloadToBuffer();
    check(buf.toString() === "hello in/b.txt", `SAS ${version} download`);
    await expectCode(cc.getBlockBlobClient("x.txt").upload("x", 1), "AuthorizationPermissionMismatch", `SAS ${version} upload`);
  }
  const aq = generateAccountSASQueryParameters({
    expiresOn, permissions: AccountSASPermissions.parse("rwlc"), resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
    services: AccountSASServices.parse("b").toString(),
  }, cred).toString();
  const asvc = new BlobServiceClient(`${env.ACCOUNT_URL}?${aq}`, undefined, opts);
  await asvc.getContainerClient(cont).getBlockBlobClient("via-account-sas.txt").upload("y", 1);
}

async function expectErr(promise, status, code, what) {
  try {
    await promise;
  } catch (e) {
    const got = e.details?.errorCode || e.code;
    check(got === code && e.statusCode === status, `${what}: got ${e.statusCode} ${got}, want ${status} ${code}`);
    return;
  }
  fail(`${what}: succeeded, want ${code}`);
}

async function features(svc) {
  const cc = svc.getContainerClient(cont);
  await cc.create();
  const src = cc.getBlockBlobClient("src.txt");
  await src.upload("hello copy", 10, { blobHTTPHeaders: { blobContentType: "text/plain" }, metadata: { origin: "node" } });

  // Copy: Copy Blob through the poller, Copy Blob From URL, Put Blob From URL.
  const poller = await cc.getBlobClient("async.txt").beginCopyFromURL(src.url);
  const done = await poller.pollUntilDone();
  check(done.copyStatus === "success" && done.copyId, "async copy " + JSON.stringify(done));
  const ap = await cc.getBlobClient("async.txt").getProperties();
  check(ap.copyStatus === "success" && ap.copySource === src.url && ap.copyProgress === "10/10" && ap.metadata.origin === "node", "copy properties " + JSON.stringify(ap));
  const sync = await cc.getBlobClient("sync.txt").syncCopyFromURL(src.url);
  check(sync.copyStatus === "success", "sync copy " + sync.copyStatus);
  await cc.getBlockBlobClient("fromurl.txt").syncUploadFromURL(src.url);
  for (const n of ["async.txt", "sync.txt", "fromurl.txt"]) {
    check((await cc.getBlobClient(n).downloadToBuffer()).toString() === "hello copy", n + " content");
  }
  await expectErr(cc.getBlobClient("outside.txt").syncCopyFromURL("https://example.com/acct1/x/y"), 403, "CannotVerifyCopySource", "copy from outside");

  // Append blobs.
  const ab = cc.getAppendBlobClient("log.txt");
  await ab.create();
  await ab.appendBlock("abc", 3);
  const r = await ab.appendBlock("def", 3, { conditions: { appendPosition: 3 } });
  check(r.blobAppendOffset === "3" && r.blobCommittedBlockCount === 2, "append " + JSON.stringify(r));
  await expectErr(ab.appendBlock("x", 1, { conditions: { appendPosition: 1 } }), 412, "AppendPositionConditionNotMet", "append position");
  check((await ab.downloadToBuffer()).toString() === "abcdef", "append content");
  check((await ab.getProperties()).blobType === "AppendBlob", "append blob type");

  // Leases.
  const lc = src.getBlobLeaseClient();
  const l = await lc.acquireLease(15);
  check(l.leaseId === lc.leaseId, "lease id");
  await expectErr(src.upload("x", 1), 412, "LeaseIdMissing", "write without the lease");
  await src.upload("leased write", 12, { conditions: { leaseId: lc.leaseId } });
  let p = await src.getProperties();
  check(p.leaseState === "leased" && p.leaseStatus === "locked" && p.leaseDuration === "fixed", "lease properties " + p.leaseState);
  await lc.renewLease();
  const b = await lc.breakLease(0);
  check(b.leaseTime === 0, "break time " + b.leaseTime);
  p = await src.getProperties();
  check(p.leaseState === "broken", "broken " + p.leaseState);
  await src.upload("free again", 10);

  // Index tags.
  await src.setTags({ project: "cobalt", stage: "2" });
  const t = await src.getTags();
  check(t.tags.project === "cobalt" && t.tags.stage === "2", "tags " + JSON.stringify(t.tags));
  const found = [];
  for await (const item of svc.findBlobsByTags(`project='cobalt' AND stage>='1'`)) found.push(item.containerName + "/" + item.name);
  check(JSON.stringify(found) === JSON.stringify([cont + "/src.txt"]), "found " + found);
  await cc.delete();
}

async function main() {
  const svc = service();
  switch (mode) {
    case "sharedkey": {
      const cc = await scenario(svc);
      await sasChecks(svc);
      await cc.delete();
      break;
    }
    case "token": {
      const cc = await scenario(svc);
      // A user delegation SAS signed with a key obtained with the token.
      const now = Date.now();
      const udk = await svc.getUserDelegationKey(new Date(now - 60000), new Date(now + 3600000));
      for (const version of [undefined, "2025-07-05", "2020-12-06", "2020-02-10"]) {
        const q = generateBlobSASQueryParameters({ containerName: cont, permissions: ContainerSASPermissions.parse("rl"),
          expiresOn: new Date(now + 3600000), version }, udk, env.ACCOUNT).toString();
        const sc = new ContainerClient(`${env.ACCOUNT_URL}/${cont}?${q}`, undefined, opts);
        const buf = await sc.getBlobClient("in/b.txt").downloadToBuffer();
        check(buf.toString() === "hello in/b.txt", `user delegation SAS ${version} download`);
        await expectCode(sc.getBlockBlobClient("x.txt").upload("x", 1), "AuthorizationPermissionMismatch", `UD SAS ${version} upload`);
      }
      await cc.delete();
      break;
    }
    case "reader": {
      const cc = svc.getContainerClient(cont);
      const buf = await cc.getBlobClient("f.txt").downloadToBuffer();
      check(buf.toString() === "data", "reader download");
      for await (const _ of cc.listBlobsFlat()) { /* listing works */ }
      await expectCode(cc.getBlockBlobClient("g.txt").upload("x", 1), "AuthorizationPermissionMismatch", "reader upload");
      await expectCode(cc.getBlobClient("f.txt").delete(), "AuthorizationPermissionMismatch", "reader delete");
      break;
    }
    case "nobody": {
      const cc = svc.getContainerClient(cont);
      await expectCode(cc.getBlobClient("f.txt").downloadToBuffer(), "AuthorizationPermissionMismatch", "nobody download");
      await expectCode(cc.getBlockBlobClient("g.txt").upload("x", 1), "AuthorizationPermissionMismatch", "nobody upload");
      break;
    }
    case "large":
      await large(svc);
      break;
    case "features":
      await features(svc);
      break;
    default:
      fail("unknown mode " + mode);
  }
  console.log("OK " + mode);
}

main().catch((e) => fail((e.statusCode || "") + " " + (e.details?.errorCode || "") + " " + (e.stack || e)));
