package batch

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
)

// IdentityLookup resolves a user-assigned managed identity's ARM ID to its
// principal (arm.Server.LookupIdentity): ENotFound when the identity does not exist.
type IdentityLookup interface {
	LookupIdentity(ctx context.Context, resourceID string) (cobalt.Principal, error)
}

const uamiType = "microsoft.managedidentity/userassignedidentities"

// ResolveIdentities checks a pool identity request against the identity
// rules and fills each identity's principalId and clientId:
//   - type is "UserAssigned" or "None" (any case); "SystemAssigned" is refused;
//   - "UserAssigned" needs at least one identity, "None" none;
//   - every key is the ID of an existing user-assigned identity in the
//     account's tenant (any resource group or subscription);
//   - the Batch account's own system-assigned identity is refused.
//
// Every failure is a 400 naming the offending value.
func (s *Service) ResolveIdentities(ctx context.Context, acct *cobalt.Account, id *cobalt.PoolIdentity) error {
	if id == nil {
		return nil
	}
	switch {
	case strings.EqualFold(id.Type, "UserAssigned"):
		id.Type = "UserAssigned"
	case strings.EqualFold(id.Type, "None"):
		id.Type = "None"
		if len(id.Identities) > 0 {
			return invalidValue("identity.userAssignedIdentities", "userAssignedIdentities must be empty when the identity type is 'None'.")
		}
		return nil
	case strings.Contains(strings.ToLower(id.Type), "systemassigned"):
		return invalidValue("identity.type", "The pool identity type '%s' is not supported: a Batch pool can only carry user-assigned identities (type 'UserAssigned' or 'None').", trunc(id.Type))
	default:
		return invalidValue("identity.type", "The pool identity type '%s' is not valid; use 'UserAssigned' or 'None'.", trunc(id.Type))
	}
	if len(id.Identities) == 0 {
		return invalidValue("identity.userAssignedIdentities", "The identity ids must not be null or empty for 'UserAssigned' identity type.").WithReason(errwire.ReasonMissingIdentityIds)
	}
	for i := range id.Identities {
		info := &id.Identities[i]
		target := "identity.userAssignedIdentities['" + trunc(info.ResourceID) + "']"
		rid, err := cobalt.ParseResourceID(info.ResourceID)
		if err == nil && acct != nil && strings.EqualFold(rid.String(), acct.ID) {
			return invalidValue(target, "The Batch account's own system-assigned identity ('%s') cannot be used as a pool identity; assign a user-assigned identity.", trunc(info.ResourceID))
		}
		if err != nil || strings.ToLower(rid.Type()) != uamiType || rid.SubscriptionID == "" || rid.ResourceGroup == "" {
			return invalidValue(target, "'%s' is not the resource ID of a user-assigned managed identity (/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}).", trunc(info.ResourceID))
		}
		info.ResourceID = rid.String()
		if s.cfg.Identities == nil {
			return cobalt.Errorf(cobalt.EInternal, "no identity directory is configured")
		}
		pr, err := s.cfg.Identities.LookupIdentity(ctx, info.ResourceID)
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return invalidValue(target, "The user-assigned identity '%s' does not exist.", trunc(info.ResourceID)).WithReason(errwire.ReasonInvalidUserAssignedIdentity)
		}
		if err != nil {
			return err
		}
		if acct != nil && acct.TenantID != "" && !strings.EqualFold(pr.TenantID, acct.TenantID) {
			return invalidValue(target, "The user-assigned identity '%s' is in tenant '%s', not in the Batch account's tenant '%s'.", trunc(info.ResourceID), pr.TenantID, acct.TenantID)
		}
		if acct != nil && acct.Identity != nil && acct.Identity.PrincipalID != "" && strings.EqualFold(pr.ObjectID, acct.Identity.PrincipalID) {
			return invalidValue(target, "The Batch account's own system-assigned identity cannot be used as a pool identity.")
		}
		info.PrincipalID, info.ClientID, info.TenantID = pr.ObjectID, pr.ClientID, pr.TenantID
	}
	sortIdentities(id.Identities)
	return nil
}

// sameIdentities reports whether two identity sets name the same identities.
func sameIdentities(a, b []cobalt.UserAssignedIdentity) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, i := range a {
		m[lower(i.ResourceID)] = true
	}
	for _, i := range b {
		if !m[lower(i.ResourceID)] {
			return false
		}
	}
	return true
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// IdentityChangeWarning is the warning given when a pool's identities change
// while it has nodes.
const IdentityChangeWarning = "The pool's identities changed while it has compute nodes. Existing nodes keep the identities " +
	"they were allocated with; only nodes allocated after the pool has been scaled to zero nodes carry the new identities. " +
	"Scale the pool to zero and back to apply the change."

func sortIdentities(ids []cobalt.UserAssignedIdentity) {
	sort.Slice(ids, func(i, j int) bool { return lower(ids[i].ResourceID) < lower(ids[j].ResourceID) })
}
