package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerregistry/armcontainerregistry"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/cobaltbatch/cobalt/internal/agent/container/containertest"
	"github.com/cobaltbatch/cobalt/internal/testenv"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/uuid"
)

const roleAcrPull = "7f951dda-4ed3-4680-a7ca-43fe172d538d"

// TestSeedStep11ContainerPool is the seed's step 11 with the official
// clients: a Microsoft.ContainerRegistry registry (armcontainerregistry)
// holding a busybox image pushed through ACR's exchange; a pool created with
// @azure/arm-batch that carries a user-assigned identity, whose container
// configuration reaches the registry with that identity (AcrPull) and whose
// start task runs in a container with resource files read from a storage
// container with the same identity; a task in a container on that pool gets
// a token from IMDS and reads a blob with it. The same pool with an identity
// that lacks AcrPull leaves its node unusable with the pull error.
func TestSeedStep11ContainerPool(t *testing.T) {
	if _, err := exec.LookPath("runc"); err != nil {
		testenv.Unavailable(t, "runc (Debian package runc) for container tasks")
	}
	e := startIsolated(t)
	c := ctx(t)
	s := e.seedResources(t, c)

	// The registry, and the image in it.
	regs, err := armcontainerregistry.NewRegistriesClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	regName := "seedacr" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	poller, err := regs.BeginCreate(c, s.rg, regName, armcontainerregistry.Registry{Location: to.Ptr(e.EP.Location),
		SKU: &armcontainerregistry.SKU{Name: to.Ptr(armcontainerregistry.SKUNameBasic)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := poller.PollUntilDone(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	loginServer := *reg.Properties.LoginServer
	image := loginServer + "/tasks/busybox:v1"
	ca, err := os.ReadFile(e.EP.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	img := withFiles(t, containertest.Busybox(t), map[string][]byte{"bin/readblob": buildStatic(t, "testdata/readblob"), "etc/cobalt-ca.pem": ca})
	e.pushImage(t, c, loginServer, image, img)

	// The blobs: the start task's input and the script the task runs.
	sa, err := armstorage.NewAccountsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sa.ListKeys(c, s.rg, s.storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	shared, _ := azblob.NewSharedKeyCredential(s.storage, *keys.Keys[0].Value)
	containerURL := strings.TrimSuffix(s.blobURL, "/data/hello.txt")
	bl, err := azblob.NewClientWithSharedKeyCredential(strings.TrimSuffix(containerURL, "/"+s.container)+"/", shared,
		&azblob.ClientOptions{ClientOptions: e.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	script := `set -e
echo "blob: $(COBALT_CA=/etc/cobalt-ca.pem readblob ` + s.blobURL + `)"
echo "start task left: $(cat /mnt/batch/tasks/shared/from-start.txt)"
echo "image: $(cat /etc/image-marker)"
`
	if _, err := bl.UploadBuffer(c, s.container, "start/read.sh", []byte(script), nil); err != nil {
		t.Fatal(err)
	}

	ras, err := armauthorization.NewRoleAssignmentsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ras.Create(c, *reg.ID, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/providers/Microsoft.Authorization/roleDefinitions/" + roleAcrPull),
			PrincipalID:      to.Ptr(s.principalID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
		t.Fatal(err)
	}
	poolBody := func(identity string) map[string]any {
		ref := map[string]any{"resourceId": identity}
		return map[string]any{
			"identity": map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{identity: map[string]any{}}},
			"vmSize":   "STANDARD_D2S_V3",
			"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
				"imageReference": map[string]any{"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
				"nodeAgentSkuId": "batch.node.ubuntu 24.04",
				"containerConfiguration": map[string]any{"type": "DockerCompatible", "containerImageNames": []any{image},
					"containerRegistries": []any{map[string]any{"registryServer": loginServer, "identityReference": ref}}}}},
			"scaleSettings": map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": 1}},
			"startTask": map[string]any{
				// Resource files arrive 0770 and owned by the start task's user
				// (admin); copies the pool's tasks may read are made by redirection.
				"commandLine":    `/bin/sh -c "cat start/input.txt > /mnt/batch/tasks/shared/from-start.txt && cat start/read.sh > /mnt/batch/tasks/shared/read.sh"`,
				"waitForSuccess": true,
				"userIdentity":   map[string]any{"autoUser": map[string]any{"scope": "Pool", "elevationLevel": "Admin"}},
				"containerSettings": map[string]any{"imageName": image, "workingDirectory": "TaskWorkingDirectory",
					"containerHostBatchBindMounts": []any{map[string]any{"source": "Shared", "isReadOnly": false}}},
				"resourceFiles": []any{map[string]any{"storageContainerUrl": containerURL, "blobPrefix": "start/", "identityReference": ref}},
			},
		}
	}
	e.node("batchpool.js", map[string]any{"resourceGroup": s.rg, "account": s.account, "pool": "acrpool", "skipAccount": true,
		"poolBody": poolBody(s.identityID)}, nil)
	bc := e.batchClient(t, s.endpoint)
	e.waitIdleNode(t, c, bc, "acrpool")
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("step11"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("acrpool")}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.CreateTask(c, "step11", azbatch.CreateTaskContent{ID: to.Ptr("read"), CommandLine: to.Ptr("/bin/sh /mnt/batch/tasks/shared/read.sh"),
		ContainerSettings: &azbatch.TaskContainerSettings{ImageName: to.Ptr(image),
			ContainerHostBatchBindMounts: []azbatch.ContainerHostBindMountEntry{{Source: to.Ptr(azbatch.ContainerHostDataPathShared), IsReadOnly: to.Ptr(true)}}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	task := e.waitTask(t, c, bc, "step11", "read")
	out := e.taskFile(t, c, bc, "step11", "read", "stdout.txt")
	if *task.ExecutionInfo.ExitCode != 0 || !strings.Contains(out, "blob: hello from blob storage") ||
		!strings.Contains(out, "start task left: input for the start task") || !strings.Contains(out, "image: from the image") {
		t.Fatalf("container task: exit %d\nstdout: %s\nstderr: %s", *task.ExecutionInfo.ExitCode, out, e.taskFile(t, c, bc, "step11", "read", "stderr.txt"))
	}

	// The same pool with an identity that lacks AcrPull: the node is unusable.
	ids, err := armmsi.NewUserAssignedIdentitiesClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	noPull, err := ids.CreateOrUpdate(c, s.rg, "no-acrpull", armmsi.Identity{Location: to.Ptr(e.EP.Location)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.node("batchpool.js", map[string]any{"resourceGroup": s.rg, "account": s.account, "pool": "nopullpool", "skipAccount": true,
		"poolBody": poolBody(*noPull.ID)}, nil)
	var node azbatch.Node
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the pool without AcrPull never got an unusable node: %+v", node.State)
		}
		page, err := bc.NewListNodesPager("nopullpool", nil).NextPage(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Value) == 0 {
			continue
		}
		node = page.Value[0]
		if *node.State == azbatch.NodeStateIdle {
			t.Fatal("a node whose identity lacks AcrPull became idle")
		}
		if *node.State == azbatch.NodeStateUnusable {
			break
		}
	}
	var msgs []string
	for _, ne := range node.Errors {
		msgs = append(msgs, deref(ne.Code)+": "+deref(ne.Message))
	}
	all := strings.Join(msgs, "\n")
	if len(node.Errors) == 0 || !strings.Contains(all, loginServer) || !strings.Contains(all, "tasks/busybox") {
		t.Errorf("unusable node's errors %q: want the registry and the image named", msgs)
	}
}

// pushImage pushes img as ref to a Cobalt registry as the admin, through
// ACR's exchange: an Entra token for the registry's audience becomes an ACR
// refresh token, used with the null GUID as ggcr's identity token.
func (e *env) pushImage(t *testing.T, c context.Context, loginServer, ref string, img v1.Image) {
	t.Helper()
	tok, err := e.Admin().GetToken(c, policy.TokenRequestOptions{Scopes: []string{"https://containerregistry.azure.net/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"access_token"}, "service": {loginServer}, "tenant": {e.EP.TenantID}, "access_token": {tok.Token}}
	resp, err := e.HTTP.PostForm("https://"+loginServer+"/oauth2/exchange", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %s %s", resp.Status, body)
	}
	var rt struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &rt); err != nil || rt.RefreshToken == "" {
		t.Fatalf("exchange: no refresh token in %s", body)
	}
	n, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: "00000000-0000-0000-0000-000000000000", IdentityToken: rt.RefreshToken})
	if err := remote.Write(n, img, remote.WithAuth(auth), remote.WithTransport(e.HTTP.Transport), remote.WithContext(c)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// withFiles adds files to the image (mode 0755).
func withFiles(t *testing.T, img v1.Image, files map[string][]byte) v1.Image {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	out, err := mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatal(fmt.Errorf("add files: %w", err))
	}
	return out
}

// buildStatic builds the standard-library-only command in dir as a static
// binary and returns it.
func buildStatic(t *testing.T, dir string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bin")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", dir, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
