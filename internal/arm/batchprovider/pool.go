package batchprovider

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/errwire"
)

const assignAction = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"

func conditions(r *arm.Request) batch.Conditions {
	return batch.Conditions{IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match")}
}

func (p *Provider) writePool(w http.ResponseWriter, acct *cobalt.Account, pool *batch.Pool, warn string) {
	warningHeader(w, warn)
	arm.WriteJSON(w, http.StatusOK, pool.ETag, renderPool(&pool.Pool, acct.ID))
}

// checkLinked requires the assign action on every identity the spec attaches
// that the pool does not carry yet.
func (p *Provider) checkLinked(r *arm.Request, acct *cobalt.Account, poolID string, spec *batch.Spec) error {
	if !spec.Present[batch.FIdentity] || spec.Pool.Identity == nil {
		return nil
	}
	have := map[string]bool{}
	if cur, err := p.cfg.Pools.PoolGet(r.Context(), acct.Key(), poolID); err == nil {
		for _, i := range cur.Identities() {
			have[strings.ToLower(i.ResourceID)] = true
		}
	}
	for _, i := range spec.Pool.Identity.Identities {
		if have[strings.ToLower(i.ResourceID)] {
			continue
		}
		id, err := cobalt.ParseResourceID(i.ResourceID)
		if err != nil {
			continue // ResolveIdentities names the bad value
		}
		if err := r.CheckLinked(assignAction, id); err != nil {
			return err
		}
	}
	return nil
}

func (p *Provider) handlePutPool(w http.ResponseWriter, r *arm.Request) error {
	body, err := jsonBody(r)
	if err != nil {
		return err
	}
	spec, err := DecodeARMPool(body)
	if err != nil {
		return err
	}
	acct, _, err := p.loadAccount(r.Context(), r.ID.Parent())
	if err != nil {
		return err
	}
	poolID := r.PathValue("poolName")
	if err := p.checkLinked(r, acct, poolID, spec); err != nil {
		return err
	}
	pool, _, warn, err := p.cfg.Pools.PoolPut(r.Context(), acct, poolID, spec, conditions(r))
	if err != nil {
		return err
	}
	p.writePool(w, acct, pool, warn)
	return nil
}

func (p *Provider) handlePatchPool(w http.ResponseWriter, r *arm.Request) error {
	body, err := jsonBody(r)
	if err != nil {
		return err
	}
	spec, err := DecodeARMPool(body)
	if err != nil {
		return err
	}
	acct, _, err := p.loadAccount(r.Context(), r.ID.Parent())
	if err != nil {
		return err
	}
	poolID := r.PathValue("poolName")
	if err := p.checkLinked(r, acct, poolID, spec); err != nil {
		return err
	}
	pool, warn, err := p.cfg.Pools.PoolPatch(r.Context(), acct, poolID, spec, true, conditions(r))
	if err != nil {
		return poolErr(r, err)
	}
	p.writePool(w, acct, pool, warn)
	return nil
}

// poolErr maps the pool service's PoolNotFound to ARM's ResourceNotFound.
func poolErr(r *arm.Request, err error) error {
	if cobalt.ErrorReason(err) == errwire.ReasonPoolNotFound {
		return arm.NotFound(r.ID)
	}
	return err
}

func (p *Provider) handleGetPool(w http.ResponseWriter, r *arm.Request) error {
	acctID := r.ID.Parent()
	body, etag, err := p.cfg.Pools.PoolRendered(r.Context(), acctID.String(), r.PathValue("poolName"), "arm\x00"+acctID.String(),
		func(pl *cobalt.Pool) ([]byte, error) { return json.Marshal(renderPool(pl, acctID.String())) })
	if cobalt.ErrorReason(err) == errwire.ReasonPoolNotFound {
		// Tell a missing account from a missing pool.
		if _, _, aerr := p.loadAccount(r.Context(), acctID); aerr != nil {
			return aerr
		}
		return arm.NotFound(r.ID)
	}
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("ETag", etag)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

func (p *Provider) handleListPools(w http.ResponseWriter, r *arm.Request) error {
	acct, _, err := p.loadAccount(r.Context(), r.ID)
	if err != nil {
		return err
	}
	page, err := r.PageToken(100)
	if err != nil {
		return err
	}
	if m := r.URL.Query().Get("maxresults"); m != "" {
		var n int
		for _, c := range m {
			if c < '0' || c > '9' || n > 1e6 {
				return arm.Invalid("InvalidParameter", "maxresults", "maxresults must be a positive integer.")
			}
			n = n*10 + int(c-'0')
		}
		if n > 0 {
			page.Limit = n
		}
	}
	pools, next, err := p.cfg.Pools.PoolList(r.Context(), acct.Key(), page)
	if err != nil {
		return err
	}
	items := make([]armPool, 0, len(pools))
	for _, pl := range pools {
		items = append(items, renderPool(&pl.Pool, acct.ID))
	}
	r.WriteList(w, items, next)
	return nil
}

func (p *Provider) handleDeletePool(w http.ResponseWriter, r *arm.Request) error {
	acct, _, err := p.loadAccount(r.Context(), r.ID.Parent())
	if err != nil {
		return err
	}
	poolID := r.PathValue("poolName")
	if _, err := p.cfg.Pools.PoolDelete(r.Context(), acct.Key(), poolID, conditions(r)); err != nil {
		if cobalt.ErrorReason(err) == errwire.ReasonPoolNotFound {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return err
	}
	return r.Accepted(w, arm.LRO{RetryAfter: 1, Kind: lroPoolDelete}, func(ctx context.Context) (any, error) {
		return p.finishPoolDelete(ctx, r.ID)
	})
}

// finishPoolDelete waits until the pool id, whose deletion has started, is gone.
func (p *Provider) finishPoolDelete(ctx context.Context, id cobalt.ResourceID) (any, error) {
	acct, _, err := p.loadAccount(ctx, accountOf(id))
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	key, poolID := acct.Key(), id.Name()
	for {
		_, err := p.cfg.Pools.PoolGet(ctx, key, poolID)
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		p.cfg.Pools.Wake()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *Provider) handleDisableAutoScale(w http.ResponseWriter, r *arm.Request) error {
	acct, _, err := p.loadAccount(r.Context(), r.ID.Parent())
	if err != nil {
		return err
	}
	pool, err := p.cfg.Pools.PoolDisableAutoScale(r.Context(), acct.Key(), r.PathValue("poolName"))
	if err != nil {
		return poolErr(r, err)
	}
	p.writePool(w, acct, pool, "")
	return nil
}

func (p *Provider) handleStopResize(w http.ResponseWriter, r *arm.Request) error {
	acct, _, err := p.loadAccount(r.Context(), r.ID.Parent())
	if err != nil {
		return err
	}
	pool, err := p.cfg.Pools.PoolStopResize(r.Context(), acct.Key(), r.PathValue("poolName"), batch.Conditions{})
	if err != nil {
		return poolErr(r, err)
	}
	p.writePool(w, acct, pool, "")
	return nil
}
