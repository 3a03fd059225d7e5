package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"
)

func init() { register(nodeCmd) }

// imdsHost is the link-local IMDS address. The CLI only ever sends to it from
// inside a node's own network namespace (see imdsGetCmd).
const imdsHost = agent.IMDSAddress

// nodeIMDSFile is what a node agent publishes in its root directory: where
// its IMDS serves (process isolation) or the namespace it lives in (netns).
type nodeIMDSFile struct {
	URL       string `json:"url"`
	Namespace string `json:"namespace,omitempty"`
	// Secret is the node's secret, which a process-mode IMDS requires.
	Secret string `json:"secret,omitempty"`
}

// nodeCmd holds node-local debugging commands.
func nodeCmd(g *globals) *cobra.Command {
	return withQuery(group("node", "Debug compute nodes", nodeTokenCmd(g), imdsGetCmd(g)))
}

// nodeTokenCmd asks a node's IMDS for a token, as a task on that node would,
// and prints the token's claims after verifying its signature.
func nodeTokenCmd(g *globals) *cobra.Command {
	var t batchTarget
	var pool, node, resource, clientID, imdsURL string
	cmd := leaf("token", "Ask a node's IMDS for a managed-identity token and print its verified claims", action(g, tokenColumns, func(ctx context.Context, c *client) (any, error) {
		if t.account == "" {
			acct, err := c.findPoolAccount(ctx, pool)
			if err != nil {
				return nil, err
			}
			t.account = acct
		}
		bd, err := c.batch(ctx, t)
		if err != nil {
			return nil, err
		}
		if node == "" {
			if node, err = pickNode(ctx, bd, pool); err != nil {
				return nil, err
			}
		}
		q := url.Values{"api-version": {"2018-02-01"}, "resource": {resource}}
		if clientID != "" {
			q.Set("client_id", clientID)
		}
		status, body, src, err := c.askIMDS(ctx, g, node, imdsURL, "/metadata/identity/oauth2/token?"+q.Encode())
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			if e := parseErrorBody(body); e != nil {
				e.Status = status
				return nil, e
			}
			return nil, &apiError{Status: status, Code: http.StatusText(status), Message: "IMDS returned status " + fmt.Sprint(status)}
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			ExpiresOn   string `json:"expires_on"`
			Resource    string `json:"resource"`
			ClientID    string `json:"client_id"`
		}
		if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
			return nil, &apiError{Code: "InvalidTokenResponse", Message: "IMDS returned no access_token."}
		}
		info, err := c.verifyToken(ctx, tok.AccessToken)
		if info == nil {
			return nil, err
		}
		info.Node, info.Pool, info.IMDS, info.Resource, info.ExpiresOn = node, pool, src, tok.Resource, tok.ExpiresOn
		if err != nil { // show what the token claims, then fail
			_ = printResult(g, info, tokenColumns)
			return nil, err
		}
		return info, nil
	}))
	batchFlags(g, cmd, &t)
	cmd.Flags().Lookup("account-name").Annotations = nil // optional here: found from the pool
	cmd.Flags().StringVar(&pool, "pool", "", "pool ID")
	cmd.Flags().StringVar(&node, "node", "", "node ID (default: a ready node of the pool)")
	cmd.Flags().StringVar(&resource, "resource", "", "token audience, e.g. https://storage.azure.com")
	cmd.Flags().StringVar(&clientID, "client-id", "", "client ID of one of the pool's identities")
	cmd.Flags().StringVar(&imdsURL, "imds-url", "", "the node's IMDS base URL (default: found from the node)")
	return required(cmd, "pool", "resource")
}

var tokenColumns = []column{col("Node", "node"), col("Verified", "signatureVerified"), col("Audience", "claims.aud"),
	col("AppId", "claims.appid"), col("ObjectId", "claims.oid"), col("Identity", "claims.xms_mirid")}

// tokenInfo is what `node token` prints.
type tokenInfo struct {
	Node              string         `json:"node"`
	Pool              string         `json:"pool"`
	IMDS              string         `json:"imds"`
	Resource          string         `json:"resource"`
	ExpiresOn         string         `json:"expiresOn"`
	SignatureVerified bool           `json:"signatureVerified"`
	KeyID             string         `json:"keyId"`
	Header            map[string]any `json:"header"`
	Claims            map[string]any `json:"claims"`
}

