// Package sandbox makes a compute node a sandbox on Linux: a per-node init
// process, started by re-executing the running binary, in its own user
// namespace (node root is an unprivileged host uid range, one per node), mount
// namespace with its own root filesystem (read-only binds of the host's
// system directories, whose read-only flag the kernel locks; private, sized
// tmpfs /tmp, /home, /run, /var and /dev; the node's directory at
// /mnt/batch/tasks), and PID, UTS, IPC, network and cgroup namespaces, with
// cgroup limits from the node's VM size where the host allows. The init and
// every task get session keyrings of their own, none of the host's.
//
// The host side (Start) starts the init, places it in its cgroups and talks
// to it over a socketpair with a small length-prefixed JSON protocol. A
// Spawner, when the host has one, forks the init from its own small process
// instead of the host's (its protocol is in spawnproto.go). The
// init runs start tasks and tasks inside the node: it prepares each task's
// directory afresh, downloads resource files through the node's own network
// namespace, and spawns the command as the task's user in its own session.
// Everything the init sends is untrusted input to the host side: an admin
// task is root of the node and may take the init over.
//
// A binary that starts sandboxed nodes must call Main first thing in main
// (and in TestMain of every test package that starts sandboxed nodes), the
// way docker's reexec works: when the process was started as a node init or
// a spawner, Main runs it and never returns.
package sandbox
