package login

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Password hashing: argon2id with OWASP's minimum parameters (19 MiB, two
// passes, one lane). Passwords are chosen by people, so unlike client
// secrets they need a slow, memory-hard KDF.
const (
	passwordAlg     = "argon2id"
	passwordTime    = 2
	passwordMemory  = 19 * 1024 // KiB
	passwordThreads = 1
	passwordKeyLen  = 32
	minPasswordLen  = 8
	maxPasswordLen  = 256
	// maxConcurrentHashes bounds the memory that concurrent sign-ins can
	// make the KDF take (19 MiB each).
	maxConcurrentHashes = 4
)

// Defaults of the sign-in lockout, Entra's smart lockout defaults.
const (
	DefaultLockoutThreshold = 10
	DefaultLockoutDuration  = time.Minute
)

// hashPassword derives a password's stored form with a fresh salt.
func hashPassword(password string) (*store.PasswordHash, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	return &store.PasswordHash{
		Alg: passwordAlg, Salt: salt, Time: passwordTime, Memory: passwordMemory, Threads: passwordThreads,
		Hash: argon2.IDKey([]byte(password), salt, passwordTime, passwordMemory, passwordThreads, passwordKeyLen),
	}, nil
}

// passwordMatches reports in constant time whether password matches h.
func passwordMatches(h *store.PasswordHash, password string) bool {
	if h == nil || h.Alg != passwordAlg || h.Time == 0 || h.Memory == 0 || h.Threads == 0 || len(h.Hash) == 0 ||
		h.Memory > 1<<20 || h.Time > 16 {
		return false
	}
	got := argon2.IDKey([]byte(password), h.Salt, h.Time, h.Memory, h.Threads, uint32(len(h.Hash)))
	return subtle.ConstantTimeCompare(got, h.Hash) == 1
}

// dummyHash is verified against when a sign-in names no user, so that
// unknown and known user names take the same time.
var dummyHash = sync.OnceValue(func() *store.PasswordHash {
	h, _ := hashPassword("not a password")
	return h
})

// TenantDomain returns the tenant's initial domain, the part of its users'
// names after '@', as Entra gives every tenant NAME.onmicrosoft.com.
func (s *Service) TenantDomain(tenantID string) string {
	label := strings.ToLower(strings.ReplaceAll(tenantID, "-", ""))
	if len(label) > 8 {
		label = label[:8]
	}
	return "cobalt" + label + ".onmicrosoft.com"
}

