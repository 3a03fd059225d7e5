package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
)

const (
	providerBatch = "Microsoft.Batch"
	typeBatch     = "batchAccounts"
	// batchContentType is what the Batch SDKs send with a body.
	batchContentType = "application/json; odata=minimalmetadata"
)

// batchTarget names a Batch account: --account-name, optional
// --resource-group, and optionally --account-endpoint to skip the lookup.
type batchTarget struct {
	account, group, endpoint string
}

// batchAccount finds a Batch account through the management plane: in group
// if given, else by listing the subscription's accounts.
func (c *client) batchAccount(ctx context.Context, group, name string) (json.RawMessage, error) {
	if group != "" {
		return c.armGet(ctx, c.resourceID(group, providerBatch, typeBatch, name), apiBatchMgmt)
	}
	all, err := c.armList(ctx, c.sub()+"/providers/"+providerBatch+"/"+typeBatch, apiBatchMgmt)
	if err != nil {
		return nil, err
	}
	for _, a := range all {
		var r struct{ Name string }
		if json.Unmarshal(a, &r) == nil && strings.EqualFold(r.Name, name) {
			return a, nil
		}
	}
	return nil, &apiError{Status: http.StatusNotFound, Code: "ResourceNotFound", Message: "The Batch account '" + name + "' was not found."}
}

// batchAccountID returns the ARM ID of the target's account.
func (c *client) batchAccountID(ctx context.Context, t batchTarget) (string, error) {
	if t.group != "" {
		return c.resourceID(t.group, providerBatch, typeBatch, t.account), nil
	}
	a, err := c.batchAccount(ctx, "", t.account)
	if err != nil {
		return "", err
	}
	var r struct{ ID string }
	_ = json.Unmarshal(a, &r)
	return r.ID, nil
}

// batchData is the Batch data plane of one account.
type batchData struct {
	c    *client
	base string // https://host:port, no trailing slash
}

// batch returns the data plane of the target account, at its
// properties.accountEndpoint as the management plane publishes it.
func (c *client) batch(ctx context.Context, t batchTarget) (*batchData, error) {
	ep := t.endpoint
	if ep == "" {
		a, err := c.batchAccount(ctx, t.group, t.account)
		if err != nil {
			return nil, err
		}
		var v any
		_ = json.Unmarshal(a, &v)
		if ep = lookupString(v, "properties.accountEndpoint"); ep == "" {
			return nil, &apiError{Code: "AccountEndpointNotFound", Message: "The Batch account '" + t.account + "' has no accountEndpoint yet."}
		}
	}
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	return &batchData{c: c, base: strings.TrimSuffix(ep, "/")}, nil
}

// url joins the endpoint, a path and the query with the api-version.
func (b *batchData) url(path string, q url.Values) string {
	if q == nil {
		q = url.Values{}
	}
	q.Set("api-version", apiBatchData)
	return b.base + path + "?" + q.Encode()
}

// call sends one data-plane request and decodes a JSON result into out.
func (b *batchData) call(ctx context.Context, method, path string, q url.Values, body any, out any, ok ...int) error {
	h := http.Header{}
	if body != nil {
		h.Set("Content-Type", batchContentType)
	}
	_, err := b.c.doJSON(ctx, request{method: method, url: b.url(path, q), scope: scopeBatch, body: body, header: h, ok: ok}, out)
	return err
}

// get reads one entity as sent.
func (b *batchData) get(ctx context.Context, path string) (json.RawMessage, error) {
	var out json.RawMessage
	err := b.call(ctx, http.MethodGet, path, nil, nil, &out, http.StatusOK)
	return out, err
}

// list reads every page of a list operation, following odata.nextLink.
func (b *batchData) list(ctx context.Context, path string, q url.Values) ([]json.RawMessage, error) {
	all := []json.RawMessage{}
	next := b.url(path, q)
	for next != "" {
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"odata.nextLink"`
		}
		if _, err := b.c.doJSON(ctx, request{method: http.MethodGet, url: next, scope: scopeBatch, ok: []int{http.StatusOK}}, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		next = page.NextLink
	}
	return all, nil
}

// download streams a file's content to w.
func (b *batchData) download(ctx context.Context, path string, w io.Writer) (int64, error) {
	h := http.Header{"Accept": {"application/octet-stream"}}
	resp, err := b.c.do(ctx, request{method: http.MethodGet, url: b.url(path, nil), scope: scopeBatch, header: h, ok: []int{http.StatusOK}})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}
