// Drives a Cobalt Batch account with @azure/batch 10.2.0 and SharedKey
// credentials: reads the pool, adds a job, a task and a task collection,
// waits until they complete, pages through the tasks with a filter, reads a
// task's stdout.txt (whole and by ocp-range), its properties and its file
// list, lists the pool's nodes and checks a 404. Prints one JSON object with
// what it saw on stdout.
//
// Environment: BATCH_URL (https://127.0.0.1:PORT, the account endpoint at a
// host root), BATCH_ACCOUNT, BATCH_KEY (base64), POOL_ID, JOB_ID;
// NODE_EXTRA_CA_CERTS for the test CA. On failure it prints the error on
// stderr and exits 2.
"use strict";

const { BatchServiceClient, BatchSharedKeyCredentials } = require("@azure/batch");

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const streamToString = (s) =>
  new Promise((resolve, reject) => {
    const chunks = [];
    s.on("data", (c) => chunks.push(Buffer.from(c)));
    s.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    s.on("error", reject);
  });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const client = new BatchServiceClient(new BatchSharedKeyCredentials(env("BATCH_ACCOUNT"), env("BATCH_KEY")), env("BATCH_URL"));
  const poolId = env("POOL_ID");
  const jobId = env("JOB_ID");
  const out = {};

  const pool = await client.pool.get(poolId);
  out.poolState = pool.state;
  out.poolExists = (await client.pool.exists(poolId)).body;

  // onAllTasksComplete is set by a patch after the last add, as Batch
  // recommends: set at add, the job could complete between two adds.
  await client.job.add({ id: jobId, poolInfo: { poolId } });
  await client.task.add(jobId, { id: "t1", commandLine: "/bin/sh -c 'echo hi; printf 0123456789 > out.txt'" });
  const col = await client.task.addCollection(jobId, [
    { id: "t2", commandLine: "/bin/true" },
    { id: "t3", commandLine: "/bin/true" },
    { id: "t1", commandLine: "/bin/true" },
  ]);
  out.collection = col.value.map((r) => ({ taskId: r.taskId, status: r.status, code: r.error && r.error.code }));
  await client.job.patch(jobId, { onAllTasksComplete: "terminatejob" });

  const deadline = Date.now() + 120000;
  for (;;) {
    const c = await client.job.getTaskCounts(jobId);
    if (c.taskCounts.completed === 3) {
      out.taskCounts = c.taskCounts;
      break;
    }
    if (Date.now() > deadline) throw new Error("tasks did not complete: " + JSON.stringify(c.taskCounts));
    await sleep(200);
  }

  const ids = [];
  let page = await client.task.list(jobId, { taskListOptions: { filter: "state eq 'completed'", maxResults: 2 } });
  for (;;) {
    for (const t of page) ids.push(t.id);
    if (!page.odatanextLink) break;
    page = await client.task.listNext(page.odatanextLink);
  }
  out.listedTasks = ids.sort();

  const t1 = await client.task.get(jobId, "t1");
  out.t1 = { state: t1.state, exitCode: t1.executionInfo && t1.executionInfo.exitCode, nodeId: t1.nodeInfo && t1.nodeInfo.nodeId };

  const f = await client.file.getFromTask(jobId, "t1", "stdout.txt");
  out.stdout = await streamToString(f.readableStreamBody);
  const fr = await client.file.getFromTask(jobId, "t1", "wd/out.txt", { fileGetFromTaskOptions: { ocpRange: "bytes=0-3" } });
  out.range = await streamToString(fr.readableStreamBody);
  const props = await client.file.getPropertiesFromTask(jobId, "t1", "wd/out.txt");
  out.props = { contentLength: props.contentLength, isDirectory: props.ocpBatchFileIsdirectory, mode: props.ocpBatchFileMode };
  const files = await client.file.listFromTask(jobId, "t1", { recursive: true });
  out.files = files.map((x) => x.name + (x.isDirectory ? "/" : "")).sort();

  const nodes = await client.computeNode.list(poolId);
  out.nodes = nodes.map((n) => ({ id: n.id, state: n.state }));

  for (;;) {
    const job = await client.job.get(jobId);
    out.jobState = job.state;
    if (job.state === "completed" || Date.now() > deadline) break;
    await sleep(200);
  }

  try {
    await client.task.get(jobId, "nope");
    out.missing = "found";
  } catch (e) {
    out.missing = { statusCode: e.statusCode, code: e.code };
  }

  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String((e && (e.stack || e.message)) || e) + (e && e.body ? "\n" + JSON.stringify(e.body) : "") + "\n");
  process.exit(2);
});
