package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The api-versions the official clients send.
const (
	apiResources = "2021-04-01"      // armresources
	apiMSI       = "2024-11-30"      // armmsi
	apiAuthz     = "2022-04-01"      // armauthorization/v2
	apiStorage   = "2023-05-01"      // armstorage
	apiBatchMgmt = "2024-07-01"      // armbatch
	apiBatchData = "2024-07-01.20.0" // azbatch
)

// armURL joins the resource manager endpoint, an ARM path and the api-version.
func (c *client) armURL(path, apiVersion string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return strings.TrimSuffix(c.profile.ResourceManager, "/") + path + sep + "api-version=" + url.QueryEscape(apiVersion)
}

// sub returns the ARM path of the signed-in subscription.
func (c *client) sub() string { return "/subscriptions/" + c.profile.SubscriptionID }

// rgPath returns the ARM path of a resource group.
func (c *client) rgPath(group string) string {
	return c.sub() + "/resourceGroups/" + url.PathEscape(group)
}

// arm sends one management-plane request and decodes the JSON result.
func (c *client) arm(ctx context.Context, method, path, apiVersion string, body any) (json.RawMessage, *http.Response, error) {
	var out json.RawMessage
	resp, err := c.doJSON(ctx, request{method: method, url: c.armURL(path, apiVersion), scope: c.profile.armScope(), body: body}, &out)
	return out, resp, err
}

// armGet reads one resource.
func (c *client) armGet(ctx context.Context, path, apiVersion string) (json.RawMessage, error) {
	out, _, err := c.arm(ctx, http.MethodGet, path, apiVersion, nil)
	return out, err
}

// armPost invokes a resource action (listKeys) and returns its result.
func (c *client) armPost(ctx context.Context, path, apiVersion string) (json.RawMessage, error) {
	out, _, err := c.arm(ctx, http.MethodPost, path, apiVersion, nil)
	return out, err
}

// armList reads every page of a list operation.
func (c *client) armList(ctx context.Context, path, apiVersion string) ([]json.RawMessage, error) {
	var all []json.RawMessage
	next := c.armURL(path, apiVersion)
	for next != "" {
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"nextLink"`
		}
		if _, err := c.doJSON(ctx, request{method: http.MethodGet, url: next, scope: c.profile.armScope()}, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		next = page.NextLink
	}
	return all, nil
}

// armWrite sends a PUT or PATCH and, when the service answers with a
// long-running operation, waits for it and returns the final resource.
func (c *client) armWrite(ctx context.Context, method, path, apiVersion string, body any) (json.RawMessage, error) {
	out, resp, err := c.arm(ctx, method, path, apiVersion, body)
	if err != nil {
		return nil, err
	}
	if lroHeader(resp) != "" && (resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusCreated) {
		if err := c.waitOperation(ctx, resp); err != nil {
			return nil, err
		}
		return c.waitProvisioned(ctx, path, apiVersion)
	}
	if resp.StatusCode == http.StatusAccepted || inProgress(out) {
		return c.waitProvisioned(ctx, path, apiVersion)
	}
	return out, nil
}

// armDelete deletes a resource and, unless noWait, waits for a long-running
// delete to finish.
func (c *client) armDelete(ctx context.Context, path, apiVersion string, noWait bool) error {
	_, resp, err := c.arm(ctx, http.MethodDelete, path, apiVersion, nil)
	if err != nil || noWait || resp.StatusCode != http.StatusAccepted || lroHeader(resp) == "" {
		return err
	}
	return c.waitOperation(ctx, resp)
}

// lroHeader returns the operation URL of a long-running response.
func lroHeader(resp *http.Response) string {
	if u := resp.Header.Get("Azure-AsyncOperation"); u != "" {
		return u
	}
	return resp.Header.Get("Location")
}

// waitOperation polls the operation of a 201/202 response: Azure-AsyncOperation
// until its status is terminal, or Location until it stops answering 202.
func (c *client) waitOperation(ctx context.Context, resp *http.Response) error {
	async := resp.Header.Get("Azure-AsyncOperation")
	target := async
	if target == "" {
		target = resp.Header.Get("Location")
	}
	delay := retryAfter(resp, c.poll)
	for {
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		var status struct {
			Status string          `json:"status"`
			Error  json.RawMessage `json:"error"`
		}
		r, err := c.doJSON(ctx, request{method: http.MethodGet, url: target, scope: c.profile.armScope()}, &status)
		if err != nil {
			return err
		}
		delay = retryAfter(r, c.poll)
		if async == "" {
			if r.StatusCode != http.StatusAccepted {
				return nil
			}
			continue
		}
		switch strings.ToLower(status.Status) {
		case "succeeded":
			return nil
		case "failed", "canceled", "cancelled":
			if e := parseErrorBody([]byte(`{"error":` + string(status.Error) + `}`)); status.Error != nil && e != nil {
				return e
			}
			return &apiError{Code: "OperationFailed", Message: "The operation ended with status " + status.Status + "."}
		}
	}
}

// inProgress reports whether a resource body shows a provisioning state that
// is not yet terminal.
func inProgress(body json.RawMessage) bool {
	var r struct {
		Properties struct {
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(body, &r)
	switch strings.ToLower(r.Properties.ProvisioningState) {
	case "accepted", "creating", "updating", "provisioning", "resolvingdns":
		return true
	}
	return false
}

// waitProvisioned polls a resource until its provisioning state is terminal.
func (c *client) waitProvisioned(ctx context.Context, path, apiVersion string) (json.RawMessage, error) {
	p := newPoller(c.poll)
	for {
		out, err := c.armGet(ctx, path, apiVersion)
		if err != nil {
			return nil, err
		}
		if !inProgress(out) {
			var r struct {
				Properties struct {
					ProvisioningState string `json:"provisioningState"`
				} `json:"properties"`
			}
			_ = json.Unmarshal(out, &r)
			if strings.EqualFold(r.Properties.ProvisioningState, "Failed") {
				return out, &apiError{Code: "ProvisioningFailed", Message: "The resource's provisioning state is Failed."}
			}
			return out, nil
		}
		if err := p.wait(ctx); err != nil {
			return nil, err
		}
	}
}

// retryAfter reads a Retry-After header in seconds, bounded by [100ms, limit];
// one second when absent.
func retryAfter(resp *http.Response, limit time.Duration) time.Duration {
	d := time.Second
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		d = time.Duration(s) * time.Second
	}
	return max(100*time.Millisecond, min(d, limit))
}

// poller paces a polling loop: 100ms at first, doubling up to a second
// (and never above the client's poll limit), so short waits stay short.
type poller struct{ next, limit time.Duration }

func newPoller(limit time.Duration) *poller {
	return &poller{next: min(100*time.Millisecond, limit), limit: min(time.Second, limit)}
}

// wait sleeps for the next interval or until ctx ends.
func (p *poller) wait(ctx context.Context) error {
	d := p.next
	p.next = min(2*p.next, p.limit)
	return sleep(ctx, d)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// resourceID builds the ARM ID of a resource in a group of the subscription.
func (c *client) resourceID(group, provider, typ, name string) string {
	return fmt.Sprintf("%s/providers/%s/%s/%s", c.rgPath(group), provider, typ, url.PathEscape(name))
}
