package batchapi

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
)

// nodeOperator is implemented by a pool service that reimages, deallocates
// and starts nodes, keeps their users and knows their SSH ports and VM
// extensions; without it those operations answer 409 once the node is
// found to exist.
type nodeOperator interface {
	NodeReimage(ctx context.Context, accountKey, poolID, nodeID, option string) error
	NodeDeallocate(ctx context.Context, accountKey, poolID, nodeID, option string) error
	NodeStart(ctx context.Context, accountKey, poolID, nodeID string) error
	NodeUserAdd(ctx context.Context, accountKey, poolID, nodeID string, u batch.NodeUserSpec) error
	NodeUserUpdate(ctx context.Context, accountKey, poolID, nodeID, name string, u batch.NodeUserSpec) error
	NodeUserDelete(ctx context.Context, accountKey, poolID, nodeID, name string) error
	NodeRemoteLogin(ctx context.Context, accountKey, poolID, nodeID string) (batch.RemoteLogin, error)
	NodeExtensions(ctx context.Context, accountKey, poolID, nodeID string) ([]batch.NodeExtension, error)
	NodeExtensionGet(ctx context.Context, accountKey, poolID, nodeID, name string) (batch.NodeExtension, error)
}

// deallocateSince is the first api-version with node deallocate and start.
const deallocateSince = "2024-07-01"

// nodeOps returns the pool service's node operations, or the error Batch
// gives for an operation this server cannot do (after checking the node).
func (rc *reqCtx) nodeOps(p pathParams) (nodeOperator, error) {
	if err := rc.requirePools(); err != nil {
		return nil, err
	}
	if ops, ok := rc.s.pools().(nodeOperator); ok {
		return ops, nil
	}
	if _, err := rc.s.pools().NodeGet(rc.r.Context(), rc.accountKey(), p.pool, p.node); err != nil {
		return nil, err
	}
	return nil, batchError(cobalt.EConflict, codeInvalidState,
		"The operation '"+p.action+"' is not supported for compute nodes of this server.", "Reason", "OperationNotSupported")
}

// handleNodeStateAction serves reimage, deallocate and start (202).
func handleNodeStateAction(rc *reqCtx, p pathParams) error {
	if (p.action == "deallocate" || p.action == "start") && rc.apiVersion < deallocateSince {
		return badURI() // as Batch answers an operation its api-version does not have
	}
	ops, err := rc.nodeOps(p)
	if err != nil {
		return err
	}
	var body struct {
		Reimage    string `json:"nodeReimageOption"`
		Deallocate string `json:"nodeDeallocateOption"`
	}
	if err := rc.decodeJSON(maxBody, &body, true); err != nil {
		return err
	}
	ctx := rc.r.Context()
	switch p.action {
	case "reimage":
		err = ops.NodeReimage(ctx, rc.accountKey(), p.pool, p.node, body.Reimage)
	case "deallocate":
		err = ops.NodeDeallocate(ctx, rc.accountKey(), p.pool, p.node, body.Deallocate)
	default:
		err = ops.NodeStart(ctx, rc.accountKey(), p.pool, p.node)
	}
	if err != nil {
		return err
	}
	rc.w.Header().Set("DataServiceId", rc.entityURL(nodePath(p.pool, p.node)))
	rc.writeEmpty(http.StatusAccepted)
	return nil
}

// nodeUserBody is the body of add user and update user.
type nodeUserBody struct {
	Name         string     `json:"name"`
	IsAdmin      *bool      `json:"isAdmin"`
	ExpiryTime   *time.Time `json:"expiryTime"`
	Password     *string    `json:"password"`
	SSHPublicKey *string    `json:"sshPublicKey"`
}

// handleAddNodeUser serves POST .../nodes/{n}/users (201).
func handleAddNodeUser(rc *reqCtx, p pathParams) error {
	ops, err := rc.nodeOps(p)
	if err != nil {
		return err
	}
	var b nodeUserBody
	if err := rc.decodeJSON(maxBody, &b, false); err != nil {
		return err
	}
	u := batch.NodeUserSpec{Name: b.Name, IsAdmin: b.IsAdmin != nil && *b.IsAdmin, ExpiryTime: b.ExpiryTime, Password: b.Password, SSHPublicKey: b.SSHPublicKey}
	if err := ops.NodeUserAdd(rc.r.Context(), rc.accountKey(), p.pool, p.node, u); err != nil {
		return err
	}
	rc.setEntityHeaders("", time.Time{}, rc.entityURL(nodePath(p.pool, p.node)+"/users/"+url.PathEscape(b.Name)))
	rc.writeEmpty(http.StatusCreated)
	return nil
}

