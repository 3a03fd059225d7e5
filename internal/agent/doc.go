// Package agent is Cobalt's node agent: it runs on (or, with the local node
// provider, for) one compute node and speaks the node protocol of
// internal/nodeproto to the control plane over HTTPS, as the client only:
// register, heartbeat, lease tasks (long poll), report results, fetch
// identity tokens. It lays out the node's directories as Batch does, runs
// the pool's start task and leased tasks through a TaskRunner (JOBS'
// internal/agent/taskrun), and serves the node's Instance Metadata Service
// (internal/imds) in one of two isolation modes:
//
//   - netns (Linux, root; the default there): the node is its own network
//     namespace with only loopback; IMDS listens inside it on
//     169.254.169.254:80, every control-plane port is forwarded into it on
//     the same 127.0.0.1:PORT, and tasks run inside it.
//   - process: IMDS on a loopback port; tasks get the App Service protocol
//     (IDENTITY_ENDPOINT/IDENTITY_HEADER) and
//     AZURE_POD_IDENTITY_AUTHORITY_HOST.
//
// Tokens come from a per-node cache over the node API, one entry per
// (identity, resource), refreshed at half-life. Each token the control plane
// issues is attributed to the task that asked when the agent can tell: in
// process mode by the per-task IDENTITY_HEADER, in netns mode by the owner of
// the client socket inside the node's namespace.
//
// Nothing here ever binds or routes 169.254.169.254 outside a namespace the
// agent created. Namespaces are named cobalt-<pid>-<hash of node ID>; those
// whose creating process is gone are removed by SweepNamespaces (the local
// provider runs it at start).
package agent
