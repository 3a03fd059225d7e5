package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestTimeNodeAPI checks that each node API call is counted under its own
// label, the host protocol under "host" and any other path under "other",
// so that no request adds a label value.
func TestTimeNodeAPI(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h, err := timeNodeAPI(reg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{nodeproto.PathHeartbeat, nodeproto.PathHeartbeat, nodeproto.PathLease, "/hosts/v1/heartbeat", "/nodeapi/v1/x?y", "/anything/else"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, p, nil))
	}
	want := map[string]int{"heartbeat": 2, "lease": 1, "host": 1, "other": 2, "register": 0, "report": 0, "token": 0}
	if n := testutil.CollectAndCount(reg, "cobalt_nodeapi_request_duration_seconds"); n != len(want) {
		t.Errorf("%d label values, want %d", n, len(want))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			call := m.GetLabel()[0].GetValue()
			if got := int(m.GetHistogram().GetSampleCount()); got != want[call] {
				t.Errorf("%s: %d observations, want %d", call, got, want[call])
			}
		}
	}
}
