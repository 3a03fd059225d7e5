package imds

import (
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// SelectIdentity picks the identity req selects among a node's identities, by
// Azure's rules: client_id matches the client ID, object_id the principal ID,
// msi_res_id/mi_res_id the resource ID (all case-insensitively); without a
// selector the node's only identity. Errors are *cobalt.Error with Reason
// ReasonIdentityNotFound or ReasonMultipleIdentities.
func SelectIdentity(ids []nodeproto.Identity, req TokenRequest) (nodeproto.Identity, error) {
	var match func(nodeproto.Identity) bool
	switch {
	case req.ClientID != "":
		match = func(id nodeproto.Identity) bool { return strings.EqualFold(id.ClientID, req.ClientID) }
	case req.ObjectID != "":
		match = func(id nodeproto.Identity) bool { return strings.EqualFold(id.PrincipalID, req.ObjectID) }
	case req.ResourceID != "":
		want := strings.TrimSuffix(req.ResourceID, "/")
		match = func(id nodeproto.Identity) bool { return strings.EqualFold(id.ResourceID, want) }
	default:
		switch len(ids) {
		case 1:
			return ids[0], nil
		case 0:
			return nodeproto.Identity{}, errIdentityNotFound()
		default:
			return nodeproto.Identity{}, cobalt.Errorf(cobalt.EInvalid, msgMultipleIdentities).WithReason(ReasonMultipleIdentities)
		}
	}
	for _, id := range ids {
		if match(id) {
			return id, nil
		}
	}
	return nodeproto.Identity{}, errIdentityNotFound()
}

func errIdentityNotFound() error {
	return cobalt.Errorf(cobalt.ENotFound, msgIdentityNotFound).WithReason(ReasonIdentityNotFound)
}
