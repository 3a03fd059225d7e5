package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Token versions.
const (
	V1 = "1.0"
	V2 = "2.0"
)

// backdate is how far before issuance a token's iat and nbf lie; Entra
// backdates them by five minutes to tolerate clocks that run behind.
const backdate = 5 * time.Minute

// IssueRequest asks IssueToken for a token.
type IssueRequest struct {
	// ObjectID is the principal the token is for.
	ObjectID string
	// Resource is the audience, as requested (for example
	// "https://management.azure.com/"); a trailing "/.default" is removed.
	Resource string
	// Audit adds fields to the audit record, with the keys "node", "pool",
	// "task" and "address" (the caller's network address).
	Audit map[string]string
}

// Token is an issued access token.
type Token struct {
	// AccessToken is the signed JWT. Never log it.
	AccessToken string
	// IssuedAt is the iat claim (which, as on Entra, lies five minutes before
	// issuance); NotBefore the nbf claim; ExpiresAt the exp claim.
	IssuedAt, NotBefore, ExpiresAt time.Time
	// Resource is the audience as requested.
	Resource  string
	Principal cobalt.Principal
	// Version is the token version, V1 or V2, chosen by the resource.
	Version string
}

// accessClaims is the claim set of an Entra app-only access token.
type accessClaims struct {
	Aud      string `json:"aud"`
	Iss      string `json:"iss"`
	Iat      int64  `json:"iat"`
	Nbf      int64  `json:"nbf"`
	Exp      int64  `json:"exp"`
	Aio      string `json:"aio"`
	AppID    string `json:"appid,omitempty"`
	AppIDACR string `json:"appidacr,omitempty"`
	Azp      string `json:"azp,omitempty"`
	AzpACR   string `json:"azpacr,omitempty"`
	Idp      string `json:"idp"`
	Idtyp    string `json:"idtyp"`
	Oid      string `json:"oid"`
	Rh       string `json:"rh"`
	Sub      string `json:"sub"`
	Tid      string `json:"tid"`
	Uti      string `json:"uti"`
	Ver      string `json:"ver"`
	XmsMirid string `json:"xms_mirid,omitempty"`
}

// resourceVersion returns the token version for a resource, or ok false if the
// resource is not a valid audience. Azure resources, and every https URL, get
// v1 tokens as on Azure (their accessTokenAcceptedVersion is null); application
// IDs (GUIDs) and api:// URIs get v2 tokens.
func resourceVersion(resource string) (version string, ok bool) {
	if resource == "" || len(resource) > 1024 {
		return "", false
	}
	if _, err := uuid.Parse(resource); err == nil && len(resource) == 36 {
		return V2, true
	}
	u, err := url.Parse(resource)
	if err != nil || u.Host == "" || u.User != nil || strings.ContainsAny(resource, " \t\r\n") {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return V1, true
	case "api":
		return V2, true
	}
	return "", false
}

// IssueToken issues an access token for a principal without a client
// credential: the node API calls it for managed identities after its own
// checks. ENotFound if the principal does not exist or is disabled, EInvalid
// if the resource is not a valid audience. Managed identities' tokens carry
// appidacr "2" and xms_mirid. The token is audited.
func (s *Service) IssueToken(ctx context.Context, req IssueRequest) (Token, error) {
	start := time.Now() // latency is measured on the monotonic clock, not Config.Now
	p, err := s.store.PrincipalGet(ctx, req.ObjectID)
	if cobalt.IsCode(err, cobalt.ENotFound) || err == nil && p.Disabled {
		s.metrics.observe("managed_identity", "not_found", start)
		return Token{}, cobalt.Errorf(cobalt.ENotFound, "The principal %q was not found.", req.ObjectID)
	}
	if err != nil {
		s.metrics.observe("managed_identity", "error", start)
		return Token{}, fmt.Errorf("issue token: %w", err)
	}
	resource := strings.TrimSuffix(req.Resource, "/.default")
	ver, ok := resourceVersion(resource)
	if !ok {
		s.metrics.observe("managed_identity", "invalid_resource", start)
		return Token{}, cobalt.Errorf(cobalt.EInvalid, "The resource %q is not a valid audience.", req.Resource).WithTarget("resource")
	}
	acr := "1"
	if p.Kind == cobalt.KindManagedIdentity {
		acr = "2"
	}
	actor := req.Audit["node"]
	if actor == "" {
		actor = "system"
	}
	t, err := s.mint(ctx, &p, resource, ver, acr, "managed_identity", actor, req.Audit)
	if err != nil {
		s.metrics.observe("managed_identity", "error", start)
		return Token{}, err
	}
	s.metrics.observe("managed_identity", "success", start)
	return t, nil
}

// mint signs a token for p and writes its audit record.
func (s *Service) mint(ctx context.Context, p *store.PrincipalRecord, resource, ver, acr, grant, actor string, audit map[string]string) (Token, error) {
	sk, err := s.signer(ctx)
	if err != nil {
		return Token{}, err
	}
	now := s.now()
	iat := now.Add(-backdate).Truncate(time.Second)
	exp := now.Add(s.lifetime).Truncate(time.Second)
	c := accessClaims{
		Aud: resource, Iat: iat.Unix(), Nbf: iat.Unix(), Exp: exp.Unix(),
		Aio: randomString(base64.StdEncoding, 51), Idtyp: "app",
		Oid: p.ObjectID, Sub: p.ObjectID, Tid: p.TenantID,
		Rh:  "0." + randomString(base64.RawURLEncoding, 48),
		Uti: randomString(base64.RawURLEncoding, 16), Ver: ver,
	}
	if p.Kind == cobalt.KindManagedIdentity {
		c.XmsMirid = p.ResourceID
	}
	signer := sk.signerV1
	if ver == V1 {
		c.Iss = s.IssuerV1(p.TenantID)
		c.AppID, c.AppIDACR = p.ClientID, acr
	} else {
		c.Iss = s.IssuerV2(p.TenantID)
		c.Azp, c.AzpACR = p.ClientID, acr
		signer = sk.signerV2
	}
	c.Idp = c.Iss
	payload, err := json.Marshal(c)
	if err != nil {
		return Token{}, err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return Token{}, fmt.Errorf("sign token: %w", err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		return Token{}, fmt.Errorf("serialize token: %w", err)
	}
	fields := map[string]string{"audience": resource, "client_id": p.ClientID, "grant": grant, "version": ver,
		"kid": sk.kid, "uti": c.Uti, "expires": exp.UTC().Format(time.RFC3339)}
	for _, k := range []string{"node", "pool", "task", "address", "federated_issuer", "federated_subject"} {
		if v := audit[k]; v != "" {
			fields[k] = v
		}
	}
	if err := s.store.AuditAppend(ctx, store.AuditRecord{Time: now, Kind: "token.issued", Actor: actor, Subject: p.ObjectID, Fields: fields}); err != nil {
		return Token{}, fmt.Errorf("audit token: %w", err)
	}
	s.log.Debug("login: token issued", logkey.ObjectID, p.ObjectID, logkey.Audience, resource, logkey.Grant, grant, logkey.TokenID, c.Uti)
	return Token{
		AccessToken: raw, IssuedAt: iat, NotBefore: iat, ExpiresAt: exp,
		Resource: resource, Principal: p.Principal, Version: ver,
	}, nil
}

// randomString returns n random bytes in the given encoding.
func randomString(enc *base64.Encoding, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return enc.EncodeToString(b)
}
