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
	AccountGet(ctx context.Context, name string) (*batch.Account, error)
	PoolCreate(ctx context.Context, acct *batch.Account, spec *batch.Spec) (*batch.Pool, error)
	PoolGet(ctx context.Context, accountKey, poolID string) (*batch.Pool, error)
	PoolList(ctx context.Context, accountKey string, page store.Page) ([]*batch.Pool, string, error)
	PoolDelete(ctx context.Context, accountKey, poolID string, c batch.Conditions) (*batch.Pool, error)
	PoolPatch(ctx context.Context, acct *batch.Account, poolID string, spec *batch.Spec, arm bool, c batch.Conditions) (*batch.Pool, string, error)
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
	PoolEvaluateAutoScale(ctx context.Context, accountKey, poolID, formula string) (*batch.AutoScaleRun, error)
}

func poolPath(id string) string         { return "/pools/" + url.PathEscape(id) }
func nodePath(pool, node string) string { return poolPath(pool) + "/nodes/" + url.PathEscape(node) }

func (rc *reqCtx) accountKey() string { return strings.ToLower(rc.account.ID) }

// requirePools writes 501 when no pool service is configured.
func (rc *reqCtx) requirePools() bool {
	if rc.s.pools() == nil {
		rc.writeError(newError(http.StatusNotImplemented, "NotImplemented", "Pools are not available on this server."))
		return false
	}
	return true
}

// poolAccount returns the pool service's view of the request's account.
func (rc *reqCtx) poolAccount() (*batch.Account, error) {
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
	b, _ := json.Marshal(dropEmptyTimes(batch.RenderDataPlane(p, rc.entityURL(poolPath(p.ID)))))
	return b
}

func (rc *reqCtx) renderNode(n *batch.Node) []byte {
	b, _ := json.Marshal(dropEmptyTimes(batch.RenderNodeDataPlane(n, rc.entityURL(nodePath(n.PoolID, n.ID)))))
	return b
}

// dropEmptyTimes removes time properties rendered as "" (a zero time): the Go
// client fails to parse an empty date, while an absent one is simply nil.
func dropEmptyTimes(v any) any {
	switch m := v.(type) {
	case map[string]any:
		for k, x := range m {
			if s, ok := x.(string); ok && s == "" && (strings.HasSuffix(k, "Time") || k == "lastModified" || k == "timestamp") {
				delete(m, k)
				continue
			}
			m[k] = dropEmptyTimes(x)
		}
	case []any:
		for i := range m {
			m[i] = dropEmptyTimes(m[i])
		}
	case []map[string]any:
		for i := range m {
			dropEmptyTimes(m[i])
		}
	}
	return v
}

// finishPool answers a pool write with the pool's ETag, Last-Modified and DataServiceId.
func (rc *reqCtx) finishPool(p *batch.Pool, err error, status int) {
	if err != nil {
		rc.writeError(err)
		return
	}
	rc.setEntityHeaders(p.ETag, p.LastModified, rc.entityURL(poolPath(p.ID)))
	rc.writeEmpty(status)
}

