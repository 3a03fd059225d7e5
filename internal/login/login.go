package login

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Defaults of the optional Config fields.
const (
	DefaultTokenLifetime      = 75 * time.Minute
	DefaultKeyActivationDelay = 5 * time.Minute
	DefaultKeyRotationPeriod  = 30 * 24 * time.Hour
	DefaultKeyRefreshInterval = time.Minute
	DefaultClockSkew          = 5 * time.Minute
	DefaultPrincipalCacheTTL  = 2 * time.Second
)

// Config configures a Service.
type Config struct {
	// Store keeps principals, signing keys, known tenants and the audit trail.
	Store store.Store
	// Logger receives the service's logs; nil discards them. No token, secret
	// or key is ever logged.
	Logger *slog.Logger
	// Now is the clock of token lifetimes and key rotation; nil means time.Now.
	Now func() time.Time
	// AuthorityURL is the login service's root, https://host:port with no
	// trailing slash. Issuers, endpoints and discovery documents derive from it.
	AuthorityURL string
	// SealKey (32 bytes) encrypts the private signing keys at rest.
	SealKey []byte
	// Registerer receives the service's Prometheus metrics; nil for none.
	Registerer prometheus.Registerer
	// TokenLifetime is the lifetime of every access token; 0 means
	// DefaultTokenLifetime (Entra's tokens live 60 to 90 minutes).
	TokenLifetime time.Duration

	// KeyActivationDelay is how long a key made by RotateKeys is published
	// before it signs, so that verifiers with cached key sets see it first.
	// 0 means DefaultKeyActivationDelay; a negative value activates at once.
	KeyActivationDelay time.Duration
	// KeyRotationPeriod is the age at which Run rotates the signing key; 0
	// means DefaultKeyRotationPeriod; a negative value disables scheduled rotation.
	KeyRotationPeriod time.Duration
	// KeyRefreshInterval is how often the in-memory key cache is reloaded from
	// the store (so that replicas see each other's rotations) and how often
	// Run checks the schedule; 0 means DefaultKeyRefreshInterval.
	KeyRefreshInterval time.Duration
	// ClockSkew is added to the token lifetime when deciding how long a retired
	// key stays published; 0 means DefaultClockSkew.
	ClockSkew time.Duration
	// PrincipalCacheTTL is how long the token endpoint reuses a principal read
	// from the store; 0 means DefaultPrincipalCacheTTL, negative disables the
	// cache. Changes made through this Service take effect at once; changes
	// made by another replica take effect within the TTL.
	PrincipalCacheTTL time.Duration
	// LockoutThreshold is the number of failed sign-ins after which a user
	// name is locked out for LockoutDuration; 0 means DefaultLockoutThreshold
	// and DefaultLockoutDuration.
	LockoutThreshold int
	LockoutDuration  time.Duration

	// FederationIssuers are the external OpenID Connect issuers, besides
	// those on loopback addresses, whose discovery documents and keys the
	// service fetches to verify client assertions exchanged through
	// federated identity credentials (exact issuer URLs). Assertions from
	// other issuers are refused without a request.
	FederationIssuers []string
	// FederationRootCAs verifies the issuers' TLS certificates; nil means
	// the system roots.
	FederationRootCAs *x509.CertPool
	// FederationKeyTTL is how long an issuer's keys are reused; 0 means
	// DefaultFederationKeyTTL.
	FederationKeyTTL time.Duration
}

// Service is the token service. It is safe for concurrent use.
type Service struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	store     store.Store
	authority string
	lifetime  time.Duration
	metrics   *metrics

	keysMu sync.Mutex // serializes reloads and rotations
	keys   atomic.Pointer[keyState]
	// parsed caches unsealed private keys by KID so reloads do not unseal again.
	parsed sync.Map // kid -> *signingKey

	tenants sync.Map // tenant ID -> struct{}: known tenants
	// principals caches the token endpoint's principal lookups by tenant and client ID.
	principals sync.Map // principalKey -> cachedPrincipal

	lockout *lockout      // failed sign-ins per user name
	hashSem chan struct{} // bounds concurrent password hashing
	grants  *grants       // public clients, authorization codes, refresh tokens
	// issuerKeys caches external issuers' keys for federated credentials.
	issuerKeys *issuerKeyCache
}

