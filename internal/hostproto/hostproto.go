// Package hostproto is the host protocol: how a host agent (`cobalt host
// join`) joins the control plane and keeps its lease. It sits beside the
// node protocol (internal/nodeproto) on the node API listener; the host
// agent always calls, the control plane never connects to a host.
//
// Every message is JSON over HTTPS with the installation's CA. Errors are
// nodeproto.Error bodies with the HTTP status of their code.
//
//   - POST JoinPath, JoinRequest → JoinResponse. The one-time join token
//     (from `cobalt host token create`) in the body buys a host credential,
//     which the agent keeps in its data directory. A token is good for one
//     join before it expires; unknown, used and expired tokens are all 401.
//   - POST HeartbeatPath with "Authorization: Bearer CREDENTIAL",
//     HeartbeatRequest → HeartbeatResponse. It reports capacity and renews
//     the host's lease; the response lists the nodes placed on the host. A
//     revoked host's credential, or one that never was, is 401.
//   - POST NodeCredentialPath with the host credential,
//     NodeCredentialRequest → NodeCredentialResponse: the credential of a
//     node placed on the host, issued once, while the node is being
//     created; the host's agent keeps it and starts the node's sandbox with
//     it. A node of another host, one already issued and an unknown one are
//     all 404.
//
// One call goes the other way: a control-plane replica reads and deletes
// the files of a host's nodes through the host's file API
// (internal/hostfiles), at https://ADDRESS:FilesPort with ADDRESS the
// address the host joined with. Each side proves itself with a certificate
// of the installation's CA: the host with one for FilesServerName(hostID),
// issued in a heartbeat answer for a key the host keeps (FilesKey), the
// replica with a client certificate (the only kind the CA issues).
package hostproto

import "time"

// FilesPort is the port of a joined host's file API: just below the
// control plane's default --port-base, so that no listener of a control
// plane on the same machine takes it.
const FilesPort = 40399

// FilesCertLifetime is how long a host's file API certificate is valid; the
// host asks for a new one when less than a third of it is left.
const FilesCertLifetime = 30 * 24 * time.Hour

// FilesServerName is the one DNS name of a host's file API certificate: a
// name under .invalid, which no DNS resolves, so that it names no machine
// but the host that holds the certificate's key.
func FilesServerName(hostID string) string { return hostID + ".host.cobalt.invalid" }

// Paths of the host protocol on the node API listener.
const (
	JoinPath           = "/hosts/v1/join"
	HeartbeatPath      = "/hosts/v1/heartbeat"
	NodeCredentialPath = "/hosts/v1/node-credential"
)

// Capacity is what a host offers.
type Capacity struct {
	Cores       int   `json:"cores"`
	MemoryBytes int64 `json:"memoryBytes"`
	MaxNodes    int   `json:"maxNodes"`
}

// JoinRequest exchanges a join token for a host credential.
type JoinRequest struct {
	Token string `json:"token"`
	// Name is the host's name (its hostname).
	Name string `json:"name"`
	// Address is the address the host's nodes report as their ipAddress.
	Address  string   `json:"address"`
	Capacity Capacity `json:"capacity"`
}

// JoinResponse carries the host's identity and credential.
type JoinResponse struct {
	HostID string `json:"hostId"`
	// Credential is the host's bearer credential; the control plane keeps
	// only its hash.
	Credential string `json:"credential"`
	// HeartbeatSeconds is how often the agent should report; the lease
	// lasts LeaseSeconds from each report.
	HeartbeatSeconds int `json:"heartbeatSeconds"`
	LeaseSeconds     int `json:"leaseSeconds"`
}

// HeartbeatRequest renews the lease and reports capacity.
type HeartbeatRequest struct {
	Capacity Capacity `json:"capacity"`
	// Nodes are the IDs of the nodes the host runs.
	Nodes []string `json:"nodes,omitempty"`
	// FilesKey, when the host needs a file API certificate, is the PKIX DER
	// public key (ECDSA P-256) to certify.
	FilesKey []byte `json:"filesKey,omitempty"`
}

// HeartbeatResponse is the host's state and its nodes.
type HeartbeatResponse struct {
	HostID string `json:"hostId"`
	State  string `json:"state"`
	// Nodes are the nodes placed on the host; a node the host runs that is
	// not here was given up by the control plane and must be stopped.
	Nodes []Node `json:"nodes"`
	// FilesCertificate answers FilesKey: the DER certificate for
	// FilesServerName(HostID), signed by the installation's CA.
	FilesCertificate []byte `json:"filesCertificate,omitempty"`
}

// Node is one node placed on a host.
type Node struct {
	NodeID string `json:"nodeId"`
	PoolID string `json:"poolId"`
	State  string `json:"state"`
}

// MaxBody bounds every request body of the host protocol.
const MaxBody = 64 << 10

// MaxNodesReported bounds HeartbeatRequest.Nodes.
const MaxNodesReported = 4096

// NodeCredentialRequest asks for the credential of one of the host's nodes.
type NodeCredentialRequest struct {
	NodeID string `json:"nodeId"`
}

// NodeCredentialResponse is what the host needs to start the node.
type NodeCredentialResponse struct {
	NodeID      string `json:"nodeId"`
	PoolID      string `json:"poolId"`
	AccountName string `json:"accountName"`
	// Credential is the node's bearer credential for the node API.
	Credential string `json:"credential"`
}
