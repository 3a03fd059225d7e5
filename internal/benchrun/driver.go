package benchrun

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/cobaltbatch/cobalt/internal/server"
)

const (
	group      = "bench"
	account    = "bench"
	apiBatch   = "2024-07-01"
	armScope   = "https://management.azure.com/.default"
	poolPrefix = "/providers/Microsoft.Batch/batchAccounts/" + account + "/pools/"
)

// driver is the bench's client side: the official SDK clients of one
// running Cobalt, made from its endpoints.json as any client would.
type driver struct {
	ep    server.Endpoints
	roots *x509.CertPool
	opts  azcore.ClientOptions
	cred  azcore.TokenCredential
	arm   *arm.Client
	batch *azbatch.Client
	// batchEndpoint is the Batch account's data-plane URL.
	batchEndpoint string
}

// newTransport is one keep-alive HTTPS client connection pool trusting roots.
func newTransport(roots *x509.CertPool, conns int) *http.Transport {
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConns: conns, MaxIdleConnsPerHost: conns,
		IdleConnTimeout: time.Minute, ForceAttemptHTTP2: false}
}

func newDriver(ctx context.Context, ep server.Endpoints) (*driver, error) {
	pem, err := os.ReadFile(ep.CACertFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", ep.CACertFile)
	}
	d := &driver{ep: ep, roots: roots}
	d.opts = azcore.ClientOptions{
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: ep.AuthorityHost + "/",
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: ep.ResourceManager, Audience: ep.ResourceManagerAudience}}},
		Transport: &http.Client{Transport: newTransport(roots, 64)},
		Retry:     policy.RetryOptions{MaxRetries: 2, RetryDelay: 50 * time.Millisecond},
	}
	if d.cred, err = azidentity.NewClientSecretCredential(ep.TenantID, ep.AdminClientID, ep.AdminClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: d.opts, DisableInstanceDiscovery: true}); err != nil {
		return nil, err
	}
	if d.arm, err = arm.NewClient("cobalt-bench", "v1.0.0", d.cred, &arm.ClientOptions{ClientOptions: d.opts}); err != nil {
		return nil, err
	}
	rgs, err := armresources.NewResourceGroupsClient(ep.SubscriptionID, d.cred, &arm.ClientOptions{ClientOptions: d.opts})
	if err != nil {
		return nil, err
	}
	if _, err := rgs.CreateOrUpdate(ctx, group, armresources.ResourceGroup{Location: to.Ptr(ep.Location)}, nil); err != nil {
		return nil, fmt.Errorf("create resource group: %w", err)
	}
	acct, err := d.armDo(ctx, http.MethodPut, d.accountPath(), map[string]any{"location": ep.Location})
	if err != nil {
		return nil, fmt.Errorf("create Batch account: %w", err)
	}
	for start := time.Now(); !strings.EqualFold(provisioning(acct), "Succeeded"); {
		if strings.EqualFold(provisioning(acct), "Failed") || time.Since(start) > time.Minute {
			return nil, fmt.Errorf("the Batch account is not provisioned: %s", acct)
		}
		time.Sleep(50 * time.Millisecond)
		if acct, err = d.armDo(ctx, http.MethodGet, d.accountPath(), nil); err != nil {
			return nil, err
		}
	}
	var a struct {
		Properties struct {
			AccountEndpoint string `json:"accountEndpoint"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(acct, &a)
	if a.Properties.AccountEndpoint == "" {
		return nil, fmt.Errorf("the Batch account has no accountEndpoint: %s", acct)
	}
	endpoint := a.Properties.AccountEndpoint
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	d.batchEndpoint = endpoint
	if d.batch, err = azbatch.NewClient(endpoint, d.cred, &azbatch.ClientOptions{ClientOptions: d.opts}); err != nil {
		return nil, err
	}
	return d, nil
}

func provisioning(body []byte) string {
	var r struct {
		Properties struct {
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(body, &r)
	return r.Properties.ProvisioningState
}

func (d *driver) accountPath() string {
	return "/subscriptions/" + d.ep.SubscriptionID + "/resourceGroups/" + group + "/providers/Microsoft.Batch/batchAccounts/" + account
}

func (d *driver) poolPath(pool string) string {
	return "/subscriptions/" + d.ep.SubscriptionID + "/resourceGroups/" + group + poolPrefix + pool
}

// armDo sends one management-plane request through the SDK's ARM pipeline
// (bearer token, retries) and returns the body of a 2xx answer.
func (d *driver) armDo(ctx context.Context, method, path string, body any) ([]byte, error) {
	req, err := runtime.NewRequest(ctx, method, strings.TrimSuffix(d.ep.ResourceManager, "/")+path+"?api-version="+apiBatch)
	if err != nil {
		return nil, err
	}
	if body != nil {
		if err := runtime.MarshalAsJSON(req, body); err != nil {
			return nil, err
		}
	}
	resp, err := d.arm.Pipeline().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return b, &statusError{status: resp.StatusCode, body: string(b)}
	}
	return b, nil
}

type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d: %s", e.status, e.body) }

// poolBody is a Microsoft.Batch pool of n nodes with slots task slots each,
// carrying the user-assigned identity identityID when it is not "".
func poolBody(ep server.Endpoints, n, slots int, identityID string) map[string]any {
	b := map[string]any{"properties": map[string]any{
		"vmSize": "STANDARD_D2S_V3",
		"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
			"imageReference": map[string]any{"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
			"nodeAgentSkuId": "batch.node.ubuntu 24.04"}},
		"taskSlotsPerNode":     slots,
		"taskSchedulingPolicy": map[string]any{"nodeFillType": "Spread"},
		"scaleSettings":        map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": n}},
	}}
	if identityID != "" {
		b["identity"] = map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{identityID: map[string]any{}}}
	}
	return b
}

// createPool PUTs a pool and returns when n of its nodes are idle, with
// the time from the PUT to then.
func (d *driver) createPool(ctx context.Context, pool string, n, slots int, identityID string) (time.Duration, error) {
	start := time.Now()
	if _, err := d.armDo(ctx, http.MethodPut, d.poolPath(pool), poolBody(d.ep, n, slots, identityID)); err != nil {
		return 0, fmt.Errorf("pool PUT: %w", err)
	}
	_, err := d.waitIdle(ctx, pool, n, 3*time.Minute)
	return time.Since(start), err
}

// waitIdle polls the data plane until n nodes of pool are idle and returns
// their IDs.
func (d *driver) waitIdle(ctx context.Context, pool string, n int, limit time.Duration) ([]string, error) {
	deadline := time.Now().Add(limit)
	for {
		var idle []string
		states := map[azbatch.NodeState]int{}
		// Only what it reads: the poll shares the machine with the nodes it
		// waits for (whole nodes, every 20 ms, were 8 % of the CPU
		// samples while 100 nodes started).
		pager := d.batch.NewListNodesPager(pool, &azbatch.ListNodesOptions{SelectParam: []string{"id", "state"}})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, node := range page.Value {
				states[*node.State]++
				if *node.State == azbatch.NodeStateIdle {
					idle = append(idle, *node.ID)
				}
			}
		}
		if len(idle) >= n {
			return idle, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("pool %s: %d of %d nodes idle after %s (states %v)", pool, len(idle), n, limit, states)
		}
		if p, err := d.batch.GetPool(ctx, pool, &azbatch.GetPoolOptions{SelectParam: []string{"id", "resizeErrors"}}); err == nil && len(p.ResizeErrors) > 0 {
			e := p.ResizeErrors[0]
			return nil, fmt.Errorf("pool %s: %d of %d nodes idle; resize error %s: %s", pool, len(idle), n, deref(e.Code), deref(e.Message))
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// deletePool deletes a pool and waits until the management plane no longer
// finds it.
func (d *driver) deletePool(ctx context.Context, pool string) error {
	if _, err := d.armDo(ctx, http.MethodDelete, d.poolPath(pool), nil); err != nil {
		return err
	}
	for start := time.Now(); time.Since(start) < 3*time.Minute; {
		_, err := d.armDo(ctx, http.MethodGet, d.poolPath(pool), nil)
		if se, ok := err.(*statusError); ok && se.status == http.StatusNotFound {
			return nil
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("pool %s still there 3 minutes after its DELETE", pool)
}

// armToken is a management-plane token for the raw load loops.
func (d *driver) armToken(ctx context.Context) (string, error) {
	t, err := d.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{armScope}})
	return t.Token, err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
