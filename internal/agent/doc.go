// Package agent is Cobalt's node agent: it runs on (or, with the host agent,
// for) one compute node and speaks the node protocol of internal/nodeproto
// to the control plane over HTTPS, as the client only: register, heartbeat,
// lease tasks (long poll), report results, fetch identity tokens. It runs
// the pool's start task and leased tasks through a TaskRunner and serves the
// node's Instance Metadata Service (internal/imds) in one of two isolation
// modes:
//
//   - netns (Linux, root; the default there): the node is a sandbox
//     (internal/sandbox): a per-node init in its own user, mount, PID, UTS,
//     IPC, network and cgroup namespaces, with its own root filesystem,
//     Batch's layout at /mnt/batch/tasks and cgroup limits from the VM size.
//     The init runs every task inside the node, downloads included; the
//     agent never starts a process per task. The node's network namespace
//     (only loopback) is attached under a name; IMDS listens inside it on
//     169.254.169.254:80 and every control-plane port is forwarded into it
//     on the same 127.0.0.1:PORT.
//   - process (non-root development only): tasks are host processes in the
//     host's trust domain, which the agent says once. IMDS listens on a
//     loopback port and answers only requests that carry the node's or a
//     task's secret (X-IDENTITY-HEADER); tasks get the App Service protocol
//     (IDENTITY_ENDPOINT/IDENTITY_HEADER) and
//     AZURE_POD_IDENTITY_AUTHORITY_HOST.
//
// Tokens come from a per-node cache over the node API, one entry per
// (identity, resource), refreshed at half-life. Each token the control plane
// issues is attributed to the task that asked when the agent can tell: in
// process mode by the per-task secret, in netns mode by the owner of the
// client socket inside the node's namespace.
//
// Nothing here ever binds or routes 169.254.169.254 outside a namespace
// Cobalt created. Namespaces are named cobalt-<pid>-<hash of node ID>; those
// whose creating process is gone are removed by SweepNamespaces (the host
// agent runs it at start).
package agent
