package imds

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// TokenRequest asks a TokenSource for an access token. At most one selector
// (ClientID, ObjectID, ResourceID) is set; none selects the node's only
// identity.
type TokenRequest struct {
	Resource   string
	ClientID   string
	ObjectID   string
	ResourceID string
	// BypassCache asks for a token fresh from the token service.
	BypassCache bool
	// TaskID attributes the request to a task ("jobID/taskID") for the audit
	// trail, when the caller can be attributed; "" otherwise.
	TaskID string
	// Caller, when set and TaskID is empty, finds the calling task lazily: a
	// TokenSource calls it only when it issues a token (a cache miss), as it
	// may be costly. It returns "" when the caller cannot be attributed.
	Caller func() string
}

// Token is an access token for one identity.
type Token struct {
	AccessToken string
	IssuedAt    time.Time
	NotBefore   time.Time
	ExpiresOn   time.Time
	// ClientID is the identity's client (application) ID.
	ClientID string
}

// TokenSource issues tokens for a node's identities.
type TokenSource interface {
	// Token returns a token for the identity req selects, for req.Resource.
	// Errors are *cobalt.Error: Reason ReasonIdentityNotFound (or code
	// ENotFound/EForbidden) when no identity of the node matches,
	// ReasonMultipleIdentities when no selector is given and the node has
	// several, EInvalid for a bad resource, ETooManyRequests, anything else
	// for a failure of the token service. Safe for concurrent use.
	Token(ctx context.Context, req TokenRequest) (Token, error)
}

// Config configures an IMDS Handler.
type Config struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Tokens issues the identity tokens.
	Tokens TokenSource
	// Limiter is the node's rate limiter, shared with the App Service
	// endpoint; nil means no limit.
	Limiter *Limiter
	// Instance is what /metadata/instance describes.
	Instance Instance
	// TenantID is what /metadata/identity/info returns.
	TenantID string
	// Attribute, if set, finds the task that sent r ("jobID/taskID", or "").
	// It is called only when a token is issued, not for cached tokens.
	Attribute func(r *http.Request) string
}

// Handler is the IMDS http.Handler of one node.
type Handler struct {
	cfg    Config
	bodies bodyCache
}

// New returns the IMDS handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg}
}

// Paths of the IMDS endpoints.
const (
	PathToken     = "/metadata/identity/oauth2/token"
	PathInfo      = "/metadata/identity/info"
	PathInstance  = "/metadata/instance"
	PathVersions  = "/metadata/versions"
	metadataRoot  = "/metadata"
	pathTokenAlt  = PathToken + "/"
	instanceSlash = PathInstance + "/"
)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	identity := path == PathToken || path == pathTokenAlt || path == PathInfo
	if !identity && path != PathVersions && path != PathInstance && !strings.HasPrefix(path, instanceSlash) {
		writeJSON(w, http.StatusNotFound, plainError{Error: msgNotFound})
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		if identity {
			writeIdentityError(w, http.StatusMethodNotAllowed, "method_not_allowed", msgMethod)
		} else {
			writeJSON(w, http.StatusMethodNotAllowed, plainError{Error: msgMethod})
		}
		return
	}
	if identity {
		release, retry, ok := h.cfg.Limiter.acquire()
		if !ok {
			writeThrottled(w, retry, true)
			return
		}
		defer release()
	}
	if !h.transportOK(w, r, identity) {
		return
	}
	var buf [8]param
	q, err := parseQuery(r.URL.RawQuery, buf[:])
	if err != nil {
		msg := msgBadQuery
		if err == errDuplicateParam {
			msg = msgDuplicate
		}
		if identity {
			writeIdentityError(w, http.StatusBadRequest, "invalid_request", msg)
		} else {
			writeJSON(w, http.StatusBadRequest, plainError{Error: "Bad request. " + msg})
		}
		return
	}
	if path == PathVersions {
		writeJSON(w, http.StatusOK, struct {
			APIVersions []string `json:"apiVersions"`
		}{APIVersions})
		return
	}
	if !validVersion(q.get("api-version"), identity) {
		writeVersionError(w)
		return
	}
	switch {
	case path == PathInfo:
		writeJSON(w, http.StatusOK, struct {
			TenantID string `json:"tenantId"`
		}{h.cfg.TenantID})
	case identity:
		h.handleToken(w, r, q)
	default:
		h.handleInstance(w, strings.TrimPrefix(path, PathInstance), q)
	}
}

// transportOK applies the rules every IMDS request must meet: no
// X-Forwarded-For, and Metadata: true.
func (h *Handler) transportOK(w http.ResponseWriter, r *http.Request, identity bool) bool {
	if _, fwd := r.Header["X-Forwarded-For"]; fwd {
		if identity {
			writeIdentityError(w, http.StatusBadRequest, "invalid_request", msgForwarded)
		} else {
			writeJSON(w, http.StatusBadRequest, plainError{Error: "Bad request. " + msgForwarded})
		}
		return false
	}
	if !metadataHeaderOK(r.Header) {
		if identity {
			writeIdentityError(w, http.StatusBadRequest, "invalid_request", msgMissingMetadata)
		} else {
			writeJSON(w, http.StatusBadRequest, plainError{Error: "Bad request: . " + msgMissingMetadata})
		}
		return false
	}
	return true
}

