package imds

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateLimit is a per-node request limit: a token bucket of PerSecond requests
// a second (burst PerSecond) and at most Concurrent requests in flight. A zero
// field means no limit on that dimension; the zero RateLimit is off.
type RateLimit struct {
	PerSecond  float64
	Concurrent int
}

// DefaultRateLimit is Azure's managed identity limit: 20 requests a second and
// 5 concurrent requests per VM.
var DefaultRateLimit = RateLimit{PerSecond: 20, Concurrent: 5}

// Off reports whether the limit is disabled.
func (r RateLimit) Off() bool { return r.PerSecond <= 0 && r.Concurrent <= 0 }

// String renders r in the syntax ParseRateLimit reads.
func (r RateLimit) String() string {
	if r.Off() {
		return "off"
	}
	return fmt.Sprintf("%s/s,%d", strconv.FormatFloat(r.PerSecond, 'f', -1, 64), r.Concurrent)
}

// ParseRateLimit reads a rate limit setting: "" is [DefaultRateLimit], "off"
// disables the limit, "N/s,C" allows N requests a second and C concurrent
// requests, "N/s" limits only the rate and ",C" only the concurrency.
func ParseRateLimit(s string) (RateLimit, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return DefaultRateLimit, nil
	case "off", "none", "0":
		return RateLimit{}, nil
	}
	bad := fmt.Errorf("invalid IMDS rate limit %q: want \"off\" or \"N/s,C\" (for example \"20/s,5\")", s)
	rate, conc, hasConc := strings.Cut(s, ",")
	var r RateLimit
	if rate = strings.TrimSpace(rate); rate != "" {
		n, ok := strings.CutSuffix(rate, "/s")
		if !ok {
			return RateLimit{}, bad
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return RateLimit{}, bad
		}
		r.PerSecond = f
	}
	if hasConc {
		c, err := strconv.Atoi(strings.TrimSpace(conc))
		if err != nil || c <= 0 {
			return RateLimit{}, bad
		}
		r.Concurrent = c
	}
	if r.Off() {
		return RateLimit{}, bad
	}
	return r, nil
}

// Limiter enforces a RateLimit. One Limiter is shared by every endpoint of a
// node (IMDS and App Service), so the limit is per node. A nil *Limiter
// allows everything. It is safe for concurrent use.
type Limiter struct {
	limit RateLimit
	now   func() time.Time

	mu       sync.Mutex
	tokens   float64
	last     time.Time
	inflight int
}

// NewLimiter returns a Limiter for r, or nil when r is off. now may be nil.
func NewLimiter(r RateLimit, now func() time.Time) *Limiter {
	if r.Off() {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{limit: r, now: now, tokens: r.PerSecond, last: now()}
}

// acquire admits one request. When admitted it returns a release function;
// otherwise it returns the number of seconds the client should wait.
func (l *Limiter) acquire() (release func(), retryAfter int, ok bool) {
	if l == nil {
		return func() {}, 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limit.Concurrent > 0 && l.inflight >= l.limit.Concurrent {
		return nil, 1, false
	}
	if l.limit.PerSecond > 0 {
		now := l.now()
		if el := now.Sub(l.last).Seconds(); el > 0 {
			l.tokens = math.Min(l.limit.PerSecond, l.tokens+el*l.limit.PerSecond)
		}
		l.last = now
		if l.tokens < 1 {
			wait := int(math.Ceil((1 - l.tokens) / l.limit.PerSecond))
			return nil, max(wait, 1), false
		}
		l.tokens--
	}
	l.inflight++
	return l.release, 0, true
}

func (l *Limiter) release() {
	l.mu.Lock()
	l.inflight--
	l.mu.Unlock()
}
