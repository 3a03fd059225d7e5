package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"

	"github.com/cobaltbatch/cobalt/internal/sdkharness"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// upEnv is a `cobalt up` started in-process, seen through its endpoints.json
// (the shared SDK harness), with the admin's credential.
type upEnv struct {
	*sdkharness.Env
	cred azcore.TokenCredential
}

func startUp(t *testing.T) *upEnv {
	t.Helper()
	return newUpEnv(sdkharness.Start(t, server.Options{}))
}

func newUpEnv(e *sdkharness.Env) *upEnv { return &upEnv{Env: e, cred: e.Admin()} }

// arm sends an ARM request as the admin and decodes the JSON answer into out.
func (u *upEnv) arm(method, path, apiVersion string, body any, out any) (int, []byte) {
	u.T.Helper()
	tok, err := u.cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{u.EP.ResourceManagerAudience + "/.default"}})
	if err != nil {
		u.T.Fatal(err)
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u.EP.ResourceManager+path+"?api-version="+apiVersion, rd)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := u.HTTP.Do(req)
	if err != nil {
		u.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			u.T.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, b
}

// TestUpEndToEnd runs against `cobalt up`: an identity and a Batch account
// and pool (with the identity) made through the management plane; then Go
// azbatch with Entra and Node @azure/batch with SharedKey create jobs and
// tasks on real nodes, wait for them and read stdout; the node shows the
// identity it carries; the data-plane pool add with an identity is refused.
func TestUpEndToEnd(t *testing.T) {
	u := startUp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sub := "/subscriptions/" + u.EP.SubscriptionID
	rg := sub + "/resourceGroups/rg-batch"
	if st, b := u.arm("PUT", rg, "2021-04-01", map[string]any{"location": u.EP.Location}, nil); st >= 300 {
		t.Fatalf("resource group: %d %s", st, b)
	}
	idPath := rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pool-id"
	var ident struct {
		ID         string `json:"id"`
		Properties struct {
			ClientID    string `json:"clientId"`
			PrincipalID string `json:"principalId"`
		} `json:"properties"`
	}
	if st, b := u.arm("PUT", idPath, "2023-01-31", map[string]any{"location": u.EP.Location}, &ident); st >= 300 {
		t.Fatalf("identity: %d %s", st, b)
	}
	acctPath := rg + "/providers/Microsoft.Batch/batchAccounts/upacct"
	st, b := u.arm("PUT", acctPath, "2024-07-01", map[string]any{"location": u.EP.Location}, nil)
	if st == 404 && (bytes.Contains(b, []byte("InvalidResourceNamespace")) || bytes.Contains(b, []byte("InvalidResourceType"))) {
		t.Fatalf("cobalt up does not serve Microsoft.Batch: %s", b)
	}
	if st >= 300 {
		t.Fatalf("batch account: %d %s", st, b)
	}
	var acct struct {
		Properties struct {
			AccountEndpoint   string `json:"accountEndpoint"`
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		u.arm("GET", acctPath, "2024-07-01", nil, &acct)
		if acct.Properties.ProvisioningState == "Succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("account not provisioned: %+v", acct)
		}
		time.Sleep(200 * time.Millisecond)
	}
	endpoint := acct.Properties.AccountEndpoint
	if endpoint == "" {
		t.Fatal("the account has no accountEndpoint")
	}
	var keys struct {
		Primary string `json:"primary"`
	}
	if st, b := u.arm("POST", acctPath+"/listKeys", "2024-07-01", nil, &keys); st != 200 {
		t.Fatalf("listKeys: %d %s", st, b)
	}
	pool := map[string]any{
		"identity": map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{ident.ID: map[string]any{}}},
		"properties": map[string]any{
			"vmSize": "STANDARD_D2S_V3",
			"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
				"imageReference": map[string]any{"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
				"nodeAgentSkuId": "batch.node.ubuntu 24.04"}},
			"scaleSettings": map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": 1}},
		},
	}
	if st, b := u.arm("PUT", acctPath+"/pools/pool1", "2024-07-01", pool, nil); st != 200 {
		t.Fatalf("pool: %d %s", st, b)
	}

	// Go azbatch with Entra (the admin is Owner on the subscription).
	c, err := azbatch.NewClient("https://"+endpoint, u.cred, &azbatch.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: u.HTTP}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr("gojob"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("pool1")}}, nil); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	if _, err := c.CreateTask(ctx, "gojob", azbatch.CreateTaskContent{ID: to.Ptr("t1"), CommandLine: to.Ptr("/bin/sh -c 'echo hello-go'")}, nil); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	var task azbatch.GetTaskResponse
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if task, err = c.GetTask(ctx, "gojob", "t1", nil); err != nil {
			t.Fatalf("GetTask: %v", err)
		}
		if *task.State == azbatch.TaskStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task did not complete: %s", *task.State)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if task.ExecutionInfo.ExitCode == nil || *task.ExecutionInfo.ExitCode != 0 {
		fi, _ := json.Marshal(task.ExecutionInfo)
		t.Fatalf("task execution: %s", fi)
	}
	f, err := c.GetTaskFile(ctx, "gojob", "t1", "stdout.txt", nil)
	if err != nil {
		t.Fatalf("GetTaskFile: %v", err)
	}
	out, _ := io.ReadAll(f.Body)
	f.Body.Close()
	if string(out) != "hello-go\n" {
		t.Fatalf("stdout.txt = %q", out)
	}

	// The node carries the pool's identity ("identities" extension property).
	tok, err := u.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://batch.core.windows.net//.default"}})
	if err != nil {
		t.Fatal(err)
	}
	raw := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, "https://"+endpoint+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json; odata=minimalmetadata")
		}
		resp, err := u.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	st, nb := raw("GET", "/pools/pool1/nodes/"+*task.NodeInfo.NodeID+"?api-version=2024-07-01.20.0", "")
	if st != 200 || !bytes.Contains(bytes.ToLower(nb), []byte(strings.ToLower(ident.ID))) {
		t.Fatalf("node: %d %s (want identity %s)", st, nb, ident.ID)
	}
	body := fmt.Sprintf(`{"id":"dp","vmSize":"STANDARD_D2S_V3","virtualMachineConfiguration":{"imageReference":{"publisher":"canonical","offer":"ubuntu-24_04-lts","sku":"server"},"nodeAgentSKUId":"batch.node.ubuntu 24.04"},"identity":{"type":"UserAssigned","userAssignedIdentities":[{"resourceId":%q}]}}`, ident.ID)
	if st, b := raw("POST", "/pools?api-version=2024-07-01.20.0", body); st != 400 || !bytes.Contains(b, []byte("management plane")) {
		t.Fatalf("data-plane pool add with identity: %d %s", st, b)
	}

	// Node @azure/batch with SharedKey.
	got := runSharedKeyScript(ctx, t, u.EP.CACertFile, endpoint, "upacct", keys.Primary, "pool1", "nodejob")
	checkSharedKeyScript(t, got, *task.NodeInfo.NodeID, "")
}

