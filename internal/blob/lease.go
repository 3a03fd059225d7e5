package blob

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Lease states as the service reports them.
const (
	leaseAvailable = "available"
	leaseLeased    = "leased"
	leaseExpired   = "expired"
	leaseBreaking  = "breaking"
	leaseBroken    = "broken"
)

// leaseState is the state of l at now: a fixed lease past its end is
// expired, a breaking lease past its break time is broken.
func leaseState(l store.BlobLease, now time.Time) string {
	switch l.State {
	case leaseLeased:
		if l.Duration > 0 && !now.Before(l.Expires) {
			return leaseExpired
		}
		return leaseLeased
	case leaseBreaking:
		if !now.Before(l.BreakAt) {
			return leaseBroken
		}
		return leaseBreaking
	case leaseBroken:
		return leaseBroken
	}
	return leaseAvailable
}

// leaseActive reports whether the lease locks writes (leased or breaking).
func leaseActive(state string) bool { return state == leaseLeased || state == leaseBreaking }

// leaseProps returns the status, state and duration ("" unless leased) shown in properties and listings.
func leaseProps(l store.BlobLease, now time.Time) (status, state, duration string) {
	state = leaseState(l, now)
	status = "unlocked"
	if leaseActive(state) {
		status = "locked"
	}
	if state == leaseLeased {
		duration = "fixed"
		if l.Duration < 0 {
			duration = "infinite"
		}
	}
	return status, state, duration
}

func setLeaseHeaders(h http.Header, l store.BlobLease, now time.Time) {
	status, state, duration := leaseProps(l, now)
	h.Set("x-ms-lease-status", status)
	h.Set("x-ms-lease-state", state)
	if duration != "" {
		h.Set("x-ms-lease-duration", duration)
	}
}

// leaseKind names what a lease is on, for the error codes: "Blob" or "Container".
type leaseKind string

const (
	kindBlob      leaseKind = "Blob"
	kindContainer leaseKind = "Container"
)

// checkLeaseWrite enforces a lease on a write or delete: an active lease
// needs its ID in x-ms-lease-id; an ID with no active lease fails.
func checkLeaseWrite(l store.BlobLease, now time.Time, id string, kind leaseKind) error {
	state := leaseState(l, now)
	switch {
	case leaseActive(state) && id == "":
		return apiErr(cobalt.EPreconditionFailed, "LeaseIdMissing", "There is currently a lease on the %s and no lease ID was specified in the request.", strings.ToLower(string(kind)))
	case leaseActive(state) && !strings.EqualFold(id, l.ID):
		return apiErr(cobalt.EPreconditionFailed, "LeaseIdMismatchWith"+string(kind)+"Operation", "The lease ID specified did not match the lease ID for the %s.", strings.ToLower(string(kind)))
	case !leaseActive(state) && id != "":
		return apiErr(cobalt.EPreconditionFailed, "LeaseNotPresentWith"+string(kind)+"Operation", "There is currently no lease on the %s.", strings.ToLower(string(kind)))
	}
	return nil
}

// checkLeaseIfGiven enforces x-ms-lease-id only when the request sends one
// (reads, Set Blob Tier, Set Blob Tags, container metadata and ACL).
func checkLeaseIfGiven(l store.BlobLease, now time.Time, id string, kind leaseKind) error {
	if id == "" {
		return nil
	}
	return checkLeaseWrite(l, now, id, kind)
}

// leaseRequest is a parsed Lease Blob or Lease Container request.
type leaseRequest struct {
	action      string
	id          string
	proposed    string
	duration    int
	breakPeriod int // -1 when not given
}

func badLeaseHeader(name string) error {
	return apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget(name)
}

func missingHeader(name string) error {
	return apiErr(cobalt.EInvalid, codeMissingHeader, "An HTTP header that's mandatory for this request is not specified.").WithTarget(name)
}