// refuseIdentity is the answer to a data-plane pool body with "identity".
func refuseIdentity() *apiError {
	return newError(http.StatusBadRequest, codeUnsupportedProp,
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
func (rc *reqCtx) decodePoolBody(mode batch.DPMode) (*batch.Spec, error) {
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
	return batch.DecodeDataPlanePool(b, mode)
}

func hAddPool(rc *reqCtx, _ pathParams) {
	if !rc.requirePools() {
		return
	}
	spec, err := rc.decodePoolBody(batch.DPAdd)
	if err != nil {
		rc.writeError(err)
		return
	}
	acct, err := rc.poolAccount()
	if err != nil {
		rc.writeError(err)
		return
	}
	p, err := rc.s.pools().PoolCreate(rc.r.Context(), acct, spec)
	if err == nil {
		rc.w.Header().Set("Location", rc.entityURL(poolPath(p.ID)))
	}
	rc.finishPool(p, err, http.StatusCreated)
}

func hGetPool(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	if err := rc.expandParam(); err != nil {
		rc.writeError(err)
		return
	}
	pool, err := rc.s.pools().PoolGet(rc.r.Context(), rc.accountKey(), p.pool)
	if err != nil {
		rc.writeError(err)
		return
	}
	if err := rc.checkConditions(pool.ETag, pool.LastModified, true); err != nil {
		rc.writeError(err)
		return
	}
	rc.setEntityHeaders(pool.ETag, pool.LastModified, "")
	rc.writeRaw(http.StatusOK, applySelect(rc.renderPool(pool), rc.selectParam()))
}

// hPoolExists answers HEAD /pools/{id}: 200 when it exists, 404 when not.
func hPoolExists(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	pool, err := rc.s.pools().PoolGet(rc.r.Context(), rc.accountKey(), p.pool)
	if err != nil {
		rc.writeError(err)
		return
	}
	if err := rc.checkConditions(pool.ETag, pool.LastModified, true); err != nil {
		rc.writeError(err)
		return
	}
	rc.setEntityHeaders(pool.ETag, pool.LastModified, "")
	rc.writeEmpty(http.StatusOK)
}

var poolFilterFields = []string{"state", "id", "allocationState", "vmSize", "displayName"}

func hListPools(rc *reqCtx, _ pathParams) {
	if !rc.requirePools() {
		return
	}
	if err := rc.expandParam(); err != nil {
		rc.writeError(err)
		return
	}
	filter, err := rc.filterParam(poolFilterFields)
	if err != nil {
		rc.writeError(err)
		return
	}
	rc.writePaged("pools", func(ctx context.Context, max int, token string) ([]listItem, string, error) {
		list, next, err := rc.s.pools().PoolList(ctx, rc.accountKey(), store.Page{Limit: max, Token: token})
		items := make([]listItem, 0, len(list))
		for _, p := range list {
			items = append(items, listItem{body: rc.renderPool(p), fields: map[string]string{"state": p.State, "id": p.ID,
				"allocationState": p.AllocationState, "vmSize": strings.ToLower(p.VMSize), "displayName": p.DisplayName}})
		}
		return items, next, err
	}, filter)
}

func hDeletePool(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	if err := rc.poolTimeConditions(p.pool); err != nil {
		rc.writeError(err)
		return
	}
	pool, err := rc.s.pools().PoolDelete(rc.r.Context(), rc.accountKey(), p.pool, rc.poolConditions())
	if err != nil {
		rc.writeError(err)
		return
	}
	rc.w.Header().Set("DataServiceId", rc.entityURL(poolPath(pool.ID)))
	rc.writeEmpty(http.StatusAccepted)
}

func hPatchPool(rc *reqCtx, p pathParams) {
	rc.modifyPool(p, batch.DPPatch, http.StatusOK)
}

func hUpdatePoolProperties(rc *reqCtx, p pathParams) {
	rc.modifyPool(p, batch.DPReplace, http.StatusNoContent)
}

func (rc *reqCtx) modifyPool(p pathParams, mode batch.DPMode, status int) {
	if !rc.requirePools() {
		return
	}
	if err := rc.poolTimeConditions(p.pool); err != nil {
		rc.writeError(err)
		return
	}
	spec, err := rc.decodePoolBody(mode)
	if err != nil {
		rc.writeError(err)
		return
	}
	acct, err := rc.poolAccount()
	if err != nil {
		rc.writeError(err)
		return
	}
	pool, _, err := rc.s.pools().PoolPatch(rc.r.Context(), acct, p.pool, spec, false, rc.poolConditions())
	rc.finishPool(pool, err, status)
}

func hResizePool(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	if err := rc.poolTimeConditions(p.pool); err != nil {
		rc.writeError(err)
		return
	}
	b, err := rc.readBody(maxBody)
	if err != nil {
		rc.writeError(err)
		return
	}
	var probe any
	if err := decodeBody(b, &probe, false); err != nil {
		rc.writeError(err)
		return
	}
	req, err := batch.DecodeResize(b)
	if err != nil {
		rc.writeError(err)
		return
	}
	pool, err := rc.s.pools().PoolResize(rc.r.Context(), rc.accountKey(), p.pool, *req, rc.poolConditions())
	rc.finishPool(pool, err, http.StatusAccepted)
}

func hStopResize(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	if err := rc.poolTimeConditions(p.pool); err != nil {
		rc.writeError(err)
		return
	}
	pool, err := rc.s.pools().PoolStopResize(rc.r.Context(), rc.accountKey(), p.pool, rc.poolConditions())
	rc.finishPool(pool, err, http.StatusAccepted)
}

func hEnableAutoScale(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	var body struct {
		AutoScaleFormula            string `json:"autoScaleFormula"`
		AutoScaleEvaluationInterval string `json:"autoScaleEvaluationInterval"`
	}
	if err := rc.decodeJSON(maxBody, &body, false); err != nil {
		rc.writeError(err)
		return
	}
	as, ok := rc.s.pools().(poolAutoScaler)
	if !ok {
		if _, err := rc.s.pools().PoolGet(rc.r.Context(), rc.accountKey(), p.pool); err != nil {
			rc.writeError(err)
			return
		}
		rc.writeError(autoScaleUnsupported())
		return
	}
	pool, err := as.PoolEnableAutoScale(rc.r.Context(), rc.accountKey(), p.pool, body.AutoScaleFormula,
		body.AutoScaleEvaluationInterval, rc.poolConditions())
	rc.finishPool(pool, err, http.StatusOK)
}

func autoScaleUnsupported() *apiError {
	return newError(http.StatusConflict, codeInvalidState,
		"Autoscale formulas are not supported by this server; resize the pool to fixed target node counts instead.",
		"Reason", "AutoScaleNotSupported")
}

func hDisableAutoScale(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	pool, err := rc.s.pools().PoolDisableAutoScale(rc.r.Context(), rc.accountKey(), p.pool)
	rc.finishPool(pool, err, http.StatusOK)
}

// hEvaluateAutoScale evaluates a formula against an autoscaled pool without
// applying it; 409 when the pool service offers no autoscale.
func hEvaluateAutoScale(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	var body struct {
		AutoScaleFormula string `json:"autoScaleFormula"`
	}
	if err := rc.decodeJSON(maxBody, &body, false); err != nil {
		rc.writeError(err)
		return
	}
	if body.AutoScaleFormula == "" {
		rc.writeError(missingProperty("autoScaleFormula"))
		return
	}
	as, ok := rc.s.pools().(poolAutoScaler)
	if !ok {
		if _, err := rc.s.pools().PoolGet(rc.r.Context(), rc.accountKey(), p.pool); err != nil {
			rc.writeError(err)
			return
		}
		rc.writeError(autoScaleUnsupported())
		return
	}
	run, err := as.PoolEvaluateAutoScale(rc.r.Context(), rc.accountKey(), p.pool, body.AutoScaleFormula)
	if err != nil {
		rc.writeError(err)
		return
	}
	rc.writeJSON(http.StatusOK, batch.AutoScaleRunDataPlane(run))
}

func hRemoveNodes(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	var body struct {
		NodeList               []string `json:"nodeList"`
		ResizeTimeout          string   `json:"resizeTimeout"`
		NodeDeallocationOption string   `json:"nodeDeallocationOption"`
	}
	if err := rc.decodeJSON(maxBody, &body, false); err != nil {
		rc.writeError(err)
		return
	}
	if len(body.NodeList) == 0 {
		rc.writeError(missingProperty("nodeList"))
		return
	}
	if len(body.NodeList) > 100 {
		rc.writeError(invalidProperty("nodeList", "", "At most 100 nodes can be removed in one request."))
		return
	}
	ctx := rc.r.Context()
	if err := rc.s.pools().NodeRemove(ctx, rc.accountKey(), p.pool, body.NodeList, body.NodeDeallocationOption); err != nil {
		rc.writeError(err)
		return
	}
	if pool, err := rc.s.pools().PoolGet(ctx, rc.accountKey(), p.pool); err == nil {
		rc.setEntityHeaders(pool.ETag, pool.LastModified, rc.entityURL(poolPath(pool.ID)))
	}
	rc.writeEmpty(http.StatusAccepted)
}

var nodeFilterFields = []string{"state", "id", "schedulingState"}

func hListNodes(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	filter, err := rc.filterParam(nodeFilterFields)
	if err != nil {
		rc.writeError(err)
		return
	}
	rc.writePaged("nodes", func(ctx context.Context, max int, token string) ([]listItem, string, error) {
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

func hGetNode(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	n, err := rc.s.pools().NodeGet(rc.r.Context(), rc.accountKey(), p.pool, p.node)
	if err != nil {
		rc.writeError(err)
		return
	}
	rc.writeRaw(http.StatusOK, applySelect(rc.renderNode(n), rc.selectParam()))
}

func hNodeAction(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	var body struct {
		NodeRebootOption string `json:"nodeRebootOption"`
	}
	if err := rc.decodeJSON(maxBody, &body, true); err != nil {
		rc.writeError(err)
		return
	}
	ctx := rc.r.Context()
	switch p.action {
	case "reboot":
		if err := rc.s.pools().NodeReboot(ctx, rc.accountKey(), p.pool, p.node); err != nil {
			rc.writeError(err)
			return
		}
	default:
		if _, err := rc.s.pools().NodeGet(ctx, rc.accountKey(), p.pool, p.node); err != nil {
			rc.writeError(err)
			return
		}
		rc.writeError(newError(http.StatusConflict, codeInvalidState,
			"The operation '"+p.action+"' is not supported for compute nodes of this server.",
			"Reason", "OperationNotSupported"))
		return
	}
	rc.w.Header().Set("DataServiceId", rc.entityURL(nodePath(p.pool, p.node)))
	rc.writeEmpty(http.StatusAccepted)
}

// hNodeScheduling serves enablescheduling and disablescheduling through the
// pool service; a pool service that cannot do it gets 409 after the node is
// found to exist.
func hNodeScheduling(rc *reqCtx, p pathParams) {
	if !rc.requirePools() {
		return
	}
	ns, ok := rc.s.pools().(nodeScheduler)
	if !ok {
		if _, err := rc.s.pools().NodeGet(rc.r.Context(), rc.accountKey(), p.pool, p.node); err != nil {
			rc.writeError(err)
			return
		}
		rc.writeError(newError(http.StatusConflict, codeInvalidState,
			"Enabling and disabling task scheduling on a node is not supported by this server.",
			"Reason", "OperationNotSupported"))
		return
	}
	// The body of disablescheduling (nodeDisableSchedulingOption) is optional;
	// running tasks finish either way on this server.
	enable := strings.HasSuffix(strings.ToLower(rc.r.URL.Path), "/enablescheduling")
	if err := ns.NodeSetScheduling(rc.r.Context(), rc.accountKey(), p.pool, p.node, enable); err != nil {
		rc.writeError(err)
		return
	}
	rc.setEntityHeaders("", time.Time{}, rc.entityURL(poolPath(p.pool)+"/nodes/"+p.node))
	rc.writeEmpty(http.StatusOK)
}

// nodeScheduler is implemented by a pool service that can stop placing tasks on a node.
type nodeScheduler interface {
	NodeSetScheduling(ctx context.Context, accountKey, poolID, nodeID string, enabled bool) error
}

func hListSupportedImages(rc *reqCtx, _ pathParams) {
	filter, err := rc.filterParam([]string{"nodeAgentSKUId", "osType", "verificationType"})
	if err != nil {
		rc.writeError(err)
		return
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
	rc.writeList("supportedimages", items, filter)
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

func hListNodeCounts(rc *reqCtx, _ pathParams) {
	if !rc.requirePools() {
		return
	}
	filter, err := rc.filterParam([]string{"poolId"})
	if err != nil {
		rc.writeError(err)
		return
	}
	ctx := rc.r.Context()
	var items []listItem
	page := store.Page{Limit: 1000}
	for {
		pools, next, err := rc.s.pools().PoolList(ctx, rc.accountKey(), page)
		if err != nil {
			rc.writeError(err)
			return
		}
		for _, p := range pools {
			ded, low := newNodeCounts(), newNodeCounts()
			npage := store.Page{Limit: 1000}
			for {
				nodes, nnext, err := rc.s.pools().NodeList(ctx, rc.accountKey(), p.ID, npage)
				if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
					rc.writeError(err)
					return
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
	rc.writeList("poolnodecounts", items, filter)
}

// hListUsageMetrics lists pool usage metrics: none are collected.
func hListUsageMetrics(rc *reqCtx, _ pathParams) {
	rc.writeList("poolusagemetrics", nil, nil)
}
