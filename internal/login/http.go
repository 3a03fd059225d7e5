package login

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/cobaltbatch/cobalt"
)

// Handler returns the HTTP handler of the authority, to serve at the root of
// AuthorityURL: discovery documents, key sets and token endpoints.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.handleDiscovery(true))
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", s.handleDiscovery(false))
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.handleKeys(true))
	mux.HandleFunc("GET /{tenant}/discovery/keys", s.handleKeys(false))
	mux.HandleFunc("/{tenant}/oauth2/v2.0/token", s.handleToken(true))
	mux.HandleFunc("/{tenant}/oauth2/token", s.handleToken(false))
	mux.HandleFunc("/{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/logout", s.handleLogout)
	return mux
}

// tenantStatus classifies the {tenant} path segment.
type tenantStatus int

const (
	tenantUnknown tenantStatus = iota
	tenantKnown
	tenantCommon // common, organizations, consumers
)

// resolveTenant classifies a tenant path segment and returns the tenant's ID
// as stored: tenant GUIDs match in any letter case, as on Entra. Errors are internal.
func (s *Service) resolveTenant(ctx context.Context, tenant string) (tenantStatus, string, error) {
	if reservedTenants[strings.ToLower(tenant)] {
		return tenantCommon, tenant, nil
	}
	ok, err := s.knownTenant(ctx, tenant)
	if err != nil {
		return tenantUnknown, tenant, err
	}
	if !ok {
		lower := strings.ToLower(tenant)
		if _, perr := uuid.Parse(tenant); perr != nil || lower == tenant {
			return tenantUnknown, tenant, nil
		}
		if ok, err = s.knownTenant(ctx, lower); err != nil || !ok {
			return tenantUnknown, tenant, err
		}
		tenant = lower
	}
	return tenantKnown, tenant, nil
}

