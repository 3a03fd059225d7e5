// Drives task dependencies on a Cobalt Batch account with @azure/batch
// 10.2.0 and SharedKey credentials: a task with dependsOn on a job without
// usesTaskDependencies is refused; on a job with it, a diamond (a root, the
// middle tasks 1..N by taskIds, a sink by taskIdRanges, the sink added
// first) runs, and every task must start after its dependencies ended.
// Prints one JSON object with what it saw on stdout.
//
// Environment: BATCH_URL, BATCH_ACCOUNT, BATCH_KEY (base64), POOL_ID;
// NODE_EXTRA_CA_CERTS for the test CA. On failure it prints the error on
// stderr and exits 2.
"use strict";

const { BatchServiceClient, BatchSharedKeyCredentials } = require("@azure/batch");

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const client = new BatchServiceClient(new BatchSharedKeyCredentials(env("BATCH_ACCOUNT"), env("BATCH_KEY")), env("BATCH_URL"));
  const poolId = env("POOL_ID");
  const out = {};

  await client.job.add({ id: "nodeplain", poolInfo: { poolId } });
  try {
    await client.task.add("nodeplain", { id: "t", commandLine: "/bin/true", dependsOn: { taskIds: ["a"] } });
    out.plain = { statusCode: 201 };
  } catch (e) {
    out.plain = { statusCode: e.statusCode, code: e.code };
  }

  const middle = 30;
  await client.job.add({ id: "nodedag", poolInfo: { poolId }, usesTaskDependencies: true });
  out.usesTaskDependencies = (await client.job.get("nodedag")).usesTaskDependencies;
  const tasks = [{ id: "sink", commandLine: "/bin/true", dependsOn: { taskIdRanges: [{ start: 1, end: middle }] } }];
  for (let i = 1; i <= middle; i++) {
    tasks.push({
      id: String(i),
      commandLine: "/bin/true",
      dependsOn: { taskIds: ["root"] },
      exitConditions: { default: { dependencyAction: "block" } },
    });
  }
  const col = await client.task.addCollection("nodedag", tasks);
  out.added = col.value.filter((r) => r.status === "success").length;
  const sink = await client.task.get("nodedag", "sink");
  out.sinkState = sink.state;
  out.sinkDependsOn = sink.dependsOn;
  await client.task.add("nodedag", { id: "root", commandLine: "/bin/true" });
  await client.job.patch("nodedag", { onAllTasksComplete: "terminatejob" });

  const deadline = Date.now() + 120000;
  while ((await client.job.get("nodedag")).state !== "completed") {
    if (Date.now() > deadline) throw new Error("the job did not complete");
    await sleep(200);
  }
  const byId = {};
  for await (const t of pages(client, "nodedag")) byId[t.id] = t;
  out.completed = Object.values(byId).filter((t) => t.state === "completed" && t.executionInfo.result === "success").length;
  out.violations = [];
  const after = (id, dep) => {
    const s = new Date(byId[id].executionInfo.startTime).getTime();
    const e = new Date(byId[dep].executionInfo.endTime).getTime();
    if (s < e) out.violations.push(`${id} started before ${dep} ended`);
  };
  for (let i = 1; i <= middle; i++) {
    after(String(i), "root");
    after("sink", String(i));
  }
  process.stdout.write(JSON.stringify(out));
}

async function* pages(client, jobId) {
  let page = await client.task.list(jobId);
  for (;;) {
    yield* page;
    if (!page.odatanextLink) return;
    page = await client.task.listNext(page.odatanextLink);
  }
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + "\n");
  process.exit(2);
});
