package batchapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Pools is the pool service; *batch.Service implements it. accountKey is the
// Batch account's ARM resource ID in lower case. Errors are *cobalt.Error
// whose Reason is the Batch error code (PoolNotFound, PoolExists, ...).
type Pools interface {
	AccountGet(ctx context.Context, name string) (*cobalt.Account, error)
	AccountListAll(ctx context.Context) ([]*cobalt.Account, error)
	PoolCreate(ctx context.Context, acct *cobalt.Account, spec *batch.Spec) (*batch.Pool, error)
	PoolGet(ctx context.Context, accountKey, poolID string) (*batch.Pool, error)
	PoolList(ctx context.Context, accountKey string, page store.Page) ([]*batch.Pool, string, error)
	PoolDelete(ctx context.Context, accountKey, poolID string, c batch.Conditions) (*batch.Pool, error)
	PoolPatch(ctx context.Context, acct *cobalt.Account, poolID string, spec *batch.Spec, arm bool, c batch.Conditions) (*batch.Pool, string, error)
	PoolResize(ctx context.Context, accountKey, poolID string, r batch.ResizeRequest, c batch.Conditions) (*batch.Pool, error)
	PoolStopResize(ctx context.Context, accountKey, poolID string, c batch.Conditions) (*batch.Pool, error)
	PoolDisableAutoScale(ctx context.Context, accountKey, poolID string) (*batch.Pool, error)
	NodeList(ctx context.Context, accountKey, poolID string, page store.Page) ([]*batch.Node, string, error)
	NodeGet(ctx context.Context, accountKey, poolID, nodeID string) (*batch.Node, error)
	NodeReboot(ctx context.Context, accountKey, poolID, nodeID string) error
	NodeRemove(ctx context.Context, accountKey, poolID string, nodeIDs []string, option string) error
}

// poolAutoScaler is implemented by a pool service that evaluates autoscale
// formulas; without it enableautoscale answers 409.
type poolAutoScaler interface {
	PoolEnableAutoScale(ctx context.Context, accountKey, poolID, formula, interval string, c batch.Conditions) (*batch.Pool, error)
	PoolEvaluateAutoScale(ctx context.Context, accountKey, poolID, formula string) (*cobalt.AutoScaleRun, error)
}

func poolPath(id string) string         { return "/pools/" + url.PathEscape(id) }
func nodePath(pool, node string) string { return poolPath(pool) + "/nodes/" + url.PathEscape(node) }

func (rc *reqCtx) accountKey() string { return strings.ToLower(rc.account.ID) }

// requirePools returns a 501 error when no pool service is configured.
func (rc *reqCtx) requirePools() error {
	if rc.s.pools() == nil {
		return batchError(cobalt.EInvalid, codeNotImplemented, "Pools are not available on this server.")
	}
	return nil
}

// poolAccount returns the pool service's view of the request's account.
func (rc *reqCtx) poolAccount() (*cobalt.Account, error) {
	return rc.s.pools().AccountGet(rc.r.Context(), rc.account.Name)
}

// poolTimeConditions checks If-Modified-Since and If-Unmodified-Since of a
// pool write (the pool service checks If-Match and If-None-Match itself).
func (rc *reqCtx) poolTimeConditions(poolID string) error {
	h := rc.r.Header
	if h.Get("If-Modified-Since") == "" && h.Get("If-Unmodified-Since") == "" {
		return nil
	}
	p, err := rc.s.pools().PoolGet(rc.r.Context(), rc.accountKey(), poolID)
	if err != nil {
		return err
	}
	c := rc.r.Clone(rc.r.Context())
	c.Header.Del("If-Match")
	c.Header.Del("If-None-Match")
	return (&reqCtx{s: rc.s, r: c}).checkConditions(p.ETag, p.LastModified, false)
}

func (rc *reqCtx) poolConditions() batch.Conditions {
	return batch.Conditions{IfMatch: rc.r.Header.Get("If-Match"), IfNoneMatch: rc.r.Header.Get("If-None-Match")}
}