func tenantNotFound(tenant string) error {
	return aadError(aadTenantNotFound, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", clip(tenant))
}

// discoveryDoc is an OpenID Provider Metadata document as Entra serves it.
type discoveryDoc struct {
	TokenEndpoint                     string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	Issuer                            string   `json:"issuer"`
	RequestURIParameterSupported      *bool    `json:"request_uri_parameter_supported,omitempty"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint"`
	HTTPLogoutSupported               bool     `json:"http_logout_supported"`
	FrontchannelLogoutSupported       bool     `json:"frontchannel_logout_supported"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	ClaimsSupported                   []string `json:"claims_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
}

// discovery returns the discovery document of a tenant path segment. For the
// tenant-independent names the issuer is templated with {tenantid}, as on Entra.
func (s *Service) discovery(tenant string, v2 bool, common bool) discoveryDoc {
	base := s.authority + "/" + tenant
	issTenant := tenant
	if common {
		issTenant = "{tenantid}"
	}
	d := discoveryDoc{
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		ResponseModesSupported:            []string{"query", "fragment", "form_post"},
		SubjectTypesSupported:             []string{"pairwise"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		HTTPLogoutSupported:               true,
		FrontchannelLogoutSupported:       true,
		GrantTypesSupported:               []string{"client_credentials", "authorization_code", "refresh_token"},
	}
	if v2 {
		f := false
		d.TokenEndpoint = base + "/oauth2/v2.0/token"
		d.JWKSURI = base + "/discovery/v2.0/keys"
		d.ResponseTypesSupported = []string{"code", "id_token", "code id_token", "id_token token"}
		d.ScopesSupported = []string{"openid", "profile", "email", "offline_access"}
		d.Issuer = s.IssuerV2(issTenant)
		d.RequestURIParameterSupported = &f
		d.AuthorizationEndpoint = base + "/oauth2/v2.0/authorize"
		d.DeviceAuthorizationEndpoint = base + "/oauth2/v2.0/devicecode"
		d.EndSessionEndpoint = base + "/oauth2/v2.0/logout"
		d.ClaimsSupported = []string{"sub", "iss", "aud", "exp", "iat", "nbf", "oid", "tid", "azp", "azpacr", "ver", "uti", "rh", "idtyp"}
	} else {
		d.TokenEndpoint = base + "/oauth2/token"
		d.JWKSURI = base + "/discovery/keys"
		d.ResponseTypesSupported = []string{"code", "id_token", "code id_token", "token id_token", "token"}
		d.ScopesSupported = []string{"openid"}
		d.Issuer = s.IssuerV1(issTenant)
		d.AuthorizationEndpoint = base + "/oauth2/authorize"
		d.DeviceAuthorizationEndpoint = base + "/oauth2/devicecode"
		d.EndSessionEndpoint = base + "/oauth2/logout"
		d.ClaimsSupported = []string{"sub", "iss", "aud", "exp", "iat", "nbf", "oid", "tid", "appid", "appidacr", "ver", "uti", "rh", "idtyp", "xms_mirid"}
	}
	return d
}

func (s *Service) handleDiscovery(v2 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ts, tenant, err := s.resolveTenant(r.Context(), r.PathValue("tenant"))
		if err != nil {
			s.writeOAuthError(w, r, err, "")
			return
		}
		if ts == tenantUnknown {
			s.writeOAuthError(w, r, tenantNotFound(tenant), "invalid_tenant")
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		writeJSONCached(w, s.discovery(tenant, v2, ts == tenantCommon))
	}
}

// jwk is one key of a JWKS as Entra publishes it.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t,omitempty"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c,omitempty"`
	Issuer string   `json:"issuer,omitempty"`
}

// wireKeys renders a key set; issuer, if not empty, is set on every key (v2).
func wireKeys(set jose.JSONWebKeySet, issuer string) []jwk {
	out := make([]jwk, 0, len(set.Keys))
	for _, k := range set.Keys {
		pub, ok := k.Key.(*rsa.PublicKey)
		if !ok {
			continue
		}
		e := jwk{
			Kty: "RSA", Use: "sig", Kid: k.KeyID,
			N:      base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
			Issuer: issuer,
		}
		if len(k.CertificateThumbprintSHA1) > 0 {
			e.X5t = base64.RawURLEncoding.EncodeToString(k.CertificateThumbprintSHA1)
		}
		for _, c := range k.Certificates {
			e.X5c = append(e.X5c, base64.StdEncoding.EncodeToString(c.Raw))
		}
		out = append(out, e)
	}
	return out
}

func (s *Service) handleKeys(v2 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ts, tenant, err := s.resolveTenant(r.Context(), r.PathValue("tenant"))
		if err != nil {
			s.writeOAuthError(w, r, err, "")
			return
		}
		if ts == tenantUnknown {
			s.writeOAuthError(w, r, tenantNotFound(tenant), "invalid_tenant")
			return
		}
		set, err := s.KeySet(r.Context())
		if err != nil {
			s.writeOAuthError(w, r, err, "")
			return
		}
		issuer := ""
		if v2 {
			if ts == tenantCommon {
				issuer = s.IssuerV2("{tenantid}")
			} else {
				issuer = s.IssuerV2(tenant)
			}
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		writeJSONCached(w, struct {
			Keys []jwk `json:"keys"`
		}{wireKeys(set, issuer)})
	}
}

// writeJSONCached writes a public document that clients may cache for a
// short while, well under the default key activation delay.
func writeJSONCached(w http.ResponseWriter, v any) {
	writeJSONCache(w, http.StatusOK, v, "max-age=60, private")
}

// tokenResponseV2 is the v2 endpoint's success body.
type tokenResponseV2 struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
}

// tokenResponseV1 is the v1 endpoint's success body; as on Entra, its numbers are strings.
type tokenResponseV1 struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    string `json:"expires_in"`
	ExtExpiresIn string `json:"ext_expires_in"`
	ExpiresOn    string `json:"expires_on"`
	NotBefore    string `json:"not_before"`
	Resource     string `json:"resource"`
	AccessToken  string `json:"access_token"`
}

const grantClientCredentials = "client_credentials"

