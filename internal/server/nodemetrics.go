package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// nodeAPICalls are the label values of the node API's duration histogram:
// one per node protocol call, "host" for the host protocol and "other" for
// anything else, so a request's path never makes a label of its own.
var nodeAPICalls = map[string]string{
	nodeproto.PathRegister:  "register",
	nodeproto.PathHeartbeat: "heartbeat",
	nodeproto.PathLease:     "lease",
	nodeproto.PathReport:    "report",
	nodeproto.PathToken:     "token",
}

// timeNodeAPI returns h observing, per call, the time from its request's
// headers read to its handler's return in
// cobalt_nodeapi_request_duration_seconds: the control plane's own share
// of a node's call, without the transport's queues and the client's side.
func timeNodeAPI(reg prometheus.Registerer, h http.Handler) (http.Handler, error) {
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "cobalt", Subsystem: "nodeapi", Name: "request_duration_seconds",
		Help:    "Time from a node or host protocol request's headers to its handler's return, by call.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"call"})
	if err := reg.Register(hist); err != nil {
		return nil, err
	}
	obs := map[string]prometheus.Observer{"host": hist.WithLabelValues("host"), "other": hist.WithLabelValues("other")}
	for _, c := range nodeAPICalls {
		obs[c] = hist.WithLabelValues(c)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		call, ok := nodeAPICalls[r.URL.Path]
		switch {
		case ok:
		case strings.HasPrefix(r.URL.Path, "/hosts/"):
			call = "host"
		default:
			call = "other"
		}
		obs[call].Observe(time.Since(start).Seconds())
	}), nil
}
