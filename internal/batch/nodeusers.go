package batch

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Node user limits and defaults.
const (
	// maxNodeUsers bounds the accounts of one node.
	maxNodeUsers = 32
	// defaultNodeUserExpiry is Batch's default lifetime of a node user.
	defaultNodeUserExpiry = 24 * time.Hour
	// maxNodeUserExpiry is the longest expiry Batch accepts.
	maxNodeUserExpiry = 24 * time.Hour * 365
)

// Batch's error codes for node users.
const (
	reasonNodeUserExists   = "NodeUserExists"
	reasonNodeUserNotFound = "NodeUserNotFound"
)

// nodeUserName is a POSIX-style user name (it goes into the node's
// /etc/passwd), as Linux nodes accept it.
var nodeUserName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// reservedUserNames are accounts of every node that a node user cannot take.
var reservedUserNames = []string{"root", "nobody", "daemon", "bin", "sys", "_azbatch"}

// NodeUserSpec is a node user as the data plane adds or updates it. Password
// is the clear password of the request: it is hashed here and never kept.
type NodeUserSpec struct {
	Name         string
	IsAdmin      bool
	ExpiryTime   *time.Time
	Password     *string
	SSHPublicKey *string
}

// NodeUserAdd adds a user account to a node (POST .../users). The clear
// password is hashed with bcrypt before it reaches the store or the node.
func (s *Service) NodeUserAdd(ctx context.Context, accountKey, poolID, nodeID string, u NodeUserSpec) error {
	if u.Name == "" {
		return missing("name")
	}
	if !nodeUserName.MatchString(u.Name) || slices.Contains(reservedUserNames, u.Name) {
		return invalidValue("name", "The user name '%s' is not valid on a Linux node.", trunc(u.Name))
	}
	nu, err := s.nodeUser(nodeproto.NodeUser{Name: u.Name, Admin: u.IsAdmin}, u)
	if err != nil {
		return err
	}
	n, err := s.NodeGet(ctx, accountKey, poolID, nodeID)
	if err != nil {
		return err
	}
	for _, a := range n.Config.UserAccounts {
		if a.Name == u.Name {
			return nodeUserExists(u.Name)
		}
	}
	_, err = s.updateNode(ctx, nodeID, func(x *Node, _ *store.NodeRecord) error {
		if err := userChangeAllowed(x); err != nil {
			return err
		}
		if slices.ContainsFunc(x.Users, func(e nodeproto.NodeUser) bool { return e.Name == u.Name }) {
			return nodeUserExists(u.Name)
		}
		if len(x.Users) >= maxNodeUsers {
			return cobalt.Errorf(cobalt.EConflict, "The node has %d user accounts, the most a node may have.", maxNodeUsers).
				WithReason(errwire.ReasonOperationInvalidForCurrentState)
		}
		x.Users = append(x.Users, nu)
		return nil
	})
	return err
}

// NodeUserUpdate replaces a node user's password, SSH key and expiry (PUT
// .../users/{name}); what the request leaves out is reset, as Batch does.
func (s *Service) NodeUserUpdate(ctx context.Context, accountKey, poolID, nodeID, name string, u NodeUserSpec) error {
	if _, err := s.NodeGet(ctx, accountKey, poolID, nodeID); err != nil {
		return err
	}
	_, err := s.updateNode(ctx, nodeID, func(x *Node, _ *store.NodeRecord) error {
		if err := userChangeAllowed(x); err != nil {
			return err
		}
		i := slices.IndexFunc(x.Users, func(e nodeproto.NodeUser) bool { return e.Name == name })
		if i < 0 {
			return nodeUserNotFound(name)
		}
		nu, err := s.nodeUser(nodeproto.NodeUser{Name: name, Admin: x.Users[i].Admin}, u)
		if err != nil {
			return err
		}
		x.Users[i] = nu
		return nil
	})
	return err
}

// NodeUserDelete deletes a node user (DELETE .../users/{name}).
func (s *Service) NodeUserDelete(ctx context.Context, accountKey, poolID, nodeID, name string) error {
	if _, err := s.NodeGet(ctx, accountKey, poolID, nodeID); err != nil {
		return err
	}
	_, err := s.updateNode(ctx, nodeID, func(x *Node, _ *store.NodeRecord) error {
		if err := userChangeAllowed(x); err != nil {
			return err
		}
		i := slices.IndexFunc(x.Users, func(e nodeproto.NodeUser) bool { return e.Name == name })
		if i < 0 {
			return nodeUserNotFound(name)
		}
		x.Users = slices.Delete(x.Users, i, i+1)
		return nil
	})
	return err
}

// nodeUser fills nu from a request: its expiry (default one day), its
// password as a bcrypt hash and its SSH key, checked to parse.
func (s *Service) nodeUser(nu nodeproto.NodeUser, u NodeUserSpec) (nodeproto.NodeUser, error) {
	now := s.now()
	nu.ExpiryTime = now.Add(defaultNodeUserExpiry).UTC()
	if u.ExpiryTime != nil {
		if u.ExpiryTime.After(now.Add(maxNodeUserExpiry)) {
			return nu, invalidValue("expiryTime", "The expiry time must be at most one year from now.")
		}
		nu.ExpiryTime = u.ExpiryTime.UTC()
	}
	if u.Password != nil && *u.Password != "" {
		if len(*u.Password) > 72 {
			return nu, invalidValue("password", "The password must be at most 72 characters.")
		}
		h, err := bcrypt.GenerateFromPassword([]byte(*u.Password), bcrypt.DefaultCost)
		if err != nil {
			return nu, err
		}
		nu.PasswordHash = string(h)
	}
	if u.SSHPublicKey != nil && strings.TrimSpace(*u.SSHPublicKey) != "" {
		k := strings.TrimSpace(*u.SSHPublicKey)
		if len(k) > 8192 {
			return nu, invalidValue("sshPublicKey", "The SSH public key is too long.")
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
			return nu, invalidValue("sshPublicKey", "The SSH public key is not in OpenSSH format.")
		}
		nu.SSHPublicKey = k
	}
	return nu, nil
}

// userChangeAllowed refuses user changes on a node that cannot take them.
func userChangeAllowed(n *Node) error {
	switch n.State {
	case NodeUnusable:
		return cobalt.Errorf(cobalt.EConflict, "The node is unusable.").WithReason("NodeStateUnusable")
	case NodeLeavingPool:
		return cobalt.Errorf(cobalt.EConflict, "The node is leaving the pool.").WithReason(errwire.ReasonOperationInvalidForCurrentState)
	}
	return nil
}

func nodeUserExists(name string) error {
	return cobalt.Errorf(cobalt.EConflict, "The node user '%s' already exists.", trunc(name)).WithReason(reasonNodeUserExists)
}

func nodeUserNotFound(name string) error {
	return cobalt.Errorf(cobalt.ENotFound, "The node user '%s' does not exist.", trunc(name)).WithReason(reasonNodeUserNotFound)
}
