package login

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the service's Prometheus collectors.
type metrics struct {
	tokens  *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// newMetrics creates the collectors and registers them on reg when it is not
// nil. Collectors already registered by another Service on reg are reused.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cobalt", Subsystem: "login", Name: "token_requests_total",
			Help: "Token requests by grant (client_credentials, managed_identity) and result (success or the OAuth error).",
		}, []string{"grant", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cobalt", Subsystem: "login", Name: "token_request_duration_seconds",
			Help:    "Time to answer a token request, by grant.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"grant"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.tokens, err = register(reg, m.tokens); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c on reg, or returns the equal collector already there.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// observe counts a token request and its latency since start.
func (m *metrics) observe(grant, result string, start time.Time) {
	m.tokens.WithLabelValues(grant, result).Inc()
	m.latency.WithLabelValues(grant).Observe(time.Since(start).Seconds())
}
