// Package hostfiles is a joined host's file API: the host serves its nodes'
// files (read, list, delete) to control-plane replicas over mutual TLS with
// the installation's CA, and a replica reads them as a nodefiles.Source.
//
// The API is one path per operation under /files/v1/ (list, stat, read:
// GET; delete: DELETE) with the query parameters node, dir, name,
// recursive, offset and length. Answers are JSON (list: {"files": [Info]},
// stat: Info), the file's bytes (read) or 204 (delete); errors are
// nodeproto.Error bodies: 400 InvalidPath or InvalidRequest, 403
// NotServed, 404 NodeNotFound or FileNotFound, 409 IsDirectory.
package hostfiles
