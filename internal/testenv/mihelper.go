package testenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// MIHelperEnv, set to "azidentity" in a task's environment, makes a test
// binary that a task runs act as the official Go ManagedIdentityCredential
// instead of running tests (see RunMIHelper).
const MIHelperEnv = "COBALT_MI_HELPER"

// RunMIHelper, called first in a TestMain, does nothing unless MIHelperEnv
// is set. Then it gets a token with azidentity's ManagedIdentityCredential,
// as task code would: COBALT_MI_KIND (none|client|object|resource) and
// COBALT_MI_ID choose the identity, COBALT_MI_SCOPE the scope. It prints the
// token on stdout and exits 0, or prints the error on stderr and exits
// non-zero.
//
// Set to "armgroups", it lists the resource groups of subscription
// COBALT_SUBSCRIPTION with the official armresources client at Azure's
// default endpoint (management.azure.com) and the default
// ManagedIdentityCredential, one name per line.
//
// Set to "azblob", it instead reads COBALT_BLOB (account/container/blob)
// with the official azblob client at https://{account}.blob.core.windows.net/,
// Azure's own URL with no endpoint or cloud override, and the default
// ManagedIdentityCredential; it prints the blob's content.
func RunMIHelper() {
	switch os.Getenv(MIHelperEnv) {
	case "azidentity":
	case "azblob":
		runBlobHelper()
	case "armgroups":
		runGroupsHelper()
	default:
		return
	}
	opts := &azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond}},
	}
	switch id := os.Getenv("COBALT_MI_ID"); os.Getenv("COBALT_MI_KIND") {
	case "client":
		opts.ID = azidentity.ClientID(id)
	case "object":
		opts.ID = azidentity.ObjectID(id)
	case "resource":
		opts.ID = azidentity.ResourceID(id)
	}
	cred, err := azidentity.NewManagedIdentityCredential(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "credential:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{os.Getenv("COBALT_MI_SCOPE")}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "GetToken:", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(3)
	}
	fmt.Println(tok.Token)
	os.Exit(0)
}

func runBlobHelper() {
	account, rest, _ := strings.Cut(os.Getenv("COBALT_BLOB"), "/")
	cont, name, _ := strings.Cut(rest, "/")
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "credential:", err)
		os.Exit(2)
	}
	c, err := azblob.NewClient("https://"+account+".blob.core.windows.net/", cred, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := c.DownloadStream(ctx, cont, name, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "download:", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(3)
	}
	defer r.Body.Close()
	if _, err := io.Copy(os.Stdout, r.Body); err != nil {
		fmt.Fprintln(os.Stderr, "read:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

func runGroupsHelper() {
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "credential:", err)
		os.Exit(2)
	}
	c, err := armresources.NewResourceGroupsClient(os.Getenv("COBALT_SUBSCRIPTION"), cred, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for p := c.NewListPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "list:", strings.ReplaceAll(err.Error(), "\n", " "))
			os.Exit(3)
		}
		for _, g := range page.Value {
			fmt.Println(*g.Name)
		}
	}
	os.Exit(0)
}
