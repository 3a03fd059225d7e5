package errwire

// Batch error codes of request bodies (the Batch service's codes, which the
// Microsoft.Batch resource provider passes through).
const (
	// ReasonInvalidRequestBody: the body is not JSON, or a property has the wrong type.
	ReasonInvalidRequestBody = "InvalidRequestBody"
	// ReasonMissingRequiredProperty: a required property is absent.
	ReasonMissingRequiredProperty = "MissingRequiredProperty"
	// ReasonInvalidPropertyValue: a property has a value the service refuses.
	ReasonInvalidPropertyValue = "InvalidPropertyValue"
	// ReasonUnsupportedProperty: a property Cobalt (or current Batch) does not support.
	ReasonUnsupportedProperty = "UnsupportedProperty"
	// ReasonInvalidRequest: the request as a whole is not valid.
	ReasonInvalidRequest = "InvalidRequest"
)

// Batch error codes of accounts, pools and nodes.
const (
	// ReasonAccountNotFound: no Batch account has the name.
	ReasonAccountNotFound = "AccountNotFound"
	// ReasonAutoStorageNotConfigured: the account has no auto-storage account.
	ReasonAutoStorageNotConfigured = "AutoStorageNotConfigured"
	// ReasonPoolNotFound: the pool does not exist.
	ReasonPoolNotFound = "PoolNotFound"
	// ReasonPoolExists: a pool with the ID already exists.
	ReasonPoolExists = "PoolExists"
	// ReasonPoolBeingDeleted: the pool is being deleted.
	ReasonPoolBeingDeleted = "PoolBeingDeleted"
	// ReasonPoolNotSteady: the operation needs a pool whose allocation state is steady.
	ReasonPoolNotSteady = "PoolNotSteady"
	// ReasonPoolStopping: the pool's resize is already being stopped.
	ReasonPoolStopping = "PoolStopping"
	// ReasonAutoScalingEnabled: the operation is refused on an autoscale pool.
	ReasonAutoScalingEnabled = "AutoScalingEnabled"
	// ReasonAutoScalingNotEnabled: the operation needs an autoscale pool.
	ReasonAutoScalingNotEnabled = "AutoScalingNotEnabled"
	// ReasonNodeNotFound: the compute node does not exist.
	ReasonNodeNotFound = "NodeNotFound"
	// ReasonOperationInvalidForCurrentState: the resource's state does not allow the operation.
	ReasonOperationInvalidForCurrentState = "OperationInvalidForCurrentState"
	// ReasonConditionNotMet: an If-Match or If-None-Match precondition failed.
	ReasonConditionNotMet = "ConditionNotMet"
	// ReasonUnauthorized: the caller's credential is not valid.
	ReasonUnauthorized = "Unauthorized"
)

// Error codes of pool identities (the Microsoft.Batch resource provider's).
const (
	// ReasonMissingIdentityIds: a UserAssigned pool identity names no identity.
	ReasonMissingIdentityIds = "MissingIdentityIds"
	// ReasonInvalidUserAssignedIdentity: a named identity does not exist.
	ReasonInvalidUserAssignedIdentity = "InvalidUserAssignedIdentity"
)

// Error codes in a pool's resize errors and autoscale runs.
const (
	// CodeAccountCoreQuotaReached: the installation's node capacity is
	// exhausted, in the spirit of Batch's core quota errors.
	CodeAccountCoreQuotaReached = "AccountCoreQuotaReached"
	// CodeAllocationTimedOut: a resize outlasted its resizeTimeout (Batch's spelling).
	CodeAllocationTimedOut = "AllocationTimedout"
	// CodeNodeStartFailed: the node provider could not start a node.
	CodeNodeStartFailed = "NodeStartFailed"
	// CodeNodeHeartbeatLost: a node stopped reporting to the control plane.
	CodeNodeHeartbeatLost = "NodeHeartbeatLost"
	// CodeNodeRecoveryFailed: a node could not be restarted after the control plane restarted.
	CodeNodeRecoveryFailed = "NodeRecoveryFailed"
	// CodeAutoScalingFormulaSyntaxError: an autoscale formula does not parse.
	CodeAutoScalingFormulaSyntaxError = "AutoScalingFormulaSyntaxError"
	// CodeAutoScalingFormulaEvaluationError: an autoscale formula fails to evaluate.
	CodeAutoScalingFormulaEvaluationError = "AutoScalingFormulaEvaluationError"
)
