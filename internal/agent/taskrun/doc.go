// Package taskrun runs one start task or task on a compute node the way Azure
// Batch does on Linux: it downloads the resource files into the working
// directory (anonymously, with a SAS in the URL, or with a bearer token of a
// node identity), runs the command line with /bin/sh -c in the Batch
// directory layout (workitems/<job>/job-1/<task>/wd, stdout.txt and
// stderr.txt beside it), with the Batch environment variables, as the user
// the task's userIdentity selects, and kills the whole process group when
// maxWallClockTime runs out. The outcome is returned in Batch's terms: exit
// code, result, and failureInfo.
//
// Each attempt starts in a fresh task directory (removed and created again
// through an os.Root at the node root, so no link a task planted is
// followed), and the process runs in its own session.
//
// User identities: in a node sandbox the init sets Config.Credential to the
// node's own users (see internal/sandbox). Without it (process isolation),
// when the agent runs as root a non-admin auto user runs as the
// unprivileged account "_azbatch" if the host has one, else as "nobody"
// (uid 65534), and the task directory is handed to that user (if a
// directory above the node root is closed to other users, so that this user
// could not enter its working directory, the task runs as the agent's user
// and a warning is logged); an admin auto user runs as root. When the agent
// is not root it cannot change user, so every task runs as the agent's own
// user.
package taskrun