func (rc *reqCtx) renderPool(p *batch.Pool) []byte {
	b, _ := json.Marshal(renderPoolDP(&p.Pool, rc.entityURL(poolPath(p.ID))))
	return b
}

func (rc *reqCtx) renderNode(n *batch.Node) []byte {
	b, _ := json.Marshal(renderNodeDP(n, rc.entityURL(nodePath(n.PoolID, n.ID))))
	return b
}

// finishPool answers a pool write with the pool's ETag, Last-Modified and DataServiceId.
func (rc *reqCtx) finishPool(p *batch.Pool, err error, status int) error {
	if err != nil {
		return err
	}
	rc.setEntityHeaders(p.ETag, p.LastModified, rc.entityURL(poolPath(p.ID)))
	rc.writeEmpty(status)
	return nil
}

// refuseIdentity is the answer to a data-plane pool body with "identity".
func refuseIdentity() *cobalt.Error {
	return batchError(cobalt.EInvalid, codeUnsupportedProp,
		"User-assigned managed identities can only be set on a pool through the management plane "+
			"(Microsoft.Batch/batchAccounts/pools on Azure Resource Manager); the Batch service API does not accept a pool's 'identity'.",
		"PropertyName", "identity")
}

// hasTopLevel reports whether body is a JSON object with the property (case-insensitive).
func hasTopLevel(body []byte, name string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// decodePoolBody reads a data-plane pool body, refusing "identity".
func (rc *reqCtx) decodePoolBody(mode DPMode) (*batch.Spec, error) {
	b, err := rc.readBody(maxBody)
	if err != nil {
		return nil, err
	}
	var probe any
	if err := decodeBody(b, &probe, false); err != nil {
		return nil, err
	}
	if hasTopLevel(b, "identity") {
		return nil, refuseIdentity()
	}
	return DecodeDataPlanePool(b, mode)
}

func handleAddPool(rc *reqCtx, _ pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	spec, err := rc.decodePoolBody(DPAdd)
	if err != nil {
		return err
	}
	acct, err := rc.poolAccount()
	if err != nil {
		return err
	}
	p, err := rc.s.pools().PoolCreate(rc.r.Context(), acct, spec)
	if err == nil {
		rc.w.Header().Set("Location", rc.entityURL(poolPath(p.ID)))
	}
	return rc.finishPool(p, err, http.StatusCreated)
}

func handleGetPool(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	if err := rc.expandParam(); err != nil {
		return err
	}
	pool, err := rc.s.pools().PoolGet(rc.r.Context(), rc.accountKey(), p.pool)
	if err != nil {
		return err
	}
	if err := rc.checkConditions(pool.ETag, pool.LastModified, true); err != nil {
		return err
	}
	body, err := rc.renderPoolExpanded(rc.r.Context(), pool)
	if err != nil {
		return err
	}
	rc.setEntityHeaders(pool.ETag, pool.LastModified, "")
	rc.writeRaw(http.StatusOK, applySelect(body, rc.selectParam()))
	return nil
}

// handlePoolExists answers HEAD /pools/{id}: 200 when it exists, 404 when not.
func handlePoolExists(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	pool, err := rc.s.pools().PoolGet(rc.r.Context(), rc.accountKey(), p.pool)
	if err != nil {
		return err
	}
	if err := rc.checkConditions(pool.ETag, pool.LastModified, true); err != nil {
		return err
	}
	rc.setEntityHeaders(pool.ETag, pool.LastModified, "")
	rc.writeEmpty(http.StatusOK)
	return nil
}

var poolFilterFields = []string{"state", "id", "allocationState", "vmSize", "displayName"}

func handleListPools(rc *reqCtx, _ pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	if err := rc.expandParam(); err != nil {
		return err
	}
	filter, err := rc.filterParam(poolFilterFields)
	if err != nil {
		return err
	}
	return rc.paged("pools", func(ctx context.Context, max int, token string) ([]listItem, string, error) {
		list, next, err := rc.s.pools().PoolList(ctx, rc.accountKey(), store.Page{Limit: max, Token: token})
		items := make([]listItem, 0, len(list))
		for _, p := range list {
			body, err := rc.renderPoolExpanded(ctx, p)
			if err != nil {
				continue // deleted since listed
			}
			items = append(items, listItem{body: body, fields: map[string]string{"state": p.State, "id": p.ID,
				"allocationState": p.AllocationState, "vmSize": strings.ToLower(p.VMSize), "displayName": p.DisplayName}})
		}
		return items, next, err
	}, filter)
}

func handleDeletePool(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	if err := rc.poolTimeConditions(p.pool); err != nil {
		return err
	}
	pool, err := rc.s.pools().PoolDelete(rc.r.Context(), rc.accountKey(), p.pool, rc.poolConditions())
	if err != nil {
		return err
	}
	rc.w.Header().Set("DataServiceId", rc.entityURL(poolPath(pool.ID)))
	rc.writeEmpty(http.StatusAccepted)
	return nil
}

func handlePatchPool(rc *reqCtx, p pathParams) error {
	return rc.modifyPool(p, DPPatch, http.StatusOK)
}

func handleUpdatePoolProperties(rc *reqCtx, p pathParams) error {
	return rc.modifyPool(p, DPReplace, http.StatusNoContent)
}

func (rc *reqCtx) modifyPool(p pathParams, mode DPMode, status int) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	if err := rc.poolTimeConditions(p.pool); err != nil {
		return err
	}
	spec, err := rc.decodePoolBody(mode)
	if err != nil {
		return err
	}
	acct, err := rc.poolAccount()
	if err != nil {
		return err
	}
	pool, _, err := rc.s.pools().PoolPatch(rc.r.Context(), acct, p.pool, spec, false, rc.poolConditions())
	return rc.finishPool(pool, err, status)
}

