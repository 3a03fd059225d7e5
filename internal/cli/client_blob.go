package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// blobTarget names a storage account for data-plane commands, as az does:
// --account-name, optional --resource-group, --auth-mode, and optionally
// --account-key / --blob-endpoint to skip the management-plane lookups.
type blobTarget struct {
	account, group, authMode, key, endpoint string
}

// blobClient returns an azblob client for the target: with a bearer token for
// https://storage.azure.com (--auth-mode login) or the account's SharedKey
// (--auth-mode key, the key read with listKeys unless --account-key is given).
func (c *client) blobClient(ctx context.Context, t blobTarget) (*azblob.Client, error) {
	endpoint := t.endpoint
	var acct json.RawMessage
	if endpoint == "" || (t.authMode == "key" && t.key == "") {
		var err error
		if acct, err = c.storageAccount(ctx, t.group, t.account); err != nil {
			return nil, err
		}
	}
	if endpoint == "" {
		var a any
		_ = json.Unmarshal(acct, &a)
		if endpoint = lookupString(a, "properties.primaryEndpoints.blob"); endpoint == "" {
			return nil, &apiError{Code: "BlobEndpointNotFound", Message: "The storage account '" + t.account + "' has no blob endpoint."}
		}
	}
	opts := &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: c.http,
		Retry:     policy.RetryOptions{MaxRetries: 2},
	}}
	switch t.authMode {
	case "login":
		return azblob.NewClient(endpoint, c.tokens, opts)
	case "key":
		key := t.key
		if key == "" {
			var a any
			_ = json.Unmarshal(acct, &a)
			id := lookupString(a, "id")
			out, err := c.armPost(ctx, id+"/listKeys", apiStorage)
			if err != nil {
				return nil, err
			}
			var r struct {
				Keys []struct{ Value string } `json:"keys"`
			}
			if json.Unmarshal(out, &r) != nil || len(r.Keys) == 0 {
				return nil, &apiError{Code: "KeysNotFound", Message: "The storage account returned no keys."}
			}
			key = r.Keys[0].Value
		}
		cred, err := azblob.NewSharedKeyCredential(t.account, key)
		if err != nil {
			return nil, err
		}
		return azblob.NewClientWithSharedKeyCredential(endpoint, cred, opts)
	}
	return nil, invalidArg("--auth-mode", t.authMode, "want login or key")
}

// blobError turns an azblob failure into the service's code and message.
func blobError(err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.RawResponse == nil {
		return err
	}
	if e := decodeError(re.RawResponse); e != nil {
		return e
	}
	return &apiError{Status: re.StatusCode, Code: re.ErrorCode, Message: http.StatusText(re.StatusCode)}
}
