package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// hostLoginServer, as handler's hostPort, makes the request's Host the
// login server (a registry reached by its Azure name, {name}.azurecr.io).
const hostLoginServer = "\x00host"

// handler serves one registry; hostPort is its listener's address ("" when
// unknown), or hostLoginServer.
func (s *Service) handler(name, hostPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("registry handler panic", logkey.Path, r.URL.Path, logkey.Panic, fmt.Sprint(p))
				writeOCIError(w, errInternal())
			}
		}()
		reg, err := s.cfg.Registries.LookupRegistry(r.Context(), name)
		if err != nil {
			if cobalt.ErrorCode(err) == cobalt.ENotFound {
				writeOCIError(w, ociErr(http.StatusNotFound, "NAME_UNKNOWN", "the registry does not exist"))
				return
			}
			s.log.Error("registry lookup failed", logkey.Registry, name, logkey.Err, err)
			writeOCIError(w, errInternal())
			return
		}
		st, err := s.storeFor(reg.Name)
		if err != nil {
			writeOCIError(w, errInternal())
			return
		}
		ls := reg.LoginServer
		if ls == "" {
			ls = hostPort
		}
		if ls == "" || hostPort == hostLoginServer {
			ls = r.Host
		}
		rc := &reqCtx{s: s, w: w, r: r, reg: reg, loginServer: ls, st: st}
		rc.route()
	})
}

// route dispatches a request by its path.
func (rc *reqCtx) route() {
	p := rc.r.URL.Path
	switch p {
	case "/oauth2/exchange":
		rc.exchange()
		return
	case "/oauth2/token":
		rc.token()
		return
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		if p == "/v2" {
			rest, ok = "", true
		} else {
			writeOCIError(rc.w, ociErr(http.StatusNotFound, "NOT_FOUND", "no such endpoint"))
			return
		}
	}
	rc.authenticate()
	switch {
	case rest == "":
		if !rc.authed {
			rc.challenge(nil)
			return
		}
		if !rc.methods(http.MethodGet, http.MethodHead) {
			return
		}
		writeJSON(rc.w, http.StatusOK, struct{}{})
	case rest == "_catalog":
		if rc.methods(http.MethodGet) && rc.need("registry", "catalog", actAll) {
			rc.catalog()
		}
	default:
		rc.routeRepo(rest)
	}
}

// routeRepo dispatches /v2/<name>/... requests.
func (rc *reqCtx) routeRepo(rest string) {
	repo, kind, ref, ok := splitRepoPath(rest)
	if !ok {
		writeOCIError(rc.w, ociErr(http.StatusNotFound, "NOT_FOUND", "no such endpoint"))
		return
	}
	if !validRepo(repo) {
		writeOCIError(rc.w, errNameInvalid())
		return
	}
	m := rc.r.Method
	switch kind {
	case "manifests":
		switch m {
		case http.MethodGet, http.MethodHead:
			if rc.need("repository", repo, actPull) {
				rc.getManifest(repo, ref)
			}
		case http.MethodPut:
			if rc.need("repository", repo, actPush) {
				rc.putManifest(repo, ref)
			}
		case http.MethodDelete:
			if rc.need("repository", repo, actDelete) {
				rc.deleteManifest(repo, ref)
			}
		default:
			rc.methods(http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete)
		}
	case "blobs":
		switch m {
		case http.MethodGet, http.MethodHead:
			if rc.need("repository", repo, actPull) {
				rc.getBlob(repo, ref)
			}
		case http.MethodDelete:
			if rc.need("repository", repo, actDelete) {
				rc.deleteBlob(repo, ref)
			}
		default:
			rc.methods(http.MethodGet, http.MethodHead, http.MethodDelete)
		}
	case "uploads":
		if !rc.need("repository", repo, actPush) {
			return
		}
		switch {
		case ref == "" && m == http.MethodPost:
			rc.startUpload(repo)
		case ref == "":
			rc.methods(http.MethodPost)
		case m == http.MethodGet:
			rc.uploadStatus(repo, ref)
		case m == http.MethodPatch:
			rc.patchUpload(repo, ref)
		case m == http.MethodPut:
			rc.finishUpload(repo, ref)
		case m == http.MethodDelete:
			rc.cancelUpload(repo, ref)
		default:
			rc.methods(http.MethodGet, http.MethodPatch, http.MethodPut, http.MethodDelete)
		}
	case "tags":
		if rc.methods(http.MethodGet) && rc.need("repository", repo, actPull) {
			rc.listTags(repo)
		}
	case "referrers":
		if rc.methods(http.MethodGet) && rc.need("repository", repo, actPull) {
			rc.referrers(repo, ref)
		}
	}
}

// methods answers 405 unless the request's method is one of allowed.
func (rc *reqCtx) methods(allowed ...string) bool {
	for _, m := range allowed {
		if rc.r.Method == m {
			return true
		}
	}
	rc.w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeOCIError(rc.w, errUnsupported(http.StatusMethodNotAllowed, "the operation is unsupported"))
	return false
}

// splitRepoPath splits the part of a /v2/ path after "/v2/" into the
// repository name, the kind of endpoint ("manifests", "blobs", "uploads",
// "tags", "referrers") and its reference. The last endpoint marker wins, so
// a repository may have a component named like one.
func splitRepoPath(rest string) (repo, kind, ref string, ok bool) {
	if r, found := strings.CutSuffix(rest, "/tags/list"); found {
		return r, "tags", "", true
	}
	best := -1
	for _, m := range []struct{ marker, kind string }{
		{"/manifests/", "manifests"}, {"/blobs/", "blobs"}, {"/referrers/", "referrers"},
	} {
		if i := strings.LastIndex(rest, m.marker); i > best {
			best, repo, kind, ref = i, rest[:i], m.kind, rest[i+len(m.marker):]
		}
	}
	if best < 0 {
		return "", "", "", false
	}
	if kind == "blobs" && (ref == "uploads" || strings.HasPrefix(ref, "uploads/")) {
		kind, ref = "uploads", strings.TrimPrefix(strings.TrimPrefix(ref, "uploads"), "/")
		return repo, kind, ref, !strings.Contains(ref, "/")
	}
	if ref == "" || strings.Contains(ref, "/") {
		return "", "", "", false
	}
	return repo, kind, ref, true
}

// internalError logs err and answers 500 in the specification's format.
func (rc *reqCtx) internalError(what string, err error) {
	if errors.Is(err, errTooLarge) {
		writeOCIError(rc.w, errSizeInvalid("the content is too large"))
		return
	}
	rc.s.log.Error("registry: "+what+" failed", logkey.Registry, rc.reg.Name, logkey.Path, rc.r.URL.Path, logkey.Err, err)
	writeOCIError(rc.w, errInternal())
}
