package benchrun

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// serverSample is what the control plane's /metrics says at one moment:
// its CPU time and, per node API call, the cumulative counts of its
// duration histogram's buckets (upper bound in seconds to count).
type serverSample struct {
	cpu     float64
	buckets map[string]map[float64]float64
}

// scrapeServer reads the child's /metrics at url.
func scrapeServer(ctx context.Context, c *http.Client, url string) (serverSample, error) {
	s := serverSample{buckets: map[string]map[float64]float64{}}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return s, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseServerSample(resp.Body)
}

// parseServerSample reads the lines of the Prometheus text format the
// fleet's figures need.
func parseServerSample(r io.Reader) (serverSample, error) {
	s := serverSample{buckets: map[string]map[float64]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			continue
		}
		if name == "process_cpu_seconds_total" {
			s.cpu = v
			continue
		}
		labels, ok := strings.CutPrefix(name, "cobalt_nodeapi_request_duration_seconds_bucket{")
		if !ok {
			continue
		}
		var call string
		le := math.NaN()
		for _, kv := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
			k, val, _ := strings.Cut(kv, "=")
			val = strings.Trim(val, `"`)
			switch k {
			case "call":
				call = val
			case "le":
				if val == "+Inf" {
					le = math.Inf(1)
				} else if f, err := strconv.ParseFloat(val, 64); err == nil {
					le = f
				}
			}
		}
		if call == "" || math.IsNaN(le) {
			continue
		}
		if s.buckets[call] == nil {
			s.buckets[call] = map[float64]float64{}
		}
		s.buckets[call][le] = v
	}
	return s, sc.Err()
}

// serverWindow is the control plane's side of a measurement window.
type serverWindow struct {
	cpu   time.Duration
	calls map[string]serverCall
}

// serverCall is one node API call's handler times in the window: the
// count, and the upper bounds of the histogram buckets that hold its p50
// and p99.
type serverCall struct {
	n        float64
	p50, p99 float64 // seconds; +Inf past the last bound
}

// windowOf returns the difference of two samples.
func windowOf(before, after serverSample) serverWindow {
	w := serverWindow{cpu: time.Duration((after.cpu - before.cpu) * float64(time.Second)), calls: map[string]serverCall{}}
	for call, bs := range after.buckets {
		les := make([]float64, 0, len(bs))
		for le := range bs {
			les = append(les, le)
		}
		slices.Sort(les)
		total := bs[math.Inf(1)] - before.buckets[call][math.Inf(1)]
		if total <= 0 {
			continue
		}
		c := serverCall{n: total, p50: math.Inf(1), p99: math.Inf(1)}
		found50, found99 := false, false
		for _, le := range les {
			cum := bs[le] - before.buckets[call][le]
			if !found50 && cum >= 0.5*total {
				c.p50, found50 = le, true
			}
			if !found99 && cum >= 0.99*total {
				c.p99, found99 = le, true
			}
		}
		w.calls[call] = c
	}
	return w
}

// bound formats a bucket's upper bound as "≤ X ms".
func bound(sec float64) string {
	if math.IsInf(sec, 1) {
		return "> 10 s"
	}
	return "≤ " + strconv.FormatFloat(sec*1000, 'f', -1, 64) + " ms"
}
