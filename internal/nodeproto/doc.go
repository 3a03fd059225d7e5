// Package nodeproto defines the wire protocol between a node agent and the
// control plane: HTTPS with JSON bodies, the agent always the client, so that a
// node never needs an inbound connection and an agent on another host speaks
// exactly what an in-process agent speaks.
//
// Every request carries "Authorization: Bearer <node credential>". The
// credential is an opaque random secret issued when the node is allocated,
// bound to one pool and one node, and stored only as a hash. The control plane
// derives the node's identity from the credential alone; the NodeID fields in
// the bodies are checked against it and never trusted on their own.
//
// Endpoints, all POST, under the control plane's node API base URL:
//
//	/nodeapi/v1/register   RegisterRequest  -> RegisterResponse
//	/nodeapi/v1/heartbeat  HeartbeatRequest -> HeartbeatResponse
//	/nodeapi/v1/lease      LeaseRequest     -> LeaseResponse      (long poll up to WaitSeconds)
//	/nodeapi/v1/report     ReportRequest    -> ReportResponse
//	/nodeapi/v1/reports    ReportsRequest   -> ReportsResponse    (reports, then leases without waiting)
//	/nodeapi/v1/token      TokenRequest     -> TokenResponse
//
// A job's preparation task travels in each TaskLease of the job's tasks
// (JobPreparation); the node runs it once per job instance and reports it
// with ReportRequest.JobTask set, and gives a lease back (event "released")
// when it failed and the job waits for its success. Release tasks come in
// HeartbeatResponse.JobReleases until the node reports one started. The
// control plane accepts such reports only for jobs of the node's pool, and a
// release only from a node that ran the preparation task.
//
// Errors are HTTP 4xx/5xx with an Error body. The agent maps token errors to
// the IMDS error format itself.
package nodeproto