// findPoolAccount returns the Batch account that has a pool named pool.
func (c *client) findPoolAccount(ctx context.Context, pool string) (string, error) {
	accts, err := c.armList(ctx, c.sub()+"/providers/"+providerBatch+"/"+typeBatch, apiBatchMgmt)
	if err != nil {
		return "", err
	}
	for _, a := range accts {
		var r struct{ ID, Name string }
		_ = json.Unmarshal(a, &r)
		if _, err := c.armGet(ctx, r.ID+"/pools/"+url.PathEscape(pool), apiBatchMgmt); err == nil {
			return r.Name, nil
		} else if !isNotFound(err) {
			return "", err
		}
	}
	return "", &apiError{Status: http.StatusNotFound, Code: "PoolNotFound", Message: "No Batch account has a pool '" + pool + "'."}
}

// pickNode returns the first node of the pool that can run tasks.
func pickNode(ctx context.Context, bd *batchData, pool string) (string, error) {
	nodes, err := bd.list(ctx, "/pools/"+url.PathEscape(pool)+"/nodes", nil)
	if err != nil {
		return "", err
	}
	for _, n := range nodes {
		var r struct{ ID, State string }
		_ = json.Unmarshal(n, &r)
		if r.State == "idle" || r.State == "running" {
			return r.ID, nil
		}
	}
	return "", &apiError{Code: "NoReadyNode", Message: "Pool '" + pool + "' has no idle or running node."}
}

