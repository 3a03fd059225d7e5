// Package batchapi serves the Azure Batch service data plane: the REST API that
// azbatch (Go), @azure/batch (Node) and the other official Batch clients call
// at a Batch account's accountEndpoint.
//
// # Endpoints
//
// @azure/batch cannot use a base path in its batchUrl (it replaces the
// operation path with it), so every Batch account is served at the root of its
// own host:port. [Service] implements the EndpointAllocator that the pools
// service calls when an account is created: it opens one TLS listener per
// account on 127.0.0.1, from Config.PortBase upward (or on a random port when
// PortBase is 0), and returns "127.0.0.1:PORT", which the pools service stores
// as the account's accountEndpoint. No separate table keeps the port: on
// start, [Service.Run] lists the existing accounts through [Accounts] and
// listens again on the port inside each stored endpoint, so a restart keeps
// every endpoint stable when the port is free. Everything that arrives on a
// listener is routed to that listener's account.
//
// # Protocol
//
// Accepted api-versions are those the official clients send (2024-07-01.20.0
// from azbatch v0.1.0, 2022-10-01.16.0 from @azure/batch 10.2.0) and the newest
// stable one (2025-06-01.21.0); see [SupportedAPIVersions]. Requests
// authenticate with SharedKey (every documented client variant of the
// string-to-sign is accepted) or an Entra bearer token for
// https://batch.core.windows.net/; bearer callers are then authorized through
// RBAC on the account exactly as Azure does: pool and node operations need the
// actions Microsoft.Batch/batchAccounts/pools/{read,write,delete}, job, task
// and task file operations the data actions
// Microsoft.Batch/batchAccounts/jobs/{read,write,delete};
// Microsoft.Batch/batchAccounts/read grants every read and
// Microsoft.Batch/batchAccounts/listKeys/action (which Owner and Contributor
// hold through "*") grants everything, as the Batch RBAC documentation says.
//
// Errors use Batch's body ({"odata.metadata", "code", "message":{"lang","value"},
// "values"}) with Content-Type application/json;odata=minimalmetadata and the
// x-ms-error-code header.
//
// An account whose allowedAuthenticationModes lacks "SharedKey" or "AAD"
// refuses that mode. Account lookups (with the keys) are cached for 2 s.
//
// Lists page with an absolute odata.nextLink that repeats the request's query
// (api-version included) with a $skiptoken; $filter accepts eq/ne, and/or/not,
// parentheses and startswith on the properties each list names (state, id,
// ...), and anything else is 400 InvalidQueryParameterValue.
//
// # Behaviour worth knowing
//
//   - GetTaskFile with ocp-range answers 200 with the requested slice (and a
//     Content-Range header): azbatch accepts exactly 200 there. A plain HTTP
//     Range header gets the usual 206.
//   - Autoscale is served by the pool service: enableautoscale stores the
//     formula and evaluates it at once (the evaluation interval is 5 minutes
//     to 168 hours, default 15 minutes), and the pool service evaluates it
//     again at each interval; disableautoscale returns the pool to fixed
//     targets. evaluateautoscale evaluates a formula without applying it and
//     answers 409 AutoScalingNotEnabled on a pool that is not autoscaled, as
//     Batch does. Formulas support the language's arithmetic core and the
//     node-count service variables; metric samples ($PendingTasks.GetSample
//     and the like) are an evaluation error that names them (see
//     batch.EvaluateFormula). Only when the pool service offers no autoscale
//     does enable/evaluate answer 409 OperationInvalidForCurrentState with
//     values Reason AutoScaleNotSupported.
//   - enablescheduling and disablescheduling are served: a node whose
//     scheduling is disabled takes no new tasks (a lease request it already
//     has waiting ends within half a second) and shows state "offline" while
//     idle; its running tasks finish whatever nodeDisableSchedulingOption
//     says. Node reboot is served; reimage, start and deallocate answer 409
//     OperationInvalidForCurrentState (Reason OperationNotSupported).
//   - Pool usage metrics, applications, job preparation/release status and
//     subtasks are empty lists; job schedules and certificates are 400 InvalidUri.
//   - A node's identity set is shown as the read-only extension property
//     "identities" ([{resourceId, clientId, principalId}]) on nodes, next to
//     the standard properties; clients ignore unknown properties.
//   - Task and node files are served from the node's directory on this host
//     (the pool service's node root), through os.Root: neither ".." nor a
//     symbolic link reaches outside it. File contentLength is a JSON string.
package batchapi
