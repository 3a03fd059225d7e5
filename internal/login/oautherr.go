package login

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// AADSTS error codes that the service sends, as Entra does.
const (
	aadTenantNotFound      = 90002   // tenant not found
	aadQueryTooLong        = 90015   // request too long
	aadTransient           = 90033   // transient error
	aadNoTenantInfo        = 50059   // no tenant-identifying information (common endpoint)
	aadUnsupportedGrant    = 70003   // unsupported grant type
	aadInvalidScope        = 70011   // invalid scope
	aadAppNotFound         = 700016  // application not found in the directory
	aadInvalidAssertion    = 700027  // client assertion failed signature validation
	aadAppDisabled         = 7000112 // application disabled
	aadInvalidSecret       = 7000215 // invalid client secret
	aadMissingCredential   = 7000218 // neither client_assertion nor client_secret
	aadExpiredSecret       = 7000222 // client secret expired
	aadMissingParameter    = 900144  // required parameter missing
	aadMethodNotAllowed    = 900561  // endpoint accepts POST only
	aadResourceNotFound    = 500011  // resource principal not found
	aadScopeNeedsDefault   = 1002012 // client credentials need <resource>/.default
	aadClientIDMismatch    = 90014   // client_id differs between header and body
	aadInvalidClientHeader = 7000219 // malformed client authentication

	aadInvalidCredentials   = 50126   // wrong user name or password
	aadLockedOut            = 50053   // too many failed sign-ins
	aadUserDisabled         = 50057   // user account disabled
	aadRedirectMismatch     = 50011   // redirect URI not registered for the client
	aadCodeRedeemed         = 54005   // authorization code already redeemed
	aadCodeExpired          = 70008   // authorization code or refresh token expired
	aadInvalidGrant         = 70000   // grant invalid or malformed
	aadPKCEMismatch         = 50148   // code_verifier does not match code_challenge
	aadPKCERequired         = 9002325 // PKCE required (S256)
	aadResponseTypeDisabled = 700054  // response_type not enabled
	aadUserGrantNotAllowed  = 700025  // a user cannot be a client

	aadInvalidJWT          = 50027  // client assertion malformed
	aadNoFederatedRecord   = 70021  // no federated identity credential matches
	aadNoFederatedIssuer   = 700211 // no credential with the assertion's issuer
	aadNoFederatedAudience = 700212 // no credential with the assertion's audience
	aadNoFederatedSubject  = 700213 // no credential with the assertion's subject
	aadAssertionLifetime   = 700024 // client assertion expired or not yet valid
	aadExternalOIDCFailed  = 90061  // the external issuer's keys could not be fetched
)

// aadWire is how one AADSTS code goes on the wire: the HTTP status and the
// OAuth "error" value. This is the OAuth protocol's error table.
type aadWire struct {
	status int
	err    string
}

var aadTable = map[int]aadWire{
	aadTenantNotFound:      {http.StatusBadRequest, "invalid_request"},
	aadQueryTooLong:        {http.StatusRequestEntityTooLarge, "invalid_request"},
	aadTransient:           {http.StatusInternalServerError, "temporarily_unavailable"},
	aadNoTenantInfo:        {http.StatusBadRequest, "invalid_request"},
	aadUnsupportedGrant:    {http.StatusBadRequest, "unsupported_grant_type"},
	aadInvalidScope:        {http.StatusBadRequest, "invalid_scope"},
	aadAppNotFound:         {http.StatusBadRequest, "unauthorized_client"},
	aadInvalidAssertion:    {http.StatusUnauthorized, "invalid_client"},
	aadAppDisabled:         {http.StatusBadRequest, "unauthorized_client"},
	aadInvalidSecret:       {http.StatusUnauthorized, "invalid_client"},
	aadMissingCredential:   {http.StatusUnauthorized, "invalid_client"},
	aadExpiredSecret:       {http.StatusUnauthorized, "invalid_client"},
	aadMissingParameter:    {http.StatusBadRequest, "invalid_request"},
	aadMethodNotAllowed:    {http.StatusBadRequest, "invalid_request"},
	aadResourceNotFound:    {http.StatusBadRequest, "invalid_resource"},
	aadScopeNeedsDefault:   {http.StatusBadRequest, "invalid_scope"},
	aadClientIDMismatch:    {http.StatusBadRequest, "invalid_request"},
	aadInvalidClientHeader: {http.StatusUnauthorized, "invalid_client"},

	aadInvalidCredentials:   {http.StatusBadRequest, "invalid_grant"},
	aadLockedOut:            {http.StatusBadRequest, "invalid_grant"},
	aadUserDisabled:         {http.StatusBadRequest, "invalid_grant"},
	aadRedirectMismatch:     {http.StatusBadRequest, "invalid_request"},
	aadCodeRedeemed:         {http.StatusBadRequest, "invalid_grant"},
	aadCodeExpired:          {http.StatusBadRequest, "invalid_grant"},
	aadInvalidGrant:         {http.StatusBadRequest, "invalid_grant"},
	aadPKCEMismatch:         {http.StatusBadRequest, "invalid_grant"},
	aadPKCERequired:         {http.StatusBadRequest, "invalid_request"},
	aadResponseTypeDisabled: {http.StatusBadRequest, "unsupported_response_type"},
	aadUserGrantNotAllowed:  {http.StatusBadRequest, "invalid_client"},

	aadInvalidJWT:          {http.StatusBadRequest, "invalid_request"},
	aadNoFederatedRecord:   {http.StatusBadRequest, "invalid_request"},
	aadNoFederatedIssuer:   {http.StatusBadRequest, "invalid_request"},
	aadNoFederatedAudience: {http.StatusBadRequest, "invalid_request"},
	aadNoFederatedSubject:  {http.StatusBadRequest, "invalid_request"},
	aadAssertionLifetime:   {http.StatusBadRequest, "invalid_client"},
	aadExternalOIDCFailed:  {http.StatusBadRequest, "invalid_request"},
}