func (s *Service) handleToken(v2 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now() // latency is measured on the monotonic clock, not Config.Now
		result, grant := "success", grantClientCredentials
		defer func() { s.metrics.observe(grant, result, start) }()
		fail := func(err error) {
			result = "error"
			if code, ok := aadCode(err); ok {
				result = aadTable[code].err
			}
			s.writeOAuthError(w, r, err, "")
		}
		switch r.Method {
		case http.MethodPost:
		case http.MethodOptions:
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			fail(aadError(aadMethodNotAllowed, "The endpoint only accepts POST, OPTIONS requests. Received a %s request.", clip(r.Method)))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		ts, tenant, err := s.resolveTenant(r.Context(), r.PathValue("tenant"))
		switch {
		case err != nil:
			fail(err)
			return
		case ts == tenantCommon:
			fail(aadError(aadNoTenantInfo, "No tenant-identifying information found in either the request or implied by any provided credentials."))
			return
		case ts == tenantUnknown:
			fail(tenantNotFound(tenant))
			return
		}
		if err := parseForm(r); err != nil {
			fail(err)
			return
		}
		if g := r.PostForm.Get("grant_type"); v2 && (g == grantAuthorizationCode || g == grantRefreshToken) {
			grant = g
			s.handleUserGrant(w, r, tenant, fail)
			return
		}
		tr, err := parseTokenRequest(r, v2)
		if err != nil {
			fail(err)
			return
		}
		tok, err := s.clientCredentials(r.Context(), tenant, tr, remoteHost(r))
		if err != nil {
			fail(err)
			return
		}
		expiresIn := int64(tok.ExpiresAt.Sub(s.now()) / time.Second)
		if v2 {
			writeJSON(w, http.StatusOK, tokenResponseV2{TokenType: "Bearer", ExpiresIn: expiresIn, ExtExpiresIn: expiresIn, AccessToken: tok.AccessToken})
			return
		}
		n := strconv.FormatInt(expiresIn, 10)
		writeJSON(w, http.StatusOK, tokenResponseV1{
			TokenType: "Bearer", ExpiresIn: n, ExtExpiresIn: n,
			ExpiresOn: strconv.FormatInt(tok.ExpiresAt.Unix(), 10), NotBefore: strconv.FormatInt(tok.NotBefore.Unix(), 10),
			Resource: tok.Resource, AccessToken: tok.AccessToken,
		})
	}
}

// clientCredentials authenticates a client and issues its token.
func (s *Service) clientCredentials(ctx context.Context, tenant string, tr tokenRequest, addr string) (Token, error) {
	if _, ok := resourceVersion(tr.resource); !ok {
		return Token{}, aadError(aadResourceNotFound, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", clip(tr.resource), tenant)
	}
	p, err := s.principalByClientID(ctx, tenant, tr.clientID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return Token{}, aadError(aadAppNotFound, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clip(tr.clientID), tenant)
	}
	if err != nil {
		return Token{}, err
	}
	if p.Kind == cobalt.KindUser {
		return Token{}, aadError(aadUserGrantNotAllowed, "A user cannot be a client application.")
	}
	if p.Disabled {
		return Token{}, aadError(aadAppDisabled, "Application '%s'(%s) is disabled.", p.ClientID, p.DisplayName)
	}
	if tr.assertion != "" {
		if p.Kind == cobalt.KindManagedIdentity {
			return s.federatedToken(ctx, &p, tr.assertion, tr.resource, addr)
		}
		return Token{}, aadError(aadInvalidAssertion, "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found.]")
	}
	if tr.clientSecret == "" {
		return Token{}, aadError(aadMissingCredential, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	ok, expired := secretMatches(&p, tr.clientSecret, s.now())
	if !ok {
		if expired {
			return Token{}, aadError(aadExpiredSecret, "The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", p.ClientID)
		}
		return Token{}, aadError(aadInvalidSecret, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", p.ClientID)
	}
	ver, _ := resourceVersion(tr.resource)
	return s.mint(ctx, &p, tr.resource, ver, "1", grantClientCredentials, p.ObjectID, map[string]string{"address": addr})
}

// remoteHost returns the host part of the request's remote address.
func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}
