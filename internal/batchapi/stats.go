package batchapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/jobs"
	"github.com/cobaltbatch/cobalt/internal/odata"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Statistics: $expand=stats on pools and jobs, the lifetime pool and job
// statistics (api-versions before 2023-05-01.17.0, which removed them) and
// the pool usage metrics. Every figure comes from what Cobalt records; the
// ones its nodes do not report (CPU time, I/O, resource usage) are zero or
// absent, as README.md says.

// poolStatser is implemented by a pool service that computes statistics.
type poolStatser interface {
	PoolStats(ctx context.Context, accountKey, poolID string) (batch.PoolStats, error)
	UsageMetrics(accountKey string, from, to time.Time) []batch.PoolUsageMetrics
}

// jobStatser is implemented by a jobs service that computes statistics.
type jobStatser interface {
	JobStats(ctx context.Context, accountID, jobID string) (jobs.JobStats, error)
	AccountJobStats(ctx context.Context, accountID string) (jobs.JobStats, error)
}

// lifetimeStatsBefore is the first api-version without the lifetime statistics.
const lifetimeStatsBefore = "2023-05-01"

// expandsStats says whether the request's $expand names stats.
func (rc *reqCtx) expandsStats() bool {
	v, ok := rc.param("$expand")
	if !ok {
		return false
	}
	names, err := odata.ParseExpand(v, "stats", "metadata")
	if err != nil {
		return false
	}
	for _, n := range names {
		if strings.EqualFold(n, "stats") {
			return true
		}
	}
	return false
}

