package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
)

// TestIdentityUpdateReachesOnlyNewNodes shows the seed's warning in action: a
// pool's identity change is accepted with a warning, the existing node keeps
// the identities it was allocated with (its IMDS refuses the new one), and
// after the pool scales to zero and back the new node carries the new set.
func TestIdentityUpdateReachesOnlyNewNodes(t *testing.T) {
	e := startIsolated(t)
	c := ctx(t)
	s := e.seedResources(t, c)
	bc := e.batchClient(t, s.endpoint)
	first := e.waitIdleNode(t, c, bc, s.pool)

	ids, err := armmsi.NewUserAssignedIdentitiesClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	second, err := ids.CreateOrUpdate(c, s.rg, "second-identity", armmsi.Identity{Location: to.Ptr(e.EP.Location)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var updated struct {
		Warning string `json:"warning"`
	}
	e.node("poolupdate.js", map[string]any{"resourceGroup": s.rg, "account": s.account, "pool": s.pool,
		"patch": map[string]any{"identity": map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{
			s.identityID: map[string]any{}, *second.ID: map[string]any{}}}}}, &updated)
	if !strings.Contains(updated.Warning, "zero") {
		t.Errorf("the update's response carries no warning about existing nodes: %q", updated.Warning)
	}

	// The existing node still carries only the first identity.
	if got := e.nodeIdentities(t, c, s, *first.ID); len(got) != 1 || !strings.EqualFold(got[0], s.identityID) {
		t.Fatalf("existing node carries %v, want only %s", got, s.identityID)
	}
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("old"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr(s.pool)}}, nil); err != nil {
		t.Fatal(err)
	}
	if out := e.runIMDS(t, c, bc, "old", "new-id", *second.Properties.ClientID); !strings.Contains(out, "Identity not found") {
		t.Errorf("the old node's IMDS answered for the new identity:\n%s", out)
	}
	if out := e.runIMDS(t, c, bc, "old", "old-id", s.clientID); !strings.Contains(out, "access_token") {
		t.Errorf("the old node's IMDS refused its own identity:\n%s", out)
	}

	// Scale to zero and back: the new node carries the new set.
	e.resize(t, s, 0)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		page, err := bc.NewListNodesPager(s.pool, nil).NextPage(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Value) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pool did not scale to zero")
		}
	}
	e.resize(t, s, 1)
	fresh := e.waitIdleNode(t, c, bc, s.pool)
	got := e.nodeIdentities(t, c, s, *fresh.ID)
	if len(got) != 2 {
		t.Fatalf("new node carries %v, want both identities", got)
	}
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("new"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr(s.pool)}}, nil); err != nil {
		t.Fatal(err)
	}
	if out := e.runIMDS(t, c, bc, "new", "new-id", *second.Properties.ClientID); !strings.Contains(out, "access_token") {
		t.Errorf("the new node's IMDS refused the new identity:\n%s", out)
	}
	if out := e.runIMDS(t, c, bc, "new", "no-selector", ""); !strings.Contains(out, "Multiple user assigned identities exist") {
		t.Errorf("with two identities and no selector IMDS answered:\n%s", out)
	}
}

// runIMDS runs a task that asks the node's IMDS for a storage token (for the
// identity with clientID, or with no selector) and returns the answer.
func (e *env) runIMDS(t *testing.T, c context.Context, bc *azbatch.Client, job, task, clientID string) string {
	t.Helper()
	url := "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/"
	if clientID != "" {
		url += "&client_id=" + clientID
	}
	cmd := "/bin/sh -c " + shellQuote("curl -sS '"+url+"' -H Metadata:true")
	if _, err := bc.CreateTask(c, job, azbatch.CreateTaskContent{ID: to.Ptr(task), CommandLine: to.Ptr(cmd)}, nil); err != nil {
		t.Fatal(err)
	}
	e.waitTask(t, c, bc, job, task)
	return e.taskFile(t, c, bc, job, task, "stdout.txt")
}

func (e *env) resize(t *testing.T, s seed, n int) {
	t.Helper()
	e.node("poolupdate.js", map[string]any{"resourceGroup": s.rg, "account": s.account, "pool": s.pool,
		"patch": map[string]any{"scaleSettings": map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": n}}}}, nil)
}

// nodeIdentities reads the "identities" extension property of a node from the data plane.
func (e *env) nodeIdentities(t *testing.T, c context.Context, s seed, nodeID string) []string {
	t.Helper()
	tok, err := e.Admin().GetToken(c, policy.TokenRequestOptions{Scopes: []string{"https://batch.core.windows.net//.default"}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(c, http.MethodGet,
		"https://"+s.endpoint+"/pools/"+s.pool+"/nodes/"+nodeID+"?api-version=2024-07-01.20.0", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := e.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var node struct {
		Identities []struct {
			ResourceID string `json:"resourceId"`
		} `json:"identities"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&node); err != nil {
		t.Fatalf("decode node (status %d): %v", resp.StatusCode, err)
	}
	var out []string
	for _, i := range node.Identities {
		out = append(out, i.ResourceID)
	}
	return out
}