func handleResizePool(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	if err := rc.poolTimeConditions(p.pool); err != nil {
		return err
	}
	b, err := rc.readBody(maxBody)
	if err != nil {
		return err
	}
	var probe any
	if err := decodeBody(b, &probe, false); err != nil {
		return err
	}
	req, err := DecodeResize(b)
	if err != nil {
		return err
	}
	pool, err := rc.s.pools().PoolResize(rc.r.Context(), rc.accountKey(), p.pool, *req, rc.poolConditions())
	return rc.finishPool(pool, err, http.StatusAccepted)
}

func handleStopResize(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	if err := rc.poolTimeConditions(p.pool); err != nil {
		return err
	}
	pool, err := rc.s.pools().PoolStopResize(rc.r.Context(), rc.accountKey(), p.pool, rc.poolConditions())
	return rc.finishPool(pool, err, http.StatusAccepted)
}

func handleEnableAutoScale(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	var body struct {
		AutoScaleFormula            string `json:"autoScaleFormula"`
		AutoScaleEvaluationInterval string `json:"autoScaleEvaluationInterval"`
	}
	if err := rc.decodeJSON(maxBody, &body, false); err != nil {
		return err
	}
	as, ok := rc.s.pools().(poolAutoScaler)
	if !ok {
		if _, err := rc.s.pools().PoolGet(rc.r.Context(), rc.accountKey(), p.pool); err != nil {
			return err
		}
		return autoScaleUnsupported()
	}
	pool, err := as.PoolEnableAutoScale(rc.r.Context(), rc.accountKey(), p.pool, body.AutoScaleFormula,
		body.AutoScaleEvaluationInterval, rc.poolConditions())
	return rc.finishPool(pool, err, http.StatusOK)
}

func autoScaleUnsupported() *cobalt.Error {
	return batchError(cobalt.EConflict, codeInvalidState,
		"Autoscale formulas are not supported by this server; resize the pool to fixed target node counts instead.",
		"Reason", "AutoScaleNotSupported")
}

func handleDisableAutoScale(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	pool, err := rc.s.pools().PoolDisableAutoScale(rc.r.Context(), rc.accountKey(), p.pool)
	return rc.finishPool(pool, err, http.StatusOK)
}

