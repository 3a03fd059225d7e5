package imds

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// AppServiceAPIVersion is the App Service managed identity api-version.
const AppServiceAPIVersion = "2019-08-01"

// AppServicePath is where AppService serves tokens; IDENTITY_ENDPOINT is
// http://127.0.0.1:PORT + AppServicePath.
const AppServicePath = "/msi/token"

// AppServiceConfig configures the App Service protocol endpoint.
type AppServiceConfig struct {
	Logger *slog.Logger
	Now    func() time.Time
	Tokens TokenSource
	// Limiter is the node's rate limiter, shared with IMDS; nil means none.
	Limiter *Limiter
	// Secret is the node's IDENTITY_HEADER value, compared in constant time.
	Secret string
	// TaskSecret, if set, resolves a per-task IDENTITY_HEADER value to the
	// task it was given to ("jobID/taskID"), for audit attribution.
	TaskSecret func(header string) (taskID string, ok bool)
}

// AppService serves the App Service managed identity protocol:
// GET IDENTITY_ENDPOINT?resource=R&api-version=2019-08-01 with the header
// X-IDENTITY-HEADER, selectors client_id, principal_id (alias object_id) and
// mi_res_id.
type AppService struct {
	cfg AppServiceConfig
}

// NewAppService returns the App Service handler for cfg.
func NewAppService(cfg AppServiceConfig) *AppService {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &AppService{cfg: cfg}
}

// appServiceError is App Service's error body.
type appServiceError struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

func writeAppServiceError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, appServiceError{StatusCode: status, Message: msg})
}

// ServeHTTP implements http.Handler.
func (a *AppService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != AppServicePath {
		writeAppServiceError(w, http.StatusNotFound, "Not found.")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeAppServiceError(w, http.StatusMethodNotAllowed, "Method not allowed.")
		return
	}
	release, retry, ok := a.cfg.Limiter.acquire()
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		writeAppServiceError(w, http.StatusTooManyRequests, "Too many requests.")
		return
	}
	defer release()
	taskID, ok := a.authenticate(r.Header.Values("X-Identity-Header"))
	if !ok {
		writeAppServiceError(w, http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or invalid.")
		return
	}
	var buf [8]param
	q, err := parseQuery(r.URL.RawQuery, buf[:])
	if err != nil {
		writeAppServiceError(w, http.StatusBadRequest, "The query string is malformed or repeats a parameter.")
		return
	}
	if q.get("api-version") != AppServiceAPIVersion {
		writeAppServiceError(w, http.StatusBadRequest, "The api-version is missing or not supported; use "+AppServiceAPIVersion+".")
		return
	}
	resource := q.get("resource")
	if resource == "" {
		writeAppServiceError(w, http.StatusBadRequest, "The resource parameter is required.")
		return
	}
	req := TokenRequest{Resource: resource, TaskID: taskID}
	n := 0
	for name, dst := range map[string]*string{
		"client_id": &req.ClientID, "principal_id": &req.ObjectID, "object_id": &req.ObjectID,
		"mi_res_id": &req.ResourceID, "msi_res_id": &req.ResourceID,
	} {
		if v, has := q.lookup(name); has {
			*dst = v
			n++
		}
	}
	if n > 1 {
		writeAppServiceError(w, http.StatusBadRequest, "Only one of client_id, principal_id and mi_res_id may be specified.")
		return
	}
	tok, err := a.cfg.Tokens.Token(r.Context(), req)
	if err != nil {
		switch {
		case cobalt.ErrorReason(err) == ReasonMultipleIdentities:
			writeAppServiceError(w, http.StatusBadRequest, "Unable to load the proper Managed Identity. Multiple user assigned identities exist; specify client_id, principal_id or mi_res_id.")
		case cobalt.ErrorReason(err) == ReasonIdentityNotFound, cobalt.IsCode(err, cobalt.ENotFound), cobalt.IsCode(err, cobalt.EForbidden):
			writeAppServiceError(w, http.StatusBadRequest, "Unable to load the proper Managed Identity.")
		case cobalt.IsCode(err, cobalt.EInvalid):
			writeAppServiceError(w, http.StatusBadRequest, cobalt.ErrorMessage(err))
		case cobalt.IsCode(err, cobalt.ETooManyRequests):
			w.Header().Set("Retry-After", "1")
			writeAppServiceError(w, http.StatusTooManyRequests, "Too many requests.")
		default:
			a.cfg.Logger.Warn("app service token", logkey.Err, err)
			writeAppServiceError(w, http.StatusInternalServerError, "Failed to retrieve the token.")
		}
		return
	}
	b := make([]byte, 0, 160+len(tok.AccessToken)+len(resource))
	b = append(b, `{"access_token":`...)
	b = appendString(b, tok.AccessToken)
	b = append(b, `,"expires_on":"`...)
	b = strconv.AppendInt(b, tok.ExpiresOn.Unix(), 10)
	b = append(b, `","resource":`...)
	b = appendString(b, resource)
	b = append(b, `,"token_type":"Bearer","client_id":`...)
	b = appendString(b, tok.ClientID)
	b = append(b, '}')
	hd := w.Header()
	hd["Content-Type"] = contentTypeJSON
	hd["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// authenticate checks the X-IDENTITY-HEADER values: exactly one, equal to the
// node secret (constant time) or to a per-task secret.
func (a *AppService) authenticate(values []string) (taskID string, ok bool) {
	if len(values) != 1 || values[0] == "" {
		return "", false
	}
	if a.cfg.Secret != "" && subtle.ConstantTimeCompare([]byte(values[0]), []byte(a.cfg.Secret)) == 1 {
		return "", true
	}
	if a.cfg.TaskSecret != nil {
		return a.cfg.TaskSecret(values[0])
	}
	return "", false
}
