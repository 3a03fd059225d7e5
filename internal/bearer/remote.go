package bearer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/go-jose/go-jose/v4"
)

// RemoteKeys is a KeySource that fetches a JWKS over HTTP(S), for a service
// that runs in another process than the login service. Validator caches what
// it returns, so each call fetches.
type RemoteKeys struct {
	// URL is the jwks_uri, for example AuthorityURL/{tenant}/discovery/keys.
	URL string
	// Client sends the request; nil means http.DefaultClient.
	Client *http.Client
}

// KeySet implements KeySource.
func (r RemoteKeys) KeySet(ctx context.Context) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return set, err
	}
	c := r.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return set, fmt.Errorf("fetch keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return set, fmt.Errorf("fetch keys: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return set, fmt.Errorf("decode keys: %w", err)
	}
	return set, nil
}
