package sandbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// SetUsers makes the node's login users (Batch's node users) users: their
// accounts in the node's passwd and group, their home directories and
// their logins on the node's SSH server.
func (n *Node) SetUsers(ctx context.Context, users []nodeproto.NodeUser) error {
	return n.runOp(ctx, Task{SetUsers: true, Users: users})
}

// Reimage ends every process of the node and empties its writable file
// systems, as a fresh image of the node has them. The node's tasks must
// have been stopped first.
func (n *Node) Reimage(ctx context.Context) error {
	return n.runOp(ctx, Task{Reimage: true})
}

func (n *Node) runOp(ctx context.Context, t Task) error {
	r, err := n.Run(ctx, t)
	if err != nil {
		return err
	}
	if r == nil {
		return errors.New("sandbox: no result")
	}
	if r.Error != "" {
		return fmt.Errorf("sandbox: %s", clip(r.Error, 500))
	}
	return nil
}