// validGUID accepts the 8-4-4-4-12 hexadecimal form (braces allowed, as .NET parses them).
func validGUID(s string) bool {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// parseLeaseRequest reads the x-ms-lease-* headers of a lease operation.
func parseLeaseRequest(h http.Header) (leaseRequest, error) {
	lr := leaseRequest{action: strings.ToLower(h.Get("x-ms-lease-action")), id: h.Get("x-ms-lease-id"), proposed: h.Get("x-ms-proposed-lease-id"), breakPeriod: -1}
	switch lr.action {
	case "":
		return lr, missingHeader("x-ms-lease-action")
	case "acquire", "renew", "change", "release", "break":
	default:
		return lr, badLeaseHeader("x-ms-lease-action")
	}
	if lr.id != "" && !validGUID(lr.id) {
		return lr, badLeaseHeader("x-ms-lease-id")
	}
	if lr.proposed != "" && !validGUID(lr.proposed) {
		return lr, badLeaseHeader("x-ms-proposed-lease-id")
	}
	switch lr.action {
	case "renew", "release", "change":
		if lr.id == "" {
			return lr, missingHeader("x-ms-lease-id")
		}
	}
	if lr.action == "change" && lr.proposed == "" {
		return lr, missingHeader("x-ms-proposed-lease-id")
	}
	if lr.action == "acquire" {
		v := h.Get("x-ms-lease-duration")
		if v == "" {
			return lr, missingHeader("x-ms-lease-duration")
		}
		d, err := strconv.Atoi(v)
		if err != nil || !(d == -1 || d >= 15 && d <= 60) {
			return lr, badLeaseHeader("x-ms-lease-duration")
		}
		lr.duration = d
	}
	if v := h.Get("x-ms-lease-break-period"); v != "" && lr.action == "break" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 60 {
			return lr, badLeaseHeader("x-ms-lease-break-period")
		}
		lr.breakPeriod = p
	}
	return lr, nil
}

func leaseConflict(code, msg string) error { return apiErr(cobalt.EConflict, code, "%s", msg) }

// apply performs the lease action on l at now. It returns the lease ID to
// report (acquire, renew, change, release) and, for break, the seconds
// until the lease is broken.
func (lr leaseRequest) apply(l *store.BlobLease, now time.Time, newID func() string) (id string, breakSecs int, err error) {
	state := leaseState(*l, now)
	same := lr.id != "" && strings.EqualFold(lr.id, l.ID)
	setLeased := func(id string, d int) {
		*l = store.BlobLease{ID: id, State: leaseLeased, Duration: d}
		if d > 0 {
			l.Expires = now.Add(time.Duration(d) * time.Second)
		}
	}
	switch lr.action {
	case "acquire":
		want := lr.proposed
		switch state {
		case leaseLeased:
			if want == "" || !strings.EqualFold(want, l.ID) {
				return "", 0, leaseConflict("LeaseAlreadyPresent", "There is already a lease present.")
			}
		case leaseBreaking:
			return "", 0, leaseConflict("LeaseIsBreakingAndCannotBeAcquired", "There is already a breaking lease present; it cannot be acquired.")
		}
		if want == "" {
			want = newID()
		}
		setLeased(want, lr.duration)
		return want, 0, nil
	case "renew":
		switch {
		case state == leaseAvailable:
			return "", 0, leaseConflict("LeaseNotPresentWithLeaseOperation", "There is currently no lease.")
		case !same:
			return "", 0, leaseConflict("LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID.")
		case state == leaseBreaking || state == leaseBroken:
			return "", 0, leaseConflict("LeaseIsBrokenAndCannotBeRenewed", "The lease has been broken and cannot be renewed.")
		}
		setLeased(l.ID, l.Duration)
		return l.ID, 0, nil
	case "change":
		switch state {
		case leaseAvailable, leaseExpired, leaseBroken:
			return "", 0, leaseConflict("LeaseNotPresentWithLeaseOperation", "There is currently no lease.")
		case leaseBreaking:
			return "", 0, leaseConflict("LeaseIsBreakingAndCannotBeChanged", "The lease is breaking and cannot be changed.")
		}
		if !same && !strings.EqualFold(lr.proposed, l.ID) {
			return "", 0, leaseConflict("LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID.")
		}
		l.ID = lr.proposed
		return l.ID, 0, nil
	case "release":
		switch {
		case state == leaseAvailable:
			return "", 0, leaseConflict("LeaseNotPresentWithLeaseOperation", "There is currently no lease.")
		case !same:
			return "", 0, leaseConflict("LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID.")
		}
		*l = store.BlobLease{}
		return lr.id, 0, nil
	}
	// break
	switch state {
	case leaseAvailable:
		return "", 0, leaseConflict("LeaseNotPresentWithLeaseOperation", "There is currently no lease.")
	case leaseExpired, leaseBroken:
		*l = store.BlobLease{ID: l.ID, State: leaseBroken}
		return "", 0, nil
	}
	period := lr.breakPeriod
	remaining := -1
	switch {
	case state == leaseBreaking:
		remaining = int((l.BreakAt.Sub(now) + time.Second - 1) / time.Second)
	case l.Duration > 0:
		remaining = int((l.Expires.Sub(now) + time.Second - 1) / time.Second)
	}
	if period < 0 {
		period = max(remaining, 0) // a fixed lease breaks when it would end; an infinite one at once
	} else if remaining >= 0 {
		period = min(period, remaining)
	}
	if period == 0 {
		*l = store.BlobLease{ID: l.ID, State: leaseBroken}
		return "", 0, nil
	}
	*l = store.BlobLease{ID: l.ID, State: leaseBreaking, Duration: l.Duration, BreakAt: now.Add(time.Duration(period) * time.Second)}
	return "", period, nil
}

