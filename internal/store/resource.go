package store

import (
	"context"
	"time"
)

// Resource is a stored management-plane (ARM) resource of any type. The
// resource provider that owns the type owns the meaning of Body.
type Resource struct {
	// ID is the resource ID in the case it was created with.
	ID string
	// Key is the ID folded to lower case (cobalt.ResourceID.Key); the primary key.
	Key string
	// Type is the full resource type in lower case, for example
	// "microsoft.managedidentity/userassignedidentities".
	Type string
	// ParentKey is the Key of the enclosing scope: the resource group for a
	// top-level resource, the parent resource for a child resource.
	ParentKey string
	// SubscriptionID and ResourceGroup are lower case ("" when not applicable).
	SubscriptionID string
	ResourceGroup  string
	// UniqueName, when not empty, is a name no other resource of the same
	// Type may have anywhere in the installation (a storage account's name:
	// its blob endpoint and its data are known by it). Fixed at creation.
	UniqueName string
	// Body is the resource's JSON as its provider stores it.
	Body []byte
	// Version increases on every write; it is the resource's ETag.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ResourceListParams selects resources. Every non-empty field must match.
type ResourceListParams struct {
	// Type is the full resource type (compared case-insensitively).
	Type string
	// SubscriptionID and ResourceGroup restrict the list to that subscription or
	// resource group (compared case-insensitively).
	SubscriptionID string
	ResourceGroup  string
	// ParentKey lists the direct children of a resource or scope.
	ParentKey string
	// WithinKey lists the resources strictly below a scope: those whose key
	// starts with WithinKey + "/".
	WithinKey string
	// UniqueName lists the resource with that UniqueName (compared as given).
	UniqueName string
	Page       Page
}

// RoleAssignment is a stored role assignment.
type RoleAssignment struct {
	// ID is the assignment's full resource ID ("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}").
	ID string
	// Key is the ID in lower case; the primary key.
	Key string
	// Name is the assignment's GUID name, lower case.
	Name string
	// Scope is the scope's resource ID as given; ScopeKey its lower-case key ("/" for the root).
	Scope    string
	ScopeKey string
	// RoleDefinitionID is the role definition's GUID, lower case.
	RoleDefinitionID string
	// PrincipalID is the principal's object ID, lower case.
	PrincipalID   string
	PrincipalType string
	// Body is the assignment's JSON properties as the provider stores them.
	Body      []byte
	CreatedAt time.Time
}

// RoleAssignmentListParams selects role assignments. The scope conditions are
// alternatives (an assignment matching any of them is listed); PrincipalID,
// when set, must match as well. With no scope condition, assignments at every
// scope are listed.
type RoleAssignmentListParams struct {
	// ScopeKeys lists assignments made exactly at one of these scope keys (for
	// example the keys of cobalt.ResourceID.Ancestry: "at or above").
	ScopeKeys []string
	// BelowKey lists assignments made strictly below this scope key.
	BelowKey string
	// PrincipalID restricts the list to one principal (compared case-insensitively).
	PrincipalID string
	Page        Page
}

// ResourceStore keeps management-plane (ARM) resources and role assignments.
// The management plane owns this slice of the interface.
type ResourceStore interface {
	// ResourceCreate stores a new resource; EConflict if its key exists, or
	// if its UniqueName is taken by another resource of its type. Key, Type,
	// ParentKey, SubscriptionID, ResourceGroup and UniqueName are stored as
	// given (callers fold case); Version, CreatedAt and UpdatedAt are set.
	ResourceCreate(ctx context.Context, r Resource) (Resource, error)
	// ResourceGet returns the resource with the given key (case-insensitive), or ENotFound.
	ResourceGet(ctx context.Context, key string) (Resource, error)
	// ResourceUpdate applies fn to the resource under compare-and-swap; only
	// Body (and ID's case) may change. ENotFound if absent; an error from fn is returned as is.
	ResourceUpdate(ctx context.Context, key string, fn func(*Resource) error) (Resource, error)
	// ResourceDelete removes a resource, or returns ENotFound. Deleting a
	// storage account deletes, in the same transaction, the blob containers,
	// blobs and uncommitted blocks of its name, so that an account created
	// later with that name starts empty; their data files are left for the
	// blob service's collector, which removes files no record references.
	ResourceDelete(ctx context.Context, key string) error
	// ResourceList lists resources ordered by key; the second result is the
	// next page's token ("" on the last page).
	ResourceList(ctx context.Context, p ResourceListParams) ([]Resource, string, error)

	// RoleAssignmentCreate stores a new assignment. EConflict if its key
	// exists, or if an assignment of the same role to the same principal exists
	// at the same scope; in the latter case the existing assignment is returned
	// with the error (its Name goes into ARM's RoleAssignmentExists message).
	RoleAssignmentCreate(ctx context.Context, a RoleAssignment) (RoleAssignment, error)
	// RoleAssignmentGet returns the assignment with the given key, or ENotFound.
	RoleAssignmentGet(ctx context.Context, key string) (RoleAssignment, error)
	// RoleAssignmentDelete removes an assignment and returns it, or ENotFound.
	RoleAssignmentDelete(ctx context.Context, key string) (RoleAssignment, error)
	// RoleAssignmentList lists assignments ordered by key, with a next-page token.
	RoleAssignmentList(ctx context.Context, p RoleAssignmentListParams) ([]RoleAssignment, string, error)
}