// handleEvaluateAutoScale evaluates a formula against an autoscaled pool without
// applying it; 409 when the pool service offers no autoscale.
func handleEvaluateAutoScale(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	var body struct {
		AutoScaleFormula string `json:"autoScaleFormula"`
	}
	if err := rc.decodeJSON(maxBody, &body, false); err != nil {
		return err
	}
	if body.AutoScaleFormula == "" {
		return missingProperty("autoScaleFormula")
	}
	as, ok := rc.s.pools().(poolAutoScaler)
	if !ok {
		if _, err := rc.s.pools().PoolGet(rc.r.Context(), rc.accountKey(), p.pool); err != nil {
			return err
		}
		return autoScaleUnsupported()
	}
	run, err := as.PoolEvaluateAutoScale(rc.r.Context(), rc.accountKey(), p.pool, body.AutoScaleFormula)
	if err != nil {
		return err
	}
	rc.writeJSON(http.StatusOK, renderAutoScaleRun(run))
	return nil
}

func handleRemoveNodes(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	var body struct {
		NodeList               []string `json:"nodeList"`
		ResizeTimeout          string   `json:"resizeTimeout"`
		NodeDeallocationOption string   `json:"nodeDeallocationOption"`
	}
	if err := rc.decodeJSON(maxBody, &body, false); err != nil {
		return err
	}
	if len(body.NodeList) == 0 {
		return missingProperty("nodeList")
	}
	if len(body.NodeList) > 100 {
		return invalidProperty("nodeList", "", "At most 100 nodes can be removed in one request.")
	}
	ctx := rc.r.Context()
	if err := rc.s.pools().NodeRemove(ctx, rc.accountKey(), p.pool, body.NodeList, body.NodeDeallocationOption); err != nil {
		return err
	}
	if pool, err := rc.s.pools().PoolGet(ctx, rc.accountKey(), p.pool); err == nil {
		rc.setEntityHeaders(pool.ETag, pool.LastModified, rc.entityURL(poolPath(pool.ID)))
	}
	rc.writeEmpty(http.StatusAccepted)
	return nil
}

var nodeFilterFields = []string{"state", "id", "schedulingState"}

func handleListNodes(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	filter, err := rc.filterParam(nodeFilterFields)
	if err != nil {
		return err
	}
	return rc.paged("nodes", func(ctx context.Context, max int, token string) ([]listItem, string, error) {
		list, next, err := rc.s.pools().NodeList(ctx, rc.accountKey(), p.pool, store.Page{Limit: max, Token: token})
		items := make([]listItem, 0, len(list))
		for _, n := range list {
			sched := n.SchedulingState
			if sched == "" {
				sched = "enabled"
			}
			items = append(items, listItem{body: rc.renderNode(n), fields: map[string]string{
				"state": n.State, "id": n.ID, "schedulingState": sched}})
		}
		return items, next, err
	}, filter)
}

func handleGetNode(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	n, err := rc.s.pools().NodeGet(rc.r.Context(), rc.accountKey(), p.pool, p.node)
	if err != nil {
		return err
	}
	rc.writeRaw(http.StatusOK, applySelect(rc.renderNode(n), rc.selectParam()))
	return nil
}

func handleNodeAction(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	var body struct {
		NodeRebootOption string `json:"nodeRebootOption"`
	}
	if err := rc.decodeJSON(maxBody, &body, true); err != nil {
		return err
	}
	if err := rc.s.pools().NodeReboot(rc.r.Context(), rc.accountKey(), p.pool, p.node); err != nil {
		return err
	}
	rc.w.Header().Set("DataServiceId", rc.entityURL(nodePath(p.pool, p.node)))
	rc.writeEmpty(http.StatusAccepted)
	return nil
}