// handleNodeUser serves PUT (update, 200) and DELETE (200) of .../users/{name}.
func handleNodeUser(rc *reqCtx, p pathParams) error {
	ops, err := rc.nodeOps(p)
	if err != nil {
		return err
	}
	ctx := rc.r.Context()
	if rc.r.Method == http.MethodDelete {
		err = ops.NodeUserDelete(ctx, rc.accountKey(), p.pool, p.node, p.user)
	} else {
		var b nodeUserBody
		if err := rc.decodeJSON(maxBody, &b, false); err != nil {
			return err
		}
		err = ops.NodeUserUpdate(ctx, rc.accountKey(), p.pool, p.node, p.user,
			batch.NodeUserSpec{ExpiryTime: b.ExpiryTime, Password: b.Password, SSHPublicKey: b.SSHPublicKey})
	}
	if err != nil {
		return err
	}
	rc.setEntityHeaders("", time.Time{}, rc.entityURL(nodePath(p.pool, p.node)+"/users/"+url.PathEscape(p.user)))
	rc.writeEmpty(http.StatusOK)
	return nil
}

// handleRemoteLoginSettings serves GET .../remoteloginsettings: the address
// of the node's host (the public address for the local host's nodes; the
// address the client reached this service on when the node has none) and
// the node's SSH port.
func handleRemoteLoginSettings(rc *reqCtx, p pathParams) error {
	ops, err := rc.nodeOps(p)
	if err != nil {
		return err
	}
	rl, err := ops.NodeRemoteLogin(rc.r.Context(), rc.accountKey(), p.pool, p.node)
	if err != nil {
		return err
	}
	host := rl.IPAddress
	if host == "" {
		if host, _, err = net.SplitHostPort(rc.r.Host); err != nil || host == "" {
			host = "127.0.0.1"
		}
	}
	rc.writeJSON(http.StatusOK, map[string]any{
		"odata.metadata":       rc.baseURL() + "/$metadata#Microsoft.Azure.Batch.Protocol.Entities.ComputeNodeGetRemoteLoginSettingsResult",
		"remoteLoginIPAddress": host,
		"remoteLoginPort":      rl.Port,
	})
	return nil
}

// extensionOut renders one node VM extension as Batch does.
func (rc *reqCtx) extensionOut(e batch.NodeExtension, at time.Time) map[string]any {
	return map[string]any{
		"provisioningState": e.ProvisioningState,
		"vmExtension":       json.RawMessage(e.Extension),
		"instanceView": map[string]any{
			"name": e.Name,
			"statuses": []map[string]any{{
				"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
				"message": "Enable succeeded", "time": at.UTC().Format(time.RFC3339Nano),
			}},
		},
	}
}

// handleNodeExtensions serves GET .../extensions and .../extensions/{name}.
func handleNodeExtensions(rc *reqCtx, p pathParams) error {
	ops, err := rc.nodeOps(p)
	if err != nil {
		return err
	}
	n, err := rc.s.pools().NodeGet(rc.r.Context(), rc.accountKey(), p.pool, p.node)
	if err != nil {
		return err
	}
	at := n.AllocationTime
	if p.extension != "" {
		e, err := ops.NodeExtensionGet(rc.r.Context(), rc.accountKey(), p.pool, p.node, p.extension)
		if err != nil {
			return err
		}
		out := rc.extensionOut(e, at)
		out["odata.metadata"] = rc.baseURL() + "/$metadata#extensions/@Element"
		rc.writeJSON(http.StatusOK, out)
		return nil
	}
	exts, err := ops.NodeExtensions(rc.r.Context(), rc.accountKey(), p.pool, p.node)
	if err != nil {
		return err
	}
	vals := make([]map[string]any, 0, len(exts))
	for _, e := range exts {
		vals = append(vals, rc.extensionOut(e, at))
	}
	rc.writeJSON(http.StatusOK, map[string]any{"odata.metadata": rc.baseURL() + "/$metadata#extensions", "value": vals})
	return nil
}