// metadataHeaderOK reports whether the request has exactly one Metadata
// header whose value is "true" in any letter case (Azure documents lower
// case; Microsoft's own samples send "True").
func metadataHeaderOK(h http.Header) bool {
	v := h["Metadata"]
	return len(v) == 1 && strings.EqualFold(strings.TrimSpace(v[0]), "true")
}

// selector extracts the identity selector from the query. Both msi_res_id
// (documented) and mi_res_id (sent by some clients) select by resource ID.
// It reports false when more than one is given.
func selector(q query) (req TokenRequest, echoKey string, ok bool) {
	n := 0
	if v, has := q.lookup("client_id"); has {
		req.ClientID, n = v, n+1
	}
	if v, has := q.lookup("object_id"); has {
		req.ObjectID, echoKey, n = v, "object_id", n+1
	}
	if v, has := q.lookup("msi_res_id"); has {
		req.ResourceID, echoKey, n = v, "msi_res_id", n+1
	}
	if v, has := q.lookup("mi_res_id"); has {
		req.ResourceID, echoKey, n = v, "msi_res_id", n+1
	}
	return req, echoKey, n <= 1
}

func (h *Handler) handleToken(w http.ResponseWriter, r *http.Request, q query) {
	resource := q.get("resource")
	if resource == "" {
		writeIdentityError(w, http.StatusBadRequest, "invalid_request", msgMissingResource)
		return
	}
	req, echoKey, ok := selector(q)
	if !ok {
		writeIdentityError(w, http.StatusBadRequest, "invalid_request", msgSelectors)
		return
	}
	req.Resource = resource
	req.BypassCache = strings.EqualFold(q.get("bypass_cache"), "true")
	if h.cfg.Attribute != nil {
		req.Caller = func() string { return h.cfg.Attribute(r) }
	}
	tok, err := h.cfg.Tokens.Token(r.Context(), req)
	if err != nil {
		if cobalt.ErrorCode(err) == cobalt.EInternal {
			h.cfg.Logger.Warn("imds token", logkey.Err, err)
		}
		writeTokenError(w, err)
		return
	}
	echo := ""
	switch echoKey {
	case "object_id":
		echo = req.ObjectID
	case "msi_res_id":
		echo = req.ResourceID
	}
	writeCached(w, h.bodies.body(h.cfg.Now(), resource, tok, echoKey, echo))
}

// expiresIn is the token's remaining life in whole seconds.
func expiresIn(now time.Time, tok Token) int64 {
	return max(int64(tok.ExpiresOn.Sub(now)/time.Second), 0)
}

// tokenBody is Azure's IMDS success body, every value a JSON string.
func tokenBody(now time.Time, resource string, tok Token, echoKey, echo string) []byte {
	expiresIn := expiresIn(now, tok)
	b := make([]byte, 0, 256+len(tok.AccessToken)+2*len(resource)+len(echo))
	b = append(b, `{"access_token":`...)
	b = appendString(b, tok.AccessToken)
	b = append(b, `,"refresh_token":"","expires_in":"`...)
	b = strconv.AppendInt(b, expiresIn, 10)
	b = append(b, `","expires_on":"`...)
	b = strconv.AppendInt(b, tok.ExpiresOn.Unix(), 10)
	b = append(b, `","ext_expires_in":"`...)
	b = strconv.AppendInt(b, expiresIn, 10)
	b = append(b, `","not_before":"`...)
	b = strconv.AppendInt(b, tok.NotBefore.Unix(), 10)
	b = append(b, `","resource":`...)
	b = appendString(b, resource)
	b = append(b, `,"token_type":"Bearer","client_id":`...)
	b = appendString(b, tok.ClientID)
	if echoKey != "" {
		b = append(b, ',', '"')
		b = append(b, echoKey...)
		b = append(b, '"', ':')
		b = appendString(b, echo)
	}
	return append(b, '}')
}

// writeCached writes a cached token body with IMDS's headers: the header
// values are the cache's own slices (net/http copies the header map before
// writing, never the values), so the hot path allocates no header value.
//
// A body that fits net/http's response buffer gets its Content-Length from
// net/http, which writes it when the handler returns without a flush (as
// for the bare handler) instead of copying, sorting and cleaning one more
// entry of the header map; a larger one would go out chunked, so it gets
// the cached value.
func writeCached(w http.ResponseWriter, e *cachedBody) {
	hd := w.Header()
	hd["Content-Type"] = contentTypeJSON
	hd["Server"] = serverValue
	if len(e.body) > netHTTPBuffered {
		hd["Content-Length"] = e.length
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(e.body)
}

// netHTTPBuffered is how much of a response net/http's server keeps before
// it writes the headers (its bufferBeforeChunkingSize): up to it, a handler
// that returns without flushing gets its Content-Length set for it.
const netHTTPBuffered = 2048

var (
	contentTypeJSON = []string{"application/json; charset=utf-8"}
	serverValue     = []string{serverHeader}
)

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (including <, > and & so the output equals json.Marshal's).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' && c < 0x80 {
			continue
		}
		if c >= 0x80 {
			// Leave valid UTF-8 to the slow path below.
			return appendStringSlow(b[:len(b)-1], s)
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
