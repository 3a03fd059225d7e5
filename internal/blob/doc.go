// Package blob is Cobalt's Blob Storage service: the subset of the Azure Blob
// REST API that Batch workloads and their tools use (containers, block and
// append blobs, blocks, listing, metadata, copy, leases, container ACL and
// public access, service properties, tiers, index tags, blob batch), served
// path-style as https://host:port/{account}/{container}/{blob} the way the
// Azurite emulator does for IP hosts.
//
// Accounts are the storage accounts of the management plane. Requests are
// authenticated with Microsoft Entra bearer tokens (then authorized through
// RBAC actions and data actions at the container's scope or above), with
// SharedKey using the account keys, with service and account SAS tokens signed
// with them, or with user delegation SAS tokens signed with a key obtained
// with a bearer token (which also carry the delegator's RBAC rights at use).
// A SharedKey request is signed over the escaped path as sent (package
// sharedkey) and must carry an x-ms-date or Date within 15 minutes of the
// server's clock, else 403 AuthenticationFailed.
//
// Blob bytes live in files under the data directory; the store holds the
// index. A write streams into a temporary file that is fsynced and renamed
// before the index commits, so a crash never exposes a partial blob. A blob is
// a list of extents (one file per Put Blob or per committed block), so Put
// Block List moves no bytes and reads stream the extents in order. Readers
// pin the files they stream, so an overwrite or delete removes them only once
// the read ends. Run collects abandoned temporary files, unreferenced data
// files and uncommitted blocks older than Config.BlockRetention.
//
// An Append Block writes its file first and adds it as the blob's next
// extent in one store transaction, so appends are crash-safe the same way.
// Copies (Copy Blob, Put Blob/Block From URL, Append Block From URL) read
// only blobs of this installation, authorized as a GET of the source URL
// would be, and write the bytes into a new data file: blobs never share
// files. Leases, tags, tiers and copy state live in the blob's record;
// lease expiry and breaking are computed from the clock at each read. A
// blob batch runs each subrequest through the whole service, with its own
// authentication and authorization.
package blob