// handleNodeScheduling serves enablescheduling and disablescheduling through the
// pool service; a pool service that cannot do it gets 409 after the node is
// found to exist.
func handleNodeScheduling(rc *reqCtx, p pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	ns, ok := rc.s.pools().(nodeScheduler)
	if !ok {
		if _, err := rc.s.pools().NodeGet(rc.r.Context(), rc.accountKey(), p.pool, p.node); err != nil {
			return err
		}
		return batchError(cobalt.EConflict, codeInvalidState,
			"Enabling and disabling task scheduling on a node is not supported by this server.",
			"Reason", "OperationNotSupported")
	}
	// The body of disablescheduling (nodeDisableSchedulingOption) is optional;
	// running tasks finish either way on this server.
	enable := strings.HasSuffix(strings.ToLower(rc.r.URL.Path), "/enablescheduling")
	if err := ns.NodeSetScheduling(rc.r.Context(), rc.accountKey(), p.pool, p.node, enable); err != nil {
		return err
	}
	rc.setEntityHeaders("", time.Time{}, rc.entityURL(poolPath(p.pool)+"/nodes/"+p.node))
	rc.writeEmpty(http.StatusOK)
	return nil
}

// nodeScheduler is implemented by a pool service that can stop placing tasks on a node.
type nodeScheduler interface {
	NodeSetScheduling(ctx context.Context, accountKey, poolID, nodeID string, enabled bool) error
}

func handleListSupportedImages(rc *reqCtx, _ pathParams) error {
	filter, err := rc.filterParam([]string{"nodeAgentSKUId", "osType", "verificationType"})
	if err != nil {
		return err
	}
	var items []listItem
	for _, im := range batch.SupportedImagesJSON() {
		b, _ := json.Marshal(im)
		f := map[string]string{}
		for _, k := range []string{"nodeAgentSKUId", "osType", "verificationType"} {
			if v, ok := im[k].(string); ok {
				f[k] = v
			}
		}
		items = append(items, listItem{body: b, fields: f})
	}
	return rc.list("supportedimages", items, filter)
}

// nodeCountNames are the properties of Batch's NodeCounts, by node state.
var nodeCountNames = map[string]string{
	"creating": "creating", "idle": "idle", "offline": "offline", "preempted": "preempted",
	"rebooting": "rebooting", "reimaging": "reimaging", "running": "running", "starting": "starting",
	"starttaskfailed": "startTaskFailed", "leavingpool": "leavingPool", "unknown": "unknown",
	"unusable": "unusable", "waitingforstarttask": "waitingForStartTask", "upgradingos": "upgradingOS",
	"deallocated": "deallocated", "deallocating": "deallocating",
}

func newNodeCounts() map[string]int {
	m := map[string]int{"total": 0}
	for _, v := range nodeCountNames {
		m[v] = 0
	}
	return m
}

func handleListNodeCounts(rc *reqCtx, _ pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	filter, err := rc.filterParam([]string{"poolId"})
	if err != nil {
		return err
	}
	ctx := rc.r.Context()
	var items []listItem
	page := store.Page{Limit: 1000}
	for {
		pools, next, err := rc.s.pools().PoolList(ctx, rc.accountKey(), page)
		if err != nil {
			return err
		}
		for _, p := range pools {
			ded, low := newNodeCounts(), newNodeCounts()
			npage := store.Page{Limit: 1000}
			for {
				nodes, nnext, err := rc.s.pools().NodeList(ctx, rc.accountKey(), p.ID, npage)
				if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
					return err
				}
				for _, n := range nodes {
					m := low
					if n.IsDedicated {
						m = ded
					}
					if name, ok := nodeCountNames[n.State]; ok {
						m[name]++
					} else {
						m["unknown"]++
					}
					m["total"]++
				}
				if nnext == "" || err != nil {
					break
				}
				npage.Token = nnext
			}
			b, _ := json.Marshal(map[string]any{"poolId": p.ID, "dedicated": ded, "lowPriority": low})
			items = append(items, listItem{body: b, fields: map[string]string{"poolId": p.ID}})
		}
		if next == "" {
			break
		}
		page.Token = next
	}
	return rc.list("poolnodecounts", items, filter)
}
