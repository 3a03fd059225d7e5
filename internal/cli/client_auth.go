package cli

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Token scopes of the services the CLI calls, as the official SDKs request them.
const (
	// scopeBatch keeps the double slash that azbatch and the Batch spec use.
	scopeBatch = "https://batch.core.windows.net//.default"
)

// refreshMargin is how long before expiry a cached token is replaced.
const refreshMargin = 5 * time.Minute

// profile is what `cobalt login` stores: where the installation is and the
// service principal the CLI signs in as. Like az's service principal entries,
// it holds the client secret (mode 0600), since client credentials have no
// refresh token.
type profile struct {
	TenantID                string `json:"tenantId"`
	SubscriptionID          string `json:"subscriptionId"`
	Location                string `json:"location,omitempty"`
	AuthorityHost           string `json:"authorityHost"`
	ResourceManager         string `json:"resourceManager"`
	ResourceManagerAudience string `json:"resourceManagerAudience"`
	CACertFile              string `json:"caCertFile,omitempty"`
	ClientID                string `json:"clientId"`
	ClientSecret            string `json:"clientSecret"`
	// DataDir is the `cobalt up` directory the profile came from, if any.
	DataDir string `json:"dataDir,omitempty"`
}

// armScope is the token scope of the management plane.
func (p *profile) armScope() string {
	aud := p.ResourceManagerAudience
	if aud == "" {
		aud = "https://management.azure.com"
	}
	return strings.TrimSuffix(aud, "/") + "/.default"
}

// configDir is where the CLI keeps its profile and token cache: $COBALT_CONFIG_DIR,
// or "cobalt" under the user's config directory.
func configDir(getenv func(string) string) (string, error) {
	if d := getenv("COBALT_CONFIG_DIR"); d != "" {
		return d, nil
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "cobalt"), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config directory (set COBALT_CONFIG_DIR): %w", err)
	}
	return filepath.Join(d, "cobalt"), nil
}

const (
	profileFile = "profile.json"
	tokenDir    = "tokens"
)

// errNotLoggedIn tells the user how to sign in.
var errNotLoggedIn = &apiError{Code: "NotLoggedIn", Message: "Please run 'cobalt login' to set up an account."}

// loadProfile reads the stored profile.
func loadProfile(dir string) (*profile, error) {
	b, err := os.ReadFile(filepath.Join(dir, profileFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNotLoggedIn
	}
	if err != nil {
		return nil, err
	}
	var p profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", profileFile, err)
	}
	return &p, nil
}

// saveProfile writes the profile (0600) and drops every cached token, which
// belonged to the previous principal.
func saveProfile(dir string, p *profile) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, profileFile), append(b, '\n')); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(dir, tokenDir))
}

// writeFileAtomic writes name with mode 0600 through a temporary file and a
// rename, creating its directory (0700) if needed.
func writeFileAtomic(name string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

// cachedToken is one access token in the on-disk cache.
type cachedToken struct {
	AccessToken string    `json:"accessToken"`
	ExpiresOn   time.Time `json:"expiresOn"`
	RefreshOn   time.Time `json:"refreshOn,omitzero"`
}

// fresh reports whether t can still be used at now.
func (t cachedToken) fresh(now time.Time) bool {
	if t.AccessToken == "" || !now.Before(t.ExpiresOn.Add(-refreshMargin)) {
		return false
	}
	return t.RefreshOn.IsZero() || now.Before(t.RefreshOn)
}

// tokenCache hands out access tokens per scope, from a file per scope under
// the config directory (0600) while they are fresh, and from the credential
// otherwise. It implements azcore.TokenCredential so the SDK clients (azblob)
// share it.
type tokenCache struct {
	dir  string // config dir; tokens live in dir/tokens
	cred azcore.TokenCredential
	now  func() time.Time

	mu       sync.Mutex
	mem      map[string]cachedToken
	fromFile map[string]bool // scopes whose token in mem was read from the file cache
}

func newTokenCache(dir string, cred azcore.TokenCredential) *tokenCache {
	return &tokenCache{dir: dir, cred: cred, now: time.Now, mem: map[string]cachedToken{}, fromFile: map[string]bool{}}
}

// file names the cache file of a scope: a hash, since scopes are URLs.
func (c *tokenCache) file(scope string) string {
	h := sha256.Sum256([]byte(scope))
	return filepath.Join(c.dir, tokenDir, hex.EncodeToString(h[:8])+".json")
}

// GetToken implements azcore.TokenCredential for exactly one scope.
func (c *tokenCache) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) != 1 {
		return azcore.AccessToken{}, fmt.Errorf("token cache: want one scope, got %d", len(opts.Scopes))
	}
	tok, err := c.token(ctx, opts.Scopes[0])
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return azcore.AccessToken{Token: tok.AccessToken, ExpiresOn: tok.ExpiresOn, RefreshOn: tok.RefreshOn}, nil
}

// token returns a fresh token for scope.
func (c *tokenCache) token(ctx context.Context, scope string) (cachedToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if t, ok := c.mem[scope]; ok && t.fresh(now) {
		return t, nil
	}
	name := c.file(scope)
	if b, err := os.ReadFile(name); err == nil {
		var t cachedToken
		if json.Unmarshal(b, &t) == nil && t.fresh(now) {
			c.mem[scope], c.fromFile[scope] = t, true
			return t, nil
		}
	}
	at, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		return cachedToken{}, authError(err)
	}
	t := cachedToken{AccessToken: at.Token, ExpiresOn: at.ExpiresOn, RefreshOn: at.RefreshOn}
	c.mem[scope] = t
	if b, err := json.Marshal(t); err == nil {
		// A cache that cannot be written only costs a token request next time.
		_ = writeFileAtomic(name, b)
	}
	return t, nil
}

// forget drops the cached token of scope (memory and file) and reports
// whether it came from the file cache, i.e. whether a new one may help (a
// restarted installation with new keys, a deleted principal).
func (c *tokenCache) forget(scope string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mem, scope)
	_ = os.Remove(c.file(scope))
	fromFile := c.fromFile[scope]
	delete(c.fromFile, scope)
	return fromFile
}

// authError turns an azidentity failure into the token service's error code
// and description when the response carried them.
func authError(err error) error {
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) && af.RawResponse != nil {
		if e := decodeError(af.RawResponse); e != nil {
			return e
		}
	}
	return fmt.Errorf("sign-in failed: %w", err)
}

// newCredential builds the client-secret credential of a profile: the
// authority from the profile, instance discovery off (it would call public
// Microsoft hosts), and the installation CA through the client's transport.
func newCredential(p *profile, transport policy.Transporter) (azcore.TokenCredential, error) {
	host := p.AuthorityHost
	if !strings.HasSuffix(host, "/") {
		host += "/"
	}
	return azidentity.NewClientSecretCredential(p.TenantID, p.ClientID, p.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: host},
				Transport: transport,
				Retry:     policy.RetryOptions{MaxRetries: 2},
			},
			DisableInstanceDiscovery: true,
		})
}

// tokenClaims decodes the payload of a JWT without verifying it: the CLI reads
// its own token's oid this way.
func tokenClaims(raw string) (map[string]any, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("malformed token: want three parts")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("malformed token payload: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("malformed token payload: %w", err)
	}
	if m == nil {
		return nil, errors.New("malformed token payload: not an object")
	}
	return m, nil
}

// tokenOptions asks for a token for one scope.
func tokenOptions(scope string) policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{scope}}
}
