package testenv

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
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
func RunMIHelper() {
	if os.Getenv(MIHelperEnv) != "azidentity" {
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