// New returns a Service on cfg. It loads the signing keys, creating one that
// signs at once when none can sign, and fails if the stored keys cannot be
// unsealed with cfg.SealKey.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("login: a store is required")
	}
	if len(cfg.SealKey) != 32 {
		return nil, errors.New("login: the seal key must be 32 bytes")
	}
	u, err := url.Parse(cfg.AuthorityURL)
	if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("login: the authority URL %q must be scheme://host[:port] with no path", cfg.AuthorityURL)
	}
	for _, iss := range cfg.FederationIssuers {
		if fu, err := url.Parse(iss); err != nil || fu.Scheme != "https" || fu.Host == "" || fu.User != nil || fu.RawQuery != "" || fu.Fragment != "" {
			return nil, fmt.Errorf("login: the federation issuer %q must be an https URL with no user, query or fragment", iss)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.KeyActivationDelay == 0 {
		cfg.KeyActivationDelay = DefaultKeyActivationDelay
	} else if cfg.KeyActivationDelay < 0 {
		cfg.KeyActivationDelay = 0
	}
	if cfg.KeyRotationPeriod == 0 {
		cfg.KeyRotationPeriod = DefaultKeyRotationPeriod
	}
	if cfg.KeyRefreshInterval <= 0 {
		cfg.KeyRefreshInterval = DefaultKeyRefreshInterval
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.PrincipalCacheTTL == 0 {
		cfg.PrincipalCacheTTL = DefaultPrincipalCacheTTL
	}
	s := &Service{
		cfg:       cfg,
		log:       cfg.Logger,
		now:       cfg.Now,
		store:     cfg.Store,
		authority: strings.TrimSuffix(cfg.AuthorityURL, "/"),
		lifetime:  cfg.TokenLifetime,
		lockout:   newLockout(cfg.LockoutThreshold, cfg.LockoutDuration),
		hashSem:   make(chan struct{}, maxConcurrentHashes),
		grants:    newGrants(),
	}
	s.issuerKeys = newIssuerKeyCache(cfg.FederationIssuers, cfg.FederationRootCAs, cfg.FederationKeyTTL, cfg.Now)
	s.metrics, err = newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	if err := s.ensureSigningKey(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// AuthorityURL returns the service's root URL, with no trailing slash.
func (s *Service) AuthorityURL() string { return s.authority }

// IssuerV1 returns the issuer of v1 tokens of a tenant: AuthorityURL/{tenant}/,
// the counterpart of Entra's https://sts.windows.net/{tenant}/.
func (s *Service) IssuerV1(tenantID string) string { return s.authority + "/" + tenantID + "/" }

// IssuerV2 returns the issuer of v2 tokens of a tenant: AuthorityURL/{tenant}/v2.0.
func (s *Service) IssuerV2(tenantID string) string {
	return s.authority + "/" + tenantID + "/v2.0"
}

// Run keeps the signing keys current until ctx ends: it reloads the key cache,
// rotates the signing key when it is older than KeyRotationPeriod, and deletes
// retired keys whose tokens have all expired. It returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.KeyRefreshInterval)
	defer t.Stop()
	for {
		if err := s.maintain(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("login: key maintenance failed", logkey.Err, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// tenantMetaKey is the meta key that records a known tenant.
func tenantMetaKey(tenantID string) string { return "login.tenant/" + tenantID }

// reservedTenants are the tenant-independent authority names.
var reservedTenants = map[string]bool{"common": true, "organizations": true, "consumers": true}

// validTenantID reports whether id can name a tenant: a non-empty path segment
// of letters, digits, '-' and '.', not a reserved name.
func validTenantID(id string) bool {
	if id == "" || len(id) > 128 || reservedTenants[strings.ToLower(id)] {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// AddTenant makes tenantID a known tenant, whose discovery documents and token
// endpoints are served. Creating a principal in a tenant adds it too. EInvalid
// if the ID is not a valid tenant name.
func (s *Service) AddTenant(ctx context.Context, tenantID string) error {
	if !validTenantID(tenantID) {
		return cobalt.Errorf(cobalt.EInvalid, "%q is not a valid tenant ID", tenantID).WithTarget("tenantId")
	}
	if _, ok := s.tenants.Load(tenantID); ok {
		return nil
	}
	if _, err := s.store.MetaPutIfAbsent(ctx, tenantMetaKey(tenantID), "1"); err != nil {
		return fmt.Errorf("add tenant: %w", err)
	}
	s.tenants.Store(tenantID, struct{}{})
	return nil
}

// knownTenant reports whether tenantID is a known tenant.
func (s *Service) knownTenant(ctx context.Context, tenantID string) (bool, error) {
	if _, ok := s.tenants.Load(tenantID); ok {
		return true, nil
	}
	if !validTenantID(tenantID) {
		return false, nil
	}
	_, err := s.store.MetaGet(ctx, tenantMetaKey(tenantID))
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.tenants.Store(tenantID, struct{}{})
	return true, nil
}