// askIMDS sends one GET to a node's IMDS and returns the status, the body and
// a description of where it went. It finds the node's IMDS from --imds-url,
// from the file its agent publishes under the data directory, or from
// its network namespace (cobalt-<pid>-<hash of the node ID>); in a namespace
// the request runs through `ip netns exec` and `cobalt node imds-get`.
func (c *client) askIMDS(ctx context.Context, g *globals, node, override, pathQuery string) (int, []byte, string, error) {
	f := nodeIMDSFile{URL: override}
	if f.URL == "" {
		f = findNodeIMDS(c.dataDirs(g), node)
	}
	if f.Namespace != "" {
		return imdsInNamespace(ctx, f.Namespace, pathQuery)
	}
	if f.URL == "" {
		return 0, nil, "", &apiError{Code: "NodeIMDSNotFound", Message: "Cannot find the IMDS of node '" + node +
			"' on this host: run the command where `cobalt up` runs (with --data), or pass --imds-url."}
	}
	u, err := url.Parse(f.URL)
	if err != nil || !isLoopback(u.Hostname()) {
		return 0, nil, "", invalidArg("--imds-url", f.URL, "want a loopback http URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(f.URL, "/")+pathQuery, nil)
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Metadata", "true")
	if f.Secret != "" {
		req.Header.Set("X-IDENTITY-HEADER", f.Secret)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, f.URL, err
}

// isLoopback reports whether host is a loopback address or localhost.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dataDirs lists where node directories may live: --data and the data
// directory the profile came from, and for each the directory under the
// system's temporary directory where a root `cobalt up` keeps its nodes (its
// data directory is private, and non-admin tasks must reach their node
// directories), named for the installation's subscription.
func (c *client) dataDirs(g *globals) []string {
	dirs := []string{g.DataDir}
	if c.profile.DataDir != "" {
		dirs = append(dirs, c.profile.DataDir)
	}
	for _, d := range dirs[:len(dirs):len(dirs)] {
		if e, err := server.ReadEndpoints(d); err == nil && len(e.SubscriptionID) >= 8 {
			dirs = append(dirs, filepath.Join(os.TempDir(), "cobalt-nodes-"+e.SubscriptionID[:8]))
		}
	}
	return dirs
}

// findNodeIMDS looks for the file the node's agent publishes beside its
// credential (DIR/…/.credentials/<node>.imds, up to three levels below a
// directory of dataDirs, see hostagent.IMDSPath), then for the node's
// network namespace. Nothing is read from the node's own directory, which
// the node's root controls, and a namespace is used only if its name is
// this node's (cobalt-<pid>-<hash of the node ID>).
func findNodeIMDS(dataDirs []string, node string) nodeIMDSFile {
	sum := sha256.Sum256([]byte(node))
	suffix := "-" + hex.EncodeToString(sum[:4])
	for _, d := range dataDirs {
		for _, pat := range []string{".", "*", "*/*", "*/*/*"} {
			matches, _ := filepath.Glob(filepath.Join(d, pat, ".credentials", node+".imds"))
			for _, m := range matches {
				var f nodeIMDSFile
				if b, err := os.ReadFile(m); err != nil || json.Unmarshal(b, &f) != nil {
					continue
				}
				if f.Namespace != "" && !nodeNamespace(f.Namespace, suffix) {
					continue
				}
				if f.URL != "" || f.Namespace != "" {
					return f
				}
			}
		}
	}
	matches, _ := filepath.Glob("/run/netns/cobalt-*" + suffix)
	for _, m := range matches {
		if nodeNamespace(filepath.Base(m), suffix) {
			return nodeIMDSFile{URL: "http://" + imdsHost, Namespace: filepath.Base(m)}
		}
	}
	return nodeIMDSFile{}
}

// nodeNamespace reports whether ns is a Cobalt node namespace name,
// cobalt-<pid>-<hash>, with the given "-<hash>" suffix.
func nodeNamespace(ns, suffix string) bool {
	pid, ok := strings.CutPrefix(strings.TrimSuffix(ns, suffix), "cobalt-")
	if !ok || !strings.HasSuffix(ns, suffix) || pid == "" {
		return false
	}
	for _, r := range pid {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// imdsInNamespace runs `ip netns exec NS <this binary> node imds-get` and
// decodes its {"status","body"} answer.
func imdsInNamespace(ctx context.Context, ns, pathQuery string) (int, []byte, string, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, nil, "", err
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, self, "node", "imds-get", "--netns", ns, "--path", pathQuery)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return 0, nil, "", fmt.Errorf("ip netns exec %s: %v: %s", ns, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return 0, nil, "", err
	}
	var r struct {
		Status int             `json:"status"`
		Body   json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, nil, "", fmt.Errorf("imds-get: %w", err)
	}
	return r.Status, r.Body, "http://" + imdsHost + " in netns " + ns, nil
}

// imdsGetCmd is the half of `node token` that runs inside a node's namespace.
// It refuses to run anywhere else, so it never sends to the link-local
// address from the host's network.
func imdsGetCmd(g *globals) *cobra.Command {
	var ns, pathQuery string
	cmd := &cobra.Command{
		Use:    "imds-get",
		Short:  "GET a path from IMDS inside a node's network namespace (used by node token)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !agent.InNodeNamespace(ns) {
				return &apiError{Code: "NotInNodeNamespace", Message: "imds-get runs only inside a Cobalt node's network namespace (ip netns exec " + ns + ")."}
			}
			if !strings.HasPrefix(pathQuery, "/metadata/") {
				return invalidArg("--path", pathQuery, "want /metadata/...")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+imdsHost+pathQuery, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Metadata", "true")
			resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if err != nil {
				return err
			}
			if !json.Valid(b) {
				b, _ = json.Marshal(string(b))
			}
			return json.NewEncoder(g.Stdout).Encode(map[string]any{"status": resp.StatusCode, "body": json.RawMessage(b)})
		},
	}
	cmd.Flags().StringVar(&ns, "netns", "", "the node's namespace name")
	cmd.Flags().StringVar(&pathQuery, "path", "", "path and query, e.g. /metadata/identity/oauth2/token?...")
	return required(cmd, "netns", "path")
}

// verifyToken checks a JWT's signature against the authority's published
// keys (OIDC discovery of the signed-in tenant, then jwks_uri) and decodes it.
func (c *client) verifyToken(ctx context.Context, raw string) (*tokenInfo, error) {
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, &apiError{Code: "InvalidToken", Message: fmt.Sprintf("The token is not an RS256 JWT: %v", err)}
	}
	info := &tokenInfo{KeyID: jws.Signatures[0].Header.KeyID}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &info.Claims); err != nil {
		return nil, &apiError{Code: "InvalidToken", Message: "The token's claims are not JSON."}
	}
	if info.Header, err = tokenHeader(raw); err != nil {
		return nil, err
	}
	disco := strings.TrimSuffix(c.profile.AuthorityHost, "/") + "/" + c.profile.TenantID + "/v2.0/.well-known/openid-configuration"
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if _, err := c.doJSON(ctx, request{method: http.MethodGet, url: disco}, &doc); err != nil {
		return nil, err
	}
	var keys jose.JSONWebKeySet
	if _, err := c.doJSON(ctx, request{method: http.MethodGet, url: doc.JWKSURI}, &keys); err != nil {
		return nil, err
	}
	for _, k := range keys.Key(info.KeyID) {
		if _, err := jws.Verify(k.Key); err == nil {
			info.SignatureVerified = true
			return info, nil
		}
	}
	return info, &apiError{Code: "InvalidSignature", Message: "The token's signature does not verify against the authority's keys (kid " + info.KeyID + ")."}
}

// tokenHeader decodes a JWT's protected header.
func tokenHeader(raw string) (map[string]any, error) {
	h, _, _ := strings.Cut(raw, ".")
	m, err := tokenClaims("x." + h + ".x")
	if err != nil {
		return nil, &apiError{Code: "InvalidToken", Message: "The token's header is not JSON."}
	}
	return m, nil
}