// validUserName reports whether name can be the part of a user principal
// name before '@'.
func validUserName(name string) bool {
	if name == "" || len(name) > 64 || name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// CreateUser creates a user in a tenant with the user principal name
// name@TenantDomain and the given password, stored only as an argon2id hash.
// EInvalid if the name or password is not acceptable, EConflict if the name is taken.
func (s *Service) CreateUser(ctx context.Context, tenantID, name, password string) (cobalt.Principal, error) {
	if !validUserName(name) {
		return cobalt.Principal{}, cobalt.Errorf(cobalt.EInvalid,
			"%q is not a valid user name: use 1 to 64 letters, digits, '.', '-' and '_'.", clip(name)).WithTarget("name")
	}
	if n := len(password); n < minPasswordLen || n > maxPasswordLen {
		return cobalt.Principal{}, cobalt.Errorf(cobalt.EInvalid,
			"The password must have %d to %d characters.", minPasswordLen, maxPasswordLen).WithTarget("password")
	}
	if err := s.AddTenant(ctx, tenantID); err != nil {
		return cobalt.Principal{}, err
	}
	h, err := hashPassword(password)
	if err != nil {
		return cobalt.Principal{}, err
	}
	oid := uuid.NewString()
	p, err := s.store.PrincipalCreate(ctx, store.PrincipalRecord{
		Principal: cobalt.Principal{
			// A user has no application: its client ID column holds its
			// object ID, and the token endpoint refuses it as a client.
			ObjectID: oid, ClientID: oid, TenantID: tenantID, Kind: cobalt.KindUser,
			DisplayName: name, UserPrincipalName: name + "@" + s.TenantDomain(tenantID),
		},
		Password: h,
	})
	if err != nil {
		return cobalt.Principal{}, fmt.Errorf("create user: %w", err)
	}
	s.log.Info("login: user created", logkey.ObjectID, p.ObjectID, logkey.TenantID, tenantID)
	return p.Principal, nil
}

// ListUsers returns a tenant's users, ordered by object ID.
func (s *Service) ListUsers(ctx context.Context, tenantID string) ([]cobalt.Principal, error) {
	var out []cobalt.Principal
	page := store.Page{Limit: 500}
	for {
		ps, next, err := s.store.PrincipalList(ctx, tenantID, page)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		for _, p := range ps {
			if p.Kind == cobalt.KindUser {
				out = append(out, p.Principal)
			}
		}
		if next == "" {
			return out, nil
		}
		page.Token = next
	}
}

// FindUser returns a tenant's user by object ID or user principal name (a
// name without '@' is in the tenant's domain);
// ENotFound if there is none.
func (s *Service) FindUser(ctx context.Context, tenantID, idOrName string) (cobalt.Principal, error) {
	var (
		p   store.PrincipalRecord
		err error
	)
	if _, perr := uuid.Parse(idOrName); perr != nil {
		if !strings.Contains(idOrName, "@") {
			idOrName += "@" + s.TenantDomain(tenantID)
		}
		p, err = s.store.PrincipalGetByUserName(ctx, tenantID, idOrName)
	} else {
		p, err = s.store.PrincipalGet(ctx, strings.ToLower(idOrName))
	}
	if err == nil && (p.Kind != cobalt.KindUser || p.TenantID != tenantID) {
		err = cobalt.Errorf(cobalt.ENotFound, "user not found")
	}
	if err != nil {
		return cobalt.Principal{}, err
	}
	return p.Principal, nil
}

// lockout counts a user name's failed sign-ins. After Threshold failures
// the name is locked for Duration, whatever password comes, as Entra's smart
// lockout does; a success clears the count.
type lockout struct {
	threshold int
	duration  time.Duration
	mu        sync.Mutex
	failures  map[string]*failures
}

type failures struct {
	count       int
	last        time.Time
	lockedUntil time.Time
}

func newLockout(threshold int, duration time.Duration) *lockout {
	if threshold <= 0 {
		threshold = DefaultLockoutThreshold
	}
	if duration <= 0 {
		duration = DefaultLockoutDuration
	}
	return &lockout{threshold: threshold, duration: duration, failures: map[string]*failures{}}
}

// locked reports whether key is locked at now.
func (l *lockout) locked(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.failures[key]
	return f != nil && now.Before(f.lockedUntil)
}

// fail records a failure and reports whether it locked key.
func (l *lockout) fail(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Forget counts untouched for a while, so the map stays small.
	for k, f := range l.failures {
		if now.Sub(f.last) > 15*l.duration && !now.Before(f.lockedUntil) {
			delete(l.failures, k)
		}
	}
	f := l.failures[key]
	if f == nil {
		f = &failures{}
		l.failures[key] = f
	}
	f.count++
	f.last = now
	if f.count >= l.threshold {
		f.count = 0
		f.lockedUntil = now.Add(l.duration)
		return true
	}
	return false
}

func (l *lockout) succeed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

// authenticateUser checks a user name and password. A name without '@'
// gets the tenant's domain. Errors carry Entra's codes: AADSTS50126 for a
// wrong name or password (the same for both, so that names cannot be
// probed), AADSTS50053 while the name is locked out, AADSTS50057 for a
// disabled user.
func (s *Service) authenticateUser(ctx context.Context, tenantID, username, password string) (store.PrincipalRecord, error) {
	username = strings.TrimSpace(username)
	if username != "" && !strings.Contains(username, "@") {
		username += "@" + s.TenantDomain(tenantID)
	}
	key := tenantID + "/" + strings.ToLower(username)
	bad := aadError(aadInvalidCredentials, "Error validating credentials due to invalid username or password.")
	if username == "" || len(username) > 320 || password == "" || len(password) > maxPasswordLen {
		return store.PrincipalRecord{}, bad
	}
	if s.lockout.locked(key, s.now()) {
		return store.PrincipalRecord{}, aadError(aadLockedOut, "Your account is locked because you've tried to sign in too many times with an incorrect user ID or password.")
	}
	p, err := s.store.PrincipalGetByUserName(ctx, tenantID, username)
	if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
		return p, err
	}
	h := dummyHash()
	if err == nil {
		h = p.Password
	}
	s.hashSem <- struct{}{}
	ok := passwordMatches(h, password)
	<-s.hashSem
	if err != nil || !ok || p.Kind != cobalt.KindUser {
		if s.lockout.fail(key, s.now()) {
			s.log.Warn("login: sign-in locked out after repeated failures", logkey.TenantID, tenantID)
		}
		return store.PrincipalRecord{}, bad
	}
	if p.Disabled {
		return p, aadError(aadUserDisabled, "The user account is disabled.")
	}
	s.lockout.succeed(key)
	return p, nil
}
