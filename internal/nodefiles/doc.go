// Package nodefiles reads, lists and deletes a compute node's files through
// os.Root, the one implementation behind the Batch file API on the control
// plane and on a joined host's file API.
package nodefiles