// leaseResponse writes a lease operation's answer.
func leaseResponse(req *request, lr leaseRequest, etag string, mod time.Time, id string, breakSecs int) error {
	h := req.w.Header()
	h.Set("ETag", quote(etag))
	h.Set("Last-Modified", httpDate(mod))
	status := http.StatusOK
	switch lr.action {
	case "acquire":
		status = http.StatusCreated
	case "break":
		status = http.StatusAccepted
		h.Set("x-ms-lease-time", strconv.Itoa(breakSecs))
	}
	if id != "" && lr.action != "release" && lr.action != "break" {
		h.Set("x-ms-lease-id", id)
	}
	h.Set("Content-Length", "0")
	req.w.WriteHeader(status)
	return nil
}

func (s *Service) handleLeaseBlob(req *request) error {
	lr, err := parseLeaseRequest(req.r.Header)
	if err != nil {
		return err
	}
	t, ctx, now := req.t, req.r.Context(), s.now()
	c := readConds(req.r.Header)
	var id string
	var secs int
	rec, err := s.cfg.Store.BlobUpdate(ctx, t.Account, t.Container, t.Blob, func(b *store.BlobRecord) error {
		if err := c.checkWrite(true, b.ETag, b.ModifiedAt, ""); err != nil {
			return err
		}
		var err error
		id, secs, err = lr.apply(&b.Lease, now, newLeaseID)
		return err
	})
	if err != nil {
		return s.mapBlobErr(ctx, t, err)
	}
	return leaseResponse(req, lr, rec.ETag, rec.ModifiedAt, id, secs)
}

func (s *Service) handleLeaseContainer(req *request) error {
	lr, err := parseLeaseRequest(req.r.Header)
	if err != nil {
		return err
	}
	c := readConds(req.r.Header)
	if c.ifMatch != "" || c.ifNoneMatch != "" {
		return apiErr(cobalt.EInvalid, codeUnsupportedHeader, "One of the HTTP headers specified in the request is not supported.").WithTarget("If-Match")
	}
	now := s.now()
	var id string
	var secs int
	bc, err := s.cfg.Store.BlobContainerUpdate(req.r.Context(), req.t.Account, req.t.Container, func(bc *store.BlobContainer) error {
		if err := c.checkWrite(true, bc.ETag, bc.ModifiedAt, ""); err != nil {
			return err
		}
		var err error
		id, secs, err = lr.apply(&bc.Lease, now, newLeaseID)
		return err
	})
	if cobalt.IsCode(err, cobalt.ENotFound) && cobalt.ErrorReason(err) == "" {
		return containerNotFound()
	}
	if err != nil {
		return err
	}
	return leaseResponse(req, lr, bc.ETag, bc.ModifiedAt, id, secs)
}

// newLeaseID returns a random GUID.
func newLeaseID() string { return requestID() }
