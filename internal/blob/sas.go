package blob

import (
	"crypto/hmac"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// sasToken is the parsed shared access signature of a request's query.
type sasToken struct {
	Version     string // sv
	Services    string // ss (account SAS)
	ResTypes    string // srt (account SAS)
	Resource    string // sr (service SAS)
	Permissions string // sp
	Start       string // st
	Expiry      string // se
	IP          string // sip
	Protocol    string // spr
	Identifier  string // si
	EncScope    string // ses
	Snapshot    string
	Sig         []byte
	// UD holds the user delegation key fields of a user delegation SAS (nil otherwise).
	UD *udkFields
	// policy is the container's stored access policy the token names with si (nil if none).
	policy *store.BlobAccessPolicy
	// User delegation SAS extras.
	AuthorizedOID, UnauthorizedOID, CorrelationID, DelegatedUserOID, ReqHeaders, ReqQuery string
	// Response header overrides of a service SAS.
	CacheControl, ContentDisposition, ContentEncoding, ContentLanguage, ContentType string
}

// account reports whether the token is an account SAS.
func (t *sasToken) account() bool { return t.Services != "" || t.ResTypes != "" }

// parseSAS reads a SAS from the query. ok is false when the query has no sig.
func parseSAS(q url.Values) (tok *sasToken, ok bool, err error) {
	sig := q.Get("sig")
	if sig == "" {
		return nil, false, nil
	}
	t := &sasToken{Version: q.Get("sv"), Services: q.Get("ss"), ResTypes: q.Get("srt"), Resource: q.Get("sr"),
		Permissions: q.Get("sp"), Start: q.Get("st"), Expiry: q.Get("se"), IP: q.Get("sip"), Protocol: q.Get("spr"),
		Identifier: q.Get("si"), EncScope: q.Get("ses"), Snapshot: q.Get("snapshot"),
		CacheControl: q.Get("rscc"), ContentDisposition: q.Get("rscd"), ContentEncoding: q.Get("rsce"),
		ContentLanguage: q.Get("rscl"), ContentType: q.Get("rsct")}
	b, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(b) != 32 {
		return nil, true, authFailed("Signature fields not well formed.")
	}
	t.Sig = b
	if !validVersion(t.Version) {
		return nil, true, authFailed("The signed version is not valid.")
	}
	if q.Get("skoid") != "" {
		t.UD = &udkFields{OID: q.Get("skoid"), TID: q.Get("sktid"), Start: q.Get("skt"), Expiry: q.Get("ske"),
			Service: q.Get("sks"), Version: q.Get("skv"), DelegatedUserTID: q.Get("skdutid")}
		t.AuthorizedOID, t.UnauthorizedOID, t.CorrelationID = q.Get("saoid"), q.Get("suoid"), q.Get("scid")
		t.DelegatedUserOID, t.ReqHeaders, t.ReqQuery = q.Get("sduoid"), q.Get("srh"), q.Get("srq")
		if t.DelegatedUserOID != "" {
			return nil, true, authFailed("User delegation SAS bound to a delegated user (sduoid) is not supported by this service.")
		}
		if t.Services != "" || t.ResTypes != "" || t.Version < "2018-11-09" || !validVersion(t.UD.Version) {
			return nil, true, authFailed("The user delegation SAS is not well formed.")
		}
	}
	if t.Identifier != "" && (t.UD != nil || t.account()) {
		return nil, true, authFailed("A signed identifier (si) is only valid in a service SAS.")
	}
	if !t.account() && t.Resource == "" {
		return nil, true, authFailed("Signed resource (sr) or signed services (ss) is required.")
	}
	return t, true, nil
}

// stringsToSign renders the SAS string-to-sign for its signed version and,
// if different, in the newest layout (the Go SDK signs every version that way).
func (t *sasToken) stringsToSign(tgt target) ([]string, error) {
	s, err := t.stringToSign(tgt, t.Version)
	if err != nil {
		return nil, err
	}
	latest, _ := t.stringToSign(tgt, "9999-12-31")
	if latest != s {
		return []string{s, latest}, nil
	}
	return []string{s}, nil
}

// stringToSign renders the SAS string-to-sign in the layout of version layout.
func (t *sasToken) stringToSign(tgt target, layout string) (string, error) {
	if t.account() {
		parts := []string{tgt.Account, t.Permissions, t.Services, t.ResTypes, t.Start, t.Expiry, t.IP, t.Protocol, t.Version}
		if layout >= "2020-12-06" {
			parts = append(parts, t.EncScope)
		}
		return strings.Join(parts, "\n") + "\n", nil
	}
	if layout < "2015-04-05" {
		return "", authFailed("The signed version is not supported.")
	}
	canon := "/blob/" + tgt.Account + "/" + tgt.Container
	if t.Resource == "b" || t.Resource == "bs" || t.Resource == "bv" {
		canon += "/" + tgt.Blob
	}
	parts := []string{t.Permissions, t.Start, t.Expiry, canon, t.Identifier, t.IP, t.Protocol, t.Version}
	if layout >= "2018-11-09" {
		parts = append(parts, t.Resource, t.Snapshot)
	}
	if layout >= "2020-12-06" {
		parts = append(parts, t.EncScope)
	}
	parts = append(parts, t.CacheControl, t.ContentDisposition, t.ContentEncoding, t.ContentLanguage, t.ContentType)
	return strings.Join(parts, "\n"), nil
}

// parseSASTime reads the ISO 8601 forms SAS times come in.
func parseSASTime(s string) (time.Time, bool) { return cobalt.ParseSASTime(s) }

// verify checks the token's signature, lifetime, protocol and source address
// for the request; it does not check permissions (see allows).
func (t *sasToken) verify(r *http.Request, tgt target, keys [][]byte, now time.Time) error {
	var candidates []string
	if t.UD != nil {
		candidates = []string{t.udStringToSign(r, tgt)}
		// The Go SDK takes the account name of a user delegation credential
		// from the host's first label ("127" for path-style IP URLs); accept
		// that canonical name too (the key still proves the signer).
		if label, _, _ := strings.Cut(r.Host, "."); label != tgt.Account {
			alt := tgt
			alt.Account = label
			candidates = append(candidates, t.udStringToSign(r, alt))
		}
		ske, ok := parseSASTime(t.UD.Expiry)
		if !ok || !now.Before(ske) {
			return authFailed("The user delegation key has expired.")
		}
		udk := make([][]byte, 0, len(keys))
		for _, k := range keys {
			udk = append(udk, udkValue(k, *t.UD))
		}
		keys = udk
	} else {
		var err error
		if candidates, err = t.stringsToSign(tgt); err != nil {
			return err
		}
	}
	ok := false
	for _, sts := range candidates {
		for _, k := range keys {
			if len(k) > 0 && hmac.Equal(hmacSHA256(k, sts), t.Sig) {
				ok = true
			}
		}
	}
	if !ok {
		return authFailed("Signature did not match. String to sign used was " + strings.ReplaceAll(candidates[0], "\n", "\\n"))
	}
	if t.policy != nil {
		if err := t.applyPolicy(); err != nil {
			return err
		}
	}
	exp, ok := parseSASTime(t.Expiry)
	if !ok {
		return authFailed("Signed expiry time is missing or not well formed.")
	}
	if t.Start != "" {
		st, ok := parseSASTime(t.Start)
		if !ok {
			return authFailed("Signed start time is not well formed.")
		}
		if now.Before(st) {
			return authFailed("Signed start time [" + httpDate(st) + "] is after the current time [" + httpDate(now) + "].")
		}
	}
	if !now.Before(exp) {
		return authFailed("Signed expiry time [" + httpDate(exp) + "] must be after signed start time and the current time [" + httpDate(now) + "].")
	}
	if t.Protocol != "" && t.Protocol != "https" && t.Protocol != "https,http" {
		return authFailed("The signed protocol is not valid.")
	}
	if t.Protocol == "https" && r.TLS == nil {
		return apiErr(cobalt.EForbidden, codeProtocolMismatch, "This request is not authorized to perform this operation using this protocol.")
	}
	if t.IP != "" && !ipInRange(r.RemoteAddr, t.IP) {
		return apiErr(cobalt.EForbidden, "AuthorizationSourceIPMismatch", "This request is not authorized to perform this operation using this source IP %s.", r.RemoteAddr)
	}
	if t.account() && !strings.Contains(t.Services, "b") {
		return apiErr(cobalt.EForbidden, codeServiceMismatch, "This request is not authorized to perform this operation using this service.")
	}
	return nil
}

func ipInRange(remote, rng string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	lo, hi, _ := strings.Cut(rng, "-")
	l, h := net.ParseIP(lo), net.ParseIP(hi)
	if h == nil {
		h = l
	}
	if ip == nil || l == nil {
		return false
	}
	ip16, l16, h16 := ip.To16(), l.To16(), h.To16()
	return string(ip16) >= string(l16) && string(ip16) <= string(h16)
}

// allows reports whether the token grants the operation: full is any of the
// op's permission letters; createOnly is a letter that grants only the
// creation of a new blob.
func (t *sasToken) allows(o *op, tgt target) (full, createOnly bool, err error) {
	if t.account() {
		if o.srt == 0 || !strings.ContainsRune(t.ResTypes, rune(o.srt)) {
			return false, false, apiErr(cobalt.EForbidden, codeResourceTypeMism, "This request is not authorized to perform this operation using this resource type.")
		}
	} else {
		switch t.Resource {
		case "c":
			if o.level == levelAccount || (o.level == levelContainer && o.sasService == "") {
				return false, false, apiErr(cobalt.EForbidden, codeResourceTypeMism, "This request is not authorized to perform this operation using this resource type.")
			}
		case "b":
			if o.level != levelBlob {
				return false, false, apiErr(cobalt.EForbidden, codeResourceTypeMism, "This request is not authorized to perform this operation using this resource type.")
			}
		default:
			return false, false, authFailed("The signed resource is not supported.")
		}
	}
	perms := o.sas
	if !t.account() && o.level == levelContainer {
		perms = o.sasService
	}
	if strings.ContainsAny(t.Permissions, perms) {
		return true, false, nil
	}
	if o.sasNew != "" && strings.ContainsAny(t.Permissions, o.sasNew) {
		return false, true, nil
	}
	return false, false, nil
}

// applyPolicy fills the token's start, expiry and permissions from its
// stored access policy, after the signature (over the token's own fields)
// has been checked. A field given by both is an error, as in Azure.
func (t *sasToken) applyPolicy() error {
	p := t.policy
	for _, f := range []struct {
		tok *string
		pol string
	}{{&t.Start, p.Start}, {&t.Expiry, p.Expiry}, {&t.Permissions, p.Permission}} {
		if *f.tok != "" && f.pol != "" {
			return authFailed("A field of the SAS is also set by the stored access policy " + p.ID + ".")
		}
		if *f.tok == "" {
			*f.tok = f.pol
		}
	}
	return nil
}