// aadError returns an error carrying an AADSTS code as its Reason.
func aadError(code int, format string, args ...any) *cobalt.Error {
	w := aadTable[code]
	c := cobalt.EInvalid
	switch w.status {
	case http.StatusUnauthorized:
		c = cobalt.EUnauthorized
	case http.StatusRequestEntityTooLarge:
		c = cobalt.ETooLarge
	case http.StatusInternalServerError:
		c = cobalt.EInternal
	}
	return &cobalt.Error{Code: c, Reason: "AADSTS" + strconv.Itoa(code), Message: fmt.Sprintf(format, args...)}
}

// aadCode returns the AADSTS code that err carries as its Reason, if it is one of the table's.
func aadCode(err error) (int, bool) {
	var ce *cobalt.Error
	if !errors.As(err, &ce) || !strings.HasPrefix(ce.Reason, "AADSTS") {
		return 0, false
	}
	n, perr := strconv.Atoi(strings.TrimPrefix(ce.Reason, "AADSTS"))
	if _, ok := aadTable[n]; perr != nil || !ok {
		return 0, false
	}
	return n, true
}

// oauthErrorBody is Entra's error response.
type oauthErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri,omitempty"`
}

// correlationID returns the client's client-request-id when it is a GUID, or a new one.
func correlationID(r *http.Request) string {
	for _, v := range []string{r.Header.Get("client-request-id"), r.URL.Query().Get("client-request-id")} {
		if u, err := uuid.Parse(v); err == nil {
			return u.String()
		}
	}
	return uuid.NewString()
}

// writeOAuthError writes err as Entra's error body. An error without an
// AADSTS reason is an internal failure and says nothing about its cause.
func (s *Service) writeOAuthError(w http.ResponseWriter, r *http.Request, err error, oauthErr string) {
	code, ok := aadCode(err)
	msg := cobalt.ErrorMessage(err)
	if !ok {
		code, msg = aadTransient, "A transient error has occurred. Please try again."
		s.log.Error("login: request failed", logkey.Path, r.URL.Path, logkey.Err, err)
	}
	wire := aadTable[code]
	if oauthErr == "" {
		oauthErr = wire.err
	}
	now := s.now().UTC()
	ts := now.Format(cobalt.EntraErrorTimeLayout)
	trace, corr := uuid.NewString(), correlationID(r)
	body := oauthErrorBody{
		Error: oauthErr,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			code, msg, trace, corr, ts),
		ErrorCodes:    []int{code},
		Timestamp:     ts,
		TraceID:       trace,
		CorrelationID: corr,
		ErrorURI:      s.authority + "/error?code=" + strconv.Itoa(code),
	}
	h := w.Header()
	h.Set("client-request-id", corr)
	h.Set("x-ms-request-id", trace)
	if wire.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="`+s.authority+`"`)
	}
	writeJSON(w, wire.status, body)
}

// writeJSON writes v as an uncacheable JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONCache(w, status, v, "")
}

// writeJSONCache writes v as a JSON response that may be cached as
// cacheControl says; "" means not at all.
func writeJSONCache(w http.ResponseWriter, status int, v any, cacheControl string) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	if cacheControl == "" {
		h.Set("Cache-Control", "no-store, no-cache")
		h.Set("Pragma", "no-cache")
	} else {
		h.Set("Cache-Control", cacheControl)
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