// TestUpRestartKeepsEndpoint restarts `cobalt up` on the same data directory
// and checks that a Batch account's accountEndpoint still serves it.
func TestUpRestartKeepsEndpoint(t *testing.T) {
	dir := t.TempDir()
	s, err := server.Start(context.Background(), server.Options{DataDir: dir, Isolation: "process"})
	if err != nil {
		t.Fatal(err)
	}
	u := newUpEnv(sdkharness.FromDataDir(t, dir))
	rg := "/subscriptions/" + u.EP.SubscriptionID + "/resourceGroups/rg-restart"
	u.arm("PUT", rg, "2021-04-01", map[string]any{"location": u.EP.Location}, nil)
	acctPath := rg + "/providers/Microsoft.Batch/batchAccounts/restartacct"
	if st, b := u.arm("PUT", acctPath, "2024-07-01", map[string]any{"location": u.EP.Location}, nil); st >= 300 {
		t.Fatalf("batch account: %d %s", st, b)
	}
	var acct struct {
		Properties struct {
			AccountEndpoint   string `json:"accountEndpoint"`
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	for deadline := time.Now().Add(30 * time.Second); acct.Properties.ProvisioningState != "Succeeded"; {
		if time.Now().After(deadline) {
			t.Fatalf("account not provisioned: %+v", acct)
		}
		time.Sleep(100 * time.Millisecond)
		u.arm("GET", acctPath, "2024-07-01", nil, &acct)
	}
	endpoint := acct.Properties.AccountEndpoint
	var keys struct {
		Primary string `json:"primary"`
	}
	u.arm("POST", acctPath+"/listKeys", "2024-07-01", nil, &keys)
	get := func(client *http.Client) int {
		req, _ := http.NewRequest("GET", "https://"+endpoint+"/jobs?api-version=2022-10-01.16.0", nil)
		signSharedKey(req, "restartacct", keys.Primary, 0)
		resp, err := client.Do(req)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get(u.HTTP); st != 200 {
		t.Fatalf("list jobs before the restart: %d", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := server.Start(context.Background(), server.Options{DataDir: dir, Isolation: "process"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	client2 := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: s2.CA().ClientTLSConfig()}}
	st := -1
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if st = get(client2); st == 200 {
			break
		}
	}
	if st != 200 {
		t.Fatalf("list jobs on %s after the restart: %d", endpoint, st)
	}
}