// withStats adds "stats" to a rendered JSON object.
func withStats(body []byte, stats any) []byte {
	b, err := json.Marshal(stats)
	if err != nil || len(body) < 2 || body[len(body)-1] != '}' {
		return body
	}
	out := append([]byte(nil), body[:len(body)-1]...)
	if len(body) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"stats":`...)
	out = append(out, b...)
	return append(out, '}')
}

type dpUsageStats struct {
	StartTime         string `json:"startTime"`
	LastUpdateTime    string `json:"lastUpdateTime"`
	DedicatedCoreTime string `json:"dedicatedCoreTime"`
}

type dpPoolStats struct {
	URL            string        `json:"url"`
	StartTime      string        `json:"startTime"`
	LastUpdateTime string        `json:"lastUpdateTime"`
	UsageStats     *dpUsageStats `json:"usageStats,omitempty"`
}

func poolStatsWire(url string, st batch.PoolStats) dpPoolStats {
	start, last := batch.FormatTime(st.StartTime), batch.FormatTime(st.LastUpdateTime)
	return dpPoolStats{URL: url, StartTime: start, LastUpdateTime: last,
		UsageStats: &dpUsageStats{StartTime: start, LastUpdateTime: last, DedicatedCoreTime: batch.FormatDuration(st.DedicatedCoreTime)}}
}

// dpJobStats is JobStatistics; the int64 counts are JSON strings.
type dpJobStats struct {
	URL               string  `json:"url"`
	StartTime         string  `json:"startTime"`
	LastUpdateTime    string  `json:"lastUpdateTime"`
	UserCPUTime       string  `json:"userCPUTime"`
	KernelCPUTime     string  `json:"kernelCPUTime"`
	WallClockTime     string  `json:"wallClockTime"`
	ReadIOps          string  `json:"readIOps"`
	WriteIOps         string  `json:"writeIOps"`
	ReadIOGiB         float64 `json:"readIOGiB"`
	WriteIOGiB        float64 `json:"writeIOGiB"`
	NumSucceededTasks string  `json:"numSucceededTasks"`
	NumFailedTasks    string  `json:"numFailedTasks"`
	NumTaskRetries    string  `json:"numTaskRetries"`
	WaitTime          string  `json:"waitTime"`
}

func jobStatsWire(url string, st jobs.JobStats) dpJobStats {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return dpJobStats{URL: url, StartTime: batch.FormatTime(st.StartTime), LastUpdateTime: batch.FormatTime(st.LastUpdateTime),
		UserCPUTime: batch.FormatDuration(0), KernelCPUTime: batch.FormatDuration(0), WallClockTime: batch.FormatDuration(st.WallClockTime),
		ReadIOps: "0", WriteIOps: "0", NumSucceededTasks: i(st.NumSucceededTasks), NumFailedTasks: i(st.NumFailedTasks),
		NumTaskRetries: i(st.NumTaskRetries), WaitTime: batch.FormatDuration(st.WaitTime)}
}

// renderPoolExpanded renders a pool, with its stats when $expand asks.
func (rc *reqCtx) renderPoolExpanded(ctx context.Context, p *batch.Pool) ([]byte, error) {
	body := rc.renderPool(p)
	ps, ok := rc.s.pools().(poolStatser)
	if !ok || !rc.expandsStats() {
		return body, nil
	}
	st, err := ps.PoolStats(ctx, rc.accountKey(), p.ID)
	if err != nil {
		return nil, err
	}
	return withStats(body, poolStatsWire(rc.entityURL(poolPath(p.ID)+"/stats"), st)), nil
}

// renderJobExpanded renders a job, with its stats when $expand asks.
func (rc *reqCtx) renderJobExpanded(ctx context.Context, js Jobs, j *cobalt.Job) ([]byte, error) {
	body := rc.renderJob(j)
	jst, ok := js.(jobStatser)
	if !ok || !rc.expandsStats() {
		return body, nil
	}
	st, err := jst.JobStats(ctx, rc.account.ID, j.ID)
	if err != nil {
		return nil, err
	}
	return withStats(body, jobStatsWire(rc.entityURL(jobPath(j.ID)+"/stats"), st)), nil
}

// handleLifetimePoolStats answers GET /lifetimepoolstats: the statistics of
// every pool the account has.
func handleLifetimePoolStats(rc *reqCtx, _ pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	ps, ok := rc.s.pools().(poolStatser)
	if !ok {
		return batchError(cobalt.EInvalid, codeNotImplemented, "Statistics are not available on this server.")
	}
	ctx := rc.r.Context()
	var sum batch.PoolStats
	token := ""
	for {
		list, next, err := rc.s.pools().PoolList(ctx, rc.accountKey(), store.Page{Limit: 500, Token: token})
		if err != nil {
			return err
		}
		for _, p := range list {
			st, err := ps.PoolStats(ctx, rc.accountKey(), p.ID)
			if err != nil {
				continue // deleted meanwhile
			}
			if sum.StartTime.IsZero() || st.StartTime.Before(sum.StartTime) {
				sum.StartTime = st.StartTime
			}
			sum.LastUpdateTime = st.LastUpdateTime
			sum.DedicatedCoreTime += st.DedicatedCoreTime
		}
		if next == "" {
			break
		}
		token = next
	}
	if sum.LastUpdateTime.IsZero() {
		sum.LastUpdateTime = time.Now().UTC()
		sum.StartTime = sum.LastUpdateTime
	}
	rc.writeJSON(http.StatusOK, poolStatsWire(rc.entityURL("/lifetimepoolstats"), sum))
	return nil
}

// handleLifetimeJobStats answers GET /lifetimejobstats: the statistics of
// every job the account has.
func handleLifetimeJobStats(rc *reqCtx, _ pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	jst, ok := js.(jobStatser)
	if !ok {
		return batchError(cobalt.EInvalid, codeNotImplemented, "Statistics are not available on this server.")
	}
	st, err := jst.AccountJobStats(rc.r.Context(), rc.account.ID)
	if err != nil {
		return err
	}
	rc.writeJSON(http.StatusOK, jobStatsWire(rc.entityURL("/lifetimejobstats"), st))
	return nil
}

type dpUsageMetrics struct {
	PoolID         string  `json:"poolId"`
	StartTime      string  `json:"startTime"`
	EndTime        string  `json:"endTime"`
	VMSize         string  `json:"vmSize"`
	TotalCoreHours float64 `json:"totalCoreHours"`
}

// handleListUsageMetrics lists the pool usage metrics per 30-minute
// interval (starttime, endtime, $filter on poolId).
func handleListUsageMetrics(rc *reqCtx, _ pathParams) error {
	if err := rc.requirePools(); err != nil {
		return err
	}
	filter, err := rc.filterParam([]string{"poolId"})
	if err != nil {
		return err
	}
	var from, to time.Time
	for name, dst := range map[string]*time.Time{"starttime": &from, "endtime": &to} {
		if v, ok := rc.param(name); ok && v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return invalidQuery(name, v, "The value is not a valid date and time.")
			}
			*dst = t
		}
	}
	ps, ok := rc.s.pools().(poolStatser)
	if !ok {
		return rc.list("poolusagemetrics", nil, filter)
	}
	var items []listItem
	for _, m := range ps.UsageMetrics(rc.accountKey(), from, to) {
		b, _ := json.Marshal(dpUsageMetrics{PoolID: m.PoolID, StartTime: batch.FormatTime(m.StartTime), EndTime: batch.FormatTime(m.EndTime),
			VMSize: strings.ToLower(m.VMSize), TotalCoreHours: m.TotalCoreHours})
		items = append(items, listItem{body: b, fields: map[string]string{"poolId": m.PoolID}})
	}
	return rc.list("poolusagemetrics", items, filter)
}
