package azurenames

import (
	"net/http"
	"strings"
)

// Backends are the services behind the hostnames.
type Backends struct {
	// Location is the installation's region: Batch accounts are named
	// {account}.{Location}.batch.azure.com.
	Location string
	// Login, Management and Blob serve login.microsoftonline.com,
	// management.azure.com and every {account}.blob.core.windows.net (as
	// path-style requests for /{account}/...).
	Login, Management, Blob http.Handler
	// BatchAccount returns the data plane of a Batch account, if any.
	BatchAccount func(name string) (http.Handler, bool)
	// Registry returns the handler of a container registry, if any.
	Registry func(name string) (http.Handler, bool)
}

// NewRouter returns the handler of the hostnames' listener: it routes each
// request by its Host to the service behind it, and answers 404 for any
// other name.
func NewRouter(b Backends) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := Parse(r.Host, b.Location)
		var h http.Handler
		switch n.Kind {
		case Login:
			h = b.Login
		case Management:
			h = b.Management
		case Blob:
			if b.Blob != nil {
				h = hostStyle(n.Resource, b.Blob)
			}
		case Batch:
			if b.BatchAccount != nil {
				h, _ = b.BatchAccount(n.Resource)
			}
		case Registry:
			if b.Registry != nil {
				h, _ = b.Registry(n.Resource)
			}
		}
		if h == nil {
			http.Error(w, "Cobalt serves no such host: "+strings.ToLower(r.Host), http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hostStyle serves a host-style storage request ({account}.blob...
// /container/blob) as the path-style request the blob service reads
// (/account/container/blob). RequestURI keeps the path as sent, which is
// what the client signed for SharedKey ("/account" + the host-style path).
func hostStyle(account string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		u := *r.URL
		u.Path = "/" + account + r.URL.Path
		if r.URL.RawPath != "" {
			u.RawPath = "/" + account + r.URL.RawPath
		}
		r2.URL = &u
		h.ServeHTTP(w, r2)
	})
}
