package login

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// maxBodyBytes limits a token request body. The SDKs send well under 2 KiB;
// the CAE claims parameter and telemetry fields fit with room to spare.
const maxBodyBytes = 64 << 10

// tokenRequest is a parsed client-credentials token request.
type tokenRequest struct {
	clientID     string
	clientSecret string
	// assertion is the client_assertion, when the client sent one: a
	// certificate credential's (which this service does not support) or an
	// external issuer's token for a federated identity credential.
	assertion string
	// resource is the audience: v1's resource parameter, or v2's .default
	// scope with "/.default" removed.
	resource string
}

// oidcScopes are the scopes that may accompany a .default scope and are ignored.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// parseTokenRequest reads a client-credentials request from r (a POST with a
// form body, already size-limited) for the v1 (resource=) or v2 (scope=)
// endpoint. Errors carry their AADSTS code. Unknown parameters, such as the
// SDKs' telemetry fields and the claims parameter, are ignored.
func parseTokenRequest(r *http.Request, v2 bool) (tokenRequest, error) {
	var tr tokenRequest
	if err := parseForm(r); err != nil {
		return tr, err
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	if grant == "" {
		return tr, aadError(aadMissingParameter, "The request body must contain the following parameter: 'grant_type'.")
	}
	if grant != "client_credentials" {
		return tr, aadError(aadUnsupportedGrant, "The app requested an unsupported grant type '%s'.", clip(grant))
	}

	tr.clientID, tr.clientSecret = f.Get("client_id"), f.Get("client_secret")
	if h := r.Header.Get("Authorization"); h != "" {
		id, secret, err := parseBasic(h)
		if err != nil {
			return tr, err
		}
		if tr.clientID != "" && tr.clientID != id {
			return tr, aadError(aadClientIDMismatch, "The client_id in the request body does not match the client in the Authorization header.")
		}
		if tr.clientSecret != "" && tr.clientSecret != secret {
			return tr, aadError(aadInvalidClientHeader, "The request must not use more than one client authentication method.")
		}
		tr.clientID, tr.clientSecret = id, secret
	}
	if tr.clientID == "" {
		return tr, aadError(aadMissingParameter, "The request body must contain the following parameter: 'client_id'.")
	}
	tr.assertion = f.Get("client_assertion")
	if tr.assertion != "" {
		if t := f.Get("client_assertion_type"); t != clientAssertionType {
			return tr, aadError(aadInvalidClientHeader, "The client_assertion_type '%s' is not supported; it must be '%s'.", clip(t), clientAssertionType)
		}
		if tr.clientSecret != "" {
			return tr, aadError(aadInvalidClientHeader, "The request must not use more than one client authentication method.")
		}
	}

	if !v2 {
		tr.resource = f.Get("resource")
		if tr.resource == "" {
			return tr, aadError(aadMissingParameter, "The request body must contain the following parameter: 'resource'.")
		}
		return tr, nil
	}
	scope := f.Get("scope")
	if strings.TrimSpace(scope) == "" {
		return tr, aadError(aadMissingParameter, "The request body must contain the following parameter: 'scope'.")
	}
	var other string
	for _, sc := range strings.Fields(scope) {
		switch {
		case strings.HasSuffix(sc, "/.default"):
			if tr.resource != "" {
				return tr, aadError(aadInvalidScope, "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", clip(scope))
			}
			tr.resource = strings.TrimSuffix(sc, "/.default")
		case oidcScopes[sc]:
		default:
			other = sc
		}
	}
	if other != "" {
		return tr, aadError(aadScopeNeedsDefault, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", clip(other))
	}
	if tr.resource == "" {
		return tr, aadError(aadInvalidScope, "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", clip(scope))
	}
	return tr, nil
}

// parseForm parses a token request's form body (already size-limited);
// errors carry their AADSTS code.
func parseForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return aadError(aadQueryTooLong, "The request body is larger than %d bytes.", maxBodyBytes)
		}
		return aadError(aadMissingParameter, "The request body must contain the following parameter: 'grant_type'.")
	}
	return nil
}

// parseBasic parses HTTP Basic client authentication. Per RFC 6749 §2.3.1 the
// client ID and secret are form-urlencoded before base64; values that do not
// unescape are taken as they are.
func parseBasic(h string) (id, secret string, err error) {
	bad := aadError(aadInvalidClientHeader, "The Authorization header is not valid HTTP Basic client authentication.")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", bad
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", bad
	}
	id, secret, ok = strings.Cut(string(raw), ":")
	if !ok || id == "" {
		return "", "", bad
	}
	return unescape(id), unescape(secret), nil
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// clip shortens a client-supplied value echoed in an error message.
func clip(s string) string {
	const max = 256
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
