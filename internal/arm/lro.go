package arm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Long-running operations are stored as generic resources of this type, so
// that any replica can answer their status.
const typeOperation = "Microsoft.Resources/operationResults"

// Operation statuses, as ARM reports them.
const (
	OpInProgress = "InProgress"
	OpSucceeded  = "Succeeded"
	OpFailed     = "Failed"
	OpCanceled   = "Canceled"
)

type operationRecord struct {
	Status     string          `json:"status"`
	StartTime  time.Time       `json:"startTime"`
	EndTime    *time.Time      `json:"endTime,omitempty"`
	Caller     string          `json:"caller"`
	ResourceID string          `json:"resourceId,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	HTTPStatus int             `json:"httpStatus,omitempty"`
	Error      *ErrorBody      `json:"error,omitempty"`
	RetryAfter int             `json:"retryAfter,omitempty"`
	APIVersion string          `json:"apiVersion,omitempty"`
	// Kind names the provider's resume function (LRO.Kind), if any.
	Kind string `json:"kind,omitempty"`
	// Owner is the process running the operation; LeaseUntil is when
	// another replica may take it over unless Owner renews it first.
	Owner      string     `json:"owner,omitempty"`
	LeaseUntil *time.Time `json:"leaseUntil,omitempty"`
}

// OperationStatus is the body of an Azure-AsyncOperation status endpoint.
type OperationStatus struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Status    string     `json:"status"`
	StartTime time.Time  `json:"startTime"`
	EndTime   *time.Time `json:"endTime,omitempty"`
	Error     *ErrorBody `json:"error,omitempty"`
}

type operations struct {
	s       *Server
	started time.Time // when this front door was made
	base    context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// replica identifies this process as the owner of the operations it runs.
	replica string
	mu      sync.Mutex
	mine    map[string]cobalt.ResourceID // operations this process runs, by key
	resume  map[string]ResumeFunc        // LRO.Kind -> how to finish it elsewhere
}

func newOperations(s *Server) *operations {
	ctx, cancel := context.WithCancel(context.Background())
	return &operations{s: s, base: ctx, cancel: cancel, started: s.cfg.Now().UTC(),
		replica: newGUID(), mine: map[string]cobalt.ResourceID{}, resume: map[string]ResumeFunc{}}
}

// operationRetention is how long a finished operation's result stays
// available to pollers.
const operationRetention = time.Hour

func (o *operations) run(ctx context.Context) error {
	if o.s.cfg.Store.Dialect() == "sqlite" && o.s.cfg.OperationPoll <= 0 {
		// One process owns a SQLite store: operations it left in progress
		// were interrupted by a restart and will never finish.
		if err := o.failInterrupted(ctx); err != nil {
			o.s.log.Warn("failing interrupted operations failed", logkey.Err, err)
		}
	}
	tick := time.NewTicker(10 * time.Minute)
	defer tick.Stop()
	var leases <-chan time.Time
	if o.s.cfg.OperationPoll > 0 {
		t := time.NewTicker(o.s.cfg.OperationPoll)
		defer t.Stop()
		leases = t.C
	}
	for {
		select {
		case <-ctx.Done():
			o.cancel()
			o.wg.Wait()
			return nil
		case <-leases:
			o.renew(ctx)
			if err := o.takeOver(ctx); err != nil && ctx.Err() == nil {
				o.s.log.Warn("taking over abandoned operations failed", logkey.Err, err)
			}
		case <-tick.C:
			if err := o.collect(ctx); err != nil && ctx.Err() == nil {
				o.s.log.Warn("collecting finished operations failed", logkey.Err, err)
			}
		}
	}
}

// failInterrupted marks the operations recorded as in progress before this
// process started as failed.
func (o *operations) failInterrupted(ctx context.Context) error {
	started := o.started
	tok := ""
	for {
		rs, next, err := o.s.cfg.Store.ResourceList(ctx, store.ResourceListParams{Type: typeOperation, Page: store.Page{Limit: 500, Token: tok}})
		if err != nil {
			return err
		}
		for _, r := range rs {
			var rec operationRecord
			if json.Unmarshal(r.Body, &rec) != nil || rec.Status != OpInProgress || !rec.StartTime.Before(started) {
				continue
			}
			id, err := cobalt.ParseResourceID(r.ID)
			if err != nil {
				continue
			}
			o.finish(id, nil, cobalt.Errorf(cobalt.EInternal, "the operation was interrupted by a restart").WithReason("OperationInterrupted"))
		}
		if next == "" {
			return nil
		}
		tok = next
	}
}

// collect deletes the records of operations that finished more than
// operationRetention ago.
func (o *operations) collect(ctx context.Context) error {
	cutoff := o.s.cfg.Now().Add(-operationRetention)
	tok := ""
	for {
		rs, next, err := o.s.cfg.Store.ResourceList(ctx, store.ResourceListParams{Type: typeOperation, Page: store.Page{Limit: 500, Token: tok}})
		if err != nil {
			return err
		}
		for _, r := range rs {
			var rec operationRecord
			if json.Unmarshal(r.Body, &rec) != nil || (rec.EndTime != nil && rec.EndTime.Before(cutoff)) {
				if err := o.s.cfg.Store.ResourceDelete(ctx, r.Key); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
					return err
				}
			}
		}
		if next == "" {
			return nil
		}
		tok = next
	}
}

// route matches the operation endpoints,
// GET /subscriptions/{subscriptionId}/operationresults/{operationId} and
// .../operationstatuses/{operationId}, case-insensitively (they are matched
// before the providers' routes, whose literals cannot shadow them).
func (o *operations) route(r *http.Request) (Route, bool) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(segs) != 4 || !strings.EqualFold(segs[0], "subscriptions") || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return Route{}, false
	}
	r.SetPathValue("subscriptionId", segs[1])
	r.SetPathValue("operationId", segs[3])
	switch strings.ToLower(segs[2]) {
	case "operationresults":
		return Route{Pattern: "GET /subscriptions/{subscriptionId}/operationresults/{operationId}", Handler: o.handleResult}, true
	case "operationstatuses":
		return Route{Pattern: "GET /subscriptions/{subscriptionId}/operationstatuses/{operationId}", Handler: o.handleStatus}, true
	}
	return Route{}, false
}

func operationID(sub, name string) cobalt.ResourceID {
	return cobalt.ResourceID{SubscriptionID: sub, Namespace: "Microsoft.Resources", Types: []string{"operationResults"}, Names: []string{name}}
}

// startOperation implements Request.Accepted.
func (s *Server) startOperation(w http.ResponseWriter, r *Request, opts LRO, fn func(ctx context.Context) (any, error)) error {
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 1
	}
	sub := r.ID.SubscriptionID
	if sub == "" {
		sub = s.cfg.SubscriptionID
	}
	name := newGUID()
	o := s.ops
	lease := s.cfg.Now().UTC().Add(s.operationLease())
	rec := operationRecord{Status: OpInProgress, StartTime: s.cfg.Now().UTC(), Caller: r.Caller.ObjectID,
		ResourceID: r.ID.String(), RetryAfter: opts.RetryAfter, APIVersion: r.APIVersion,
		Kind: opts.Kind, Owner: o.replica, LeaseUntil: &lease}
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	opID := operationID(sub, name)
	if _, err := s.cfg.Store.ResourceCreate(r.Context(), NewResource(opID, body)); err != nil {
		return err
	}
	o.launch(opID, fn)
	h := w.Header()
	h.Set("Location", s.opURL(r.Request, "operationresults", sub, name))
	if opts.AsyncHeader {
		h.Set("Azure-AsyncOperation", s.opURL(r.Request, "operationstatuses", sub, name))
	}
	h.Set("Retry-After", strconv.Itoa(opts.RetryAfter))
	if opts.Initial != nil {
		writeJSON(w, http.StatusAccepted, "", opts.Initial)
		return nil
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Server) opURL(r *http.Request, kind, sub, name string) string {
	q := url.Values{}
	v := r.URL.Query().Get("api-version")
	if v != "" {
		q.Set("api-version", v)
	}
	u := url.URL{Scheme: "https", Host: r.Host, Path: "/subscriptions/" + sub + "/" + kind + "/" + name, RawQuery: q.Encode()}
	if r.TLS == nil && r.Header.Get("X-Forwarded-Proto") == "http" {
		u.Scheme = "http"
	}
	return u.String()
}

func (o *operations) finish(opID cobalt.ResourceID, res any, fnErr error) {
	ctx := context.WithoutCancel(o.base)
	_, err := o.s.cfg.Store.ResourceUpdate(ctx, opID.Key(), func(r *store.Resource) error {
		var rec operationRecord
		if err := json.Unmarshal(r.Body, &rec); err != nil {
			return err
		}
		if rec.Status != OpInProgress {
			// Another replica finished it first (it took it over).
			return errFinished
		}
		end := o.s.cfg.Now().UTC()
		rec.LeaseUntil = nil
		rec.EndTime = &end
		if fnErr != nil {
			rec.Status = OpFailed
			if o.base.Err() != nil {
				rec.Status = OpCanceled
			}
			st, body := errorBodyOf(fnErr)
			rec.HTTPStatus, rec.Error = st, &body
			if cobalt.ErrorCode(fnErr) == cobalt.EInternal {
				o.s.log.Error("long-running operation failed", logkey.Operation, opID.String(), logkey.Err, fnErr)
			}
		} else {
			rec.Status = OpSucceeded
			if res != nil {
				b, err := json.Marshal(res)
				if err != nil {
					return err
				}
				rec.Result = b
			}
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		r.Body = b
		return nil
	})
	if err != nil && !errors.Is(err, errFinished) {
		o.s.log.Error("recording a long-running operation failed", logkey.Operation, opID.String(), logkey.Err, err)
	}
}

func (o *operations) load(r *Request) (cobalt.ResourceID, operationRecord, error) {
	sub := r.PathValue("subscriptionId")
	name := r.PathValue("operationId")
	opID := operationID(sub, name)
	var rec operationRecord
	res, err := o.s.cfg.Store.ResourceGet(r.Context(), opID.Key())
	if err == nil {
		err = json.Unmarshal(res.Body, &rec)
	}
	if err != nil || !strings.EqualFold(rec.Caller, r.Caller.ObjectID) {
		if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return opID, rec, err
		}
		return opID, rec, cobalt.Errorf(cobalt.ENotFound, "The operation '%s' could not be found.", name).WithReason("OperationNotFound")
	}
	return opID, rec, nil
}

// handleResult answers a Location poll.
func (o *operations) handleResult(w http.ResponseWriter, r *Request) error {
	_, rec, err := o.load(r)
	if err != nil {
		return err
	}
	switch rec.Status {
	case OpInProgress:
		w.Header().Set("Location", o.s.opURL(r.Request, "operationresults", r.PathValue("subscriptionId"), r.PathValue("operationId")))
		w.Header().Set("Retry-After", strconv.Itoa(max(rec.RetryAfter, 1)))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return nil
	case OpSucceeded:
		if len(rec.Result) == 0 {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(rec.Result)
		return nil
	default:
		st := rec.HTTPStatus
		if st == 0 {
			st = http.StatusInternalServerError
		}
		body := ErrorBody{Code: "OperationFailed", Message: "The operation failed."}
		if rec.Error != nil {
			body = *rec.Error
		}
		writeJSON(w, st, "", ErrorResponse{Error: body})
		return nil
	}
}

// handleStatus answers an Azure-AsyncOperation poll.
func (o *operations) handleStatus(w http.ResponseWriter, r *Request) error {
	opID, rec, err := o.load(r)
	if err != nil {
		return err
	}
	if rec.Status == OpInProgress {
		w.Header().Set("Retry-After", strconv.Itoa(max(rec.RetryAfter, 1)))
	}
	writeJSON(w, http.StatusOK, "", OperationStatus{ID: opID.String(), Name: opID.Name(), Status: rec.Status,
		StartTime: rec.StartTime, EndTime: rec.EndTime, Error: rec.Error})
	return nil
}
