package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// BenchmarkPoolToTenIdleNodes measures, on a whole Cobalt with real node
// agents, the time from the management-plane pool PUT with
// targetDedicatedNodes 10 to ten idle nodes seen through the data plane, for
// each isolation mode. Azure takes minutes; the target is under 2 s.
func BenchmarkPoolToTenIdleNodes(b *testing.B) {
	for _, isolation := range []string{"process", "netns"} {
		b.Run(isolation, func(b *testing.B) {
			e := startWith(b, server.Options{Isolation: isolation})
			c := context.Background()
			admin := e.Admin()
			rgs, _ := armresources.NewResourceGroupsClient(e.EP.SubscriptionID, admin, e.ARMOptions())
			if _, err := rgs.CreateOrUpdate(c, "bench", armresources.ResourceGroup{Location: to.Ptr(e.EP.Location)}, nil); err != nil {
				b.Fatal(err)
			}
			var out struct {
				Account struct {
					AccountEndpoint string `json:"accountEndpoint"`
				} `json:"account"`
			}
			e.node("batchpool.js", map[string]any{"resourceGroup": "bench", "account": "benchacct", "pool": "warmup", "location": e.EP.Location,
				"poolBody": poolBody(0)}, &out)
			bc := e.batchClient(b, out.Account.AccountEndpoint)
			tok, err := admin.GetToken(c, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
			if err != nil {
				b.Fatal(err)
			}
			var total time.Duration
			for i := 0; i < b.N; i++ {
				pool := fmt.Sprintf("p%d", i)
				url := fmt.Sprintf("%s/subscriptions/%s/resourceGroups/bench/providers/Microsoft.Batch/batchAccounts/benchacct/pools/%s?api-version=2024-07-01",
					e.EP.ResourceManager, e.EP.SubscriptionID, pool)
				body, _ := json.Marshal(map[string]any{"properties": poolBody(10)})
				req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok.Token)
				req.Header.Set("Content-Type", "application/json")
				start := time.Now()
				resp, err := e.HTTP.Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("pool PUT: %v %v", err, resp)
				}
				resp.Body.Close()
				for idle := 0; idle < 10; time.Sleep(5 * time.Millisecond) {
					idle = 0
					page, err := bc.NewListNodesPager(pool, nil).NextPage(c)
					if err != nil {
						b.Fatal(err)
					}
					for _, n := range page.Value {
						if *n.State == azbatch.NodeStateIdle {
							idle++
						}
					}
					if time.Since(start) > time.Minute {
						b.Fatalf("only %d idle nodes after a minute", idle)
					}
				}
				total += time.Since(start)
				b.StopTimer()
				del, _ := http.NewRequest(http.MethodDelete, url, nil)
				del.Header.Set("Authorization", "Bearer "+tok.Token)
				if resp, err := e.HTTP.Do(del); err == nil {
					resp.Body.Close()
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/pool-to-10-idle")
			b.ReportMetric(float64(baselineTenNodes(b, isolation).Microseconds())/1000, "ms/baseline-10-bare")
		})
	}
}

// baselineTenNodes is the bare operating-system work of ten nodes, measured in
// the same run: ten concurrent `sh -c true` for process nodes, ten concurrent
// `unshare --net sh -c 'ip link set lo up'` (a namespace with loopback) for
// netns nodes.
func baselineTenNodes(b *testing.B, isolation string) time.Duration {
	argv := []string{"sh", "-c", "true"}
	if isolation == "netns" {
		argv = []string{"unshare", "--net", "sh", "-c", "ip link set lo up"}
	}
	const rounds = 5
	start := time.Now()
	for range rounds {
		errs := make(chan error, 10)
		for range 10 {
			go func() { errs <- exec.Command(argv[0], argv[1:]...).Run() }()
		}
		for range 10 {
			if err := <-errs; err != nil {
				b.Fatalf("baseline %v: %v", argv, err)
			}
		}
	}
	return time.Since(start) / rounds
}

func poolBody(nodes int) map[string]any {
	return map[string]any{
		"vmSize": "STANDARD_D2S_V3",
		"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
			"imageReference": map[string]any{"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
			"nodeAgentSkuId": "batch.node.ubuntu 24.04"}},
		"scaleSettings": map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": nodes}},
	}
}
