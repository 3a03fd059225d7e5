package rbac

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// DenialKind is the audit record kind of a recorded denial.
const DenialKind = "access.denied"

// denialWindow is how long identical denials are folded into one record:
// a caller repeating a forbidden request cannot grow the audit trail faster
// than one record per (principal, action, scope, service) per window. The
// record after a window says how many were folded ("repeats").
const denialWindow = 10 * time.Second

// maxDenialKeys bounds the fold table; past it, the table is cleared.
const maxDenialKeys = 10000

type denialFold struct {
	mu   sync.Mutex
	seen map[string]*foldEntry
}

type foldEntry struct {
	at      time.Time
	repeats int
}

// RecordDenial appends d to the audit trail (kind DenialKind), folding
// repeats within a short window. It never fails the request it records:
// errors are logged. The write outlives the request's cancellation.
func (a *Authorizer) RecordDenial(ctx context.Context, d cobalt.Denial) {
	now := a.now().UTC()
	key := strings.Join([]string{d.Service, d.PrincipalID, d.Action, strings.ToLower(d.Scope)}, "\x00")
	a.denials.mu.Lock()
	if a.denials.seen == nil || len(a.denials.seen) >= maxDenialKeys {
		a.denials.seen = map[string]*foldEntry{}
	}
	e := a.denials.seen[key]
	if e != nil && now.Sub(e.at) < denialWindow {
		e.repeats++
		a.denials.mu.Unlock()
		return
	}
	repeats := 0
	if e != nil {
		repeats = e.repeats
	}
	a.denials.seen[key] = &foldEntry{at: now}
	a.denials.mu.Unlock()

	fields := map[string]string{"service": d.Service, "action": d.Action, "scope": d.Scope}
	if repeats > 0 {
		fields["repeats"] = strconv.Itoa(repeats)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.s.AuditAppend(wctx, store.AuditRecord{Time: now, Kind: DenialKind, Actor: d.PrincipalID,
		Subject: d.Scope, Fields: fields}); err != nil {
		a.log.ErrorContext(ctx, "audit append failed", logkey.AuditKind, DenialKind, logkey.AuditSubject, d.Scope, logkey.Err, err)
	}
}
