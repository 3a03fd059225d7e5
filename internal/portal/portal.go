package portal

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt/internal/login"
)

// ClientID is the portal's application (client) ID, the Azure portal's
// first-party application ID, registered as a public client in every tenant.
const ClientID = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"

// Audiences of the tokens the portal asks for on the user's behalf.
const (
	ARMResource   = "https://management.azure.com/"
	BatchResource = "https://batch.core.windows.net/"
)

// DefaultSessionLifetime is how long a session lasts after sign-in.
const DefaultSessionLifetime = 8 * time.Hour

//go:embed static
var static embed.FS

// Directory is the login service as the portal uses it; login.Service
// implements it.
type Directory interface {
	// RegisterPublicClient registers the portal's application.
	RegisterPublicClient(c login.PublicClient)
	// RevokeUserSessions revokes a user's refresh tokens with a client.
	RevokeUserSessions(ctx context.Context, objectID, clientID string)
}

// Config configures the portal.
type Config struct {
	// Logger receives the portal's logs; nil discards them. No token or
	// cookie value is ever logged.
	Logger *slog.Logger
	// Now is the clock of sessions and token renewal; nil means time.Now.
	Now func() time.Time
	// PublicURL is the portal's own root, https://host:port.
	PublicURL string
	// AuthorityURL and TenantID name the login service and the tenant users sign in to.
	AuthorityURL, TenantID string
	// ResourceManager is ARM's root URL.
	ResourceManager string
	// HTTPClient reaches the login service, ARM and the Batch endpoints
	// (trusting the installation's CA).
	HTTPClient *http.Client
	// Login is where the portal registers its public client.
	Login Directory
	// SessionLifetime is how long a session lasts; 0 means DefaultSessionLifetime.
	SessionLifetime time.Duration
}

// Portal serves the web console. It is safe for concurrent use.
type Portal struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	sessions map[string]*session // session ID -> session
	pending  map[string]*pending // sign-in state -> flow in progress

	oidcOnce sync.Mutex
	verifier idTokenVerifier
}

// New returns a portal on cfg and registers its public client.
func New(cfg Config) (*Portal, error) {
	if cfg.PublicURL == "" || cfg.AuthorityURL == "" || cfg.TenantID == "" || cfg.ResourceManager == "" || cfg.HTTPClient == nil || cfg.Login == nil {
		return nil, errors.New("portal: PublicURL, AuthorityURL, TenantID, ResourceManager, HTTPClient and Login are required")
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	cfg.AuthorityURL = strings.TrimSuffix(cfg.AuthorityURL, "/")
	cfg.ResourceManager = strings.TrimSuffix(cfg.ResourceManager, "/")
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	cfg.Login.RegisterPublicClient(login.PublicClient{
		ClientID: ClientID, DisplayName: "Cobalt portal",
		RedirectURIs:           []string{cfg.PublicURL + "/signin-oidc"},
		PostLogoutRedirectURIs: []string{cfg.PublicURL + "/"},
	})
	return &Portal{cfg: cfg, log: cfg.Logger, now: cfg.Now, sessions: map[string]*session{}, pending: map[string]*pending{}}, nil
}

// Handler returns the portal's HTTP handler.
func (p *Portal) Handler() http.Handler {
	mux := http.NewServeMux()
	files, _ := fs.Sub(static, "static")
	fileServer := http.FileServerFS(files)
	mux.Handle("GET /static/", http.StripPrefix("/static/", fileServer))
	mux.HandleFunc("GET /{$}", p.handleIndex)
	mux.HandleFunc("GET /signin", p.handleSignIn)
	mux.HandleFunc("GET /signin-oidc", p.handleCallback)
	mux.HandleFunc("POST /signout", p.handleSignOut)
	mux.HandleFunc("GET /api/me", p.handleMe)
	mux.HandleFunc("/api/arm/", p.handleARM)
	mux.HandleFunc("/api/batch/", p.handleBatch)
	mux.HandleFunc("/api/blob/", p.handleBlob)
	return securityHeaders(mux)
}

// securityHeaders adds the headers every answer carries: a strict content
// security policy (scripts and styles only from this origin), no framing,
// no referrer, no sniffing.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Strict-Transport-Security", "max-age=31536000")
		next.ServeHTTP(w, r)
	})
}

func (p *Portal) handleIndex(w http.ResponseWriter, r *http.Request) {
	if _, ok := p.session(r); !ok {
		http.Redirect(w, r, "/signin", http.StatusFound)
		return
	}
	b, err := static.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
