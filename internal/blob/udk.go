package blob

import (
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// User delegation keys are not stored: a key's value is an HMAC of its
// signed fields under the account's primary key, so the service can derive
// it again to check a user delegation SAS.

const (
	actGenerateUDK = "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"
	maxUDKLifetime = 7 * 24 * time.Hour
)

// udkFields are the signed fields of a user delegation key (sk* SAS parameters).
type udkFields struct {
	OID, TID, Start, Expiry, Service, Version string
	// DelegatedUserTID is skdutid (2025-07-05 and later).
	DelegatedUserTID string
}

// canonicalUDKTime normalizes a key time to the layout keys are derived with.
func canonicalUDKTime(s string) string {
	if t, ok := parseSASTime(s); ok {
		return cobalt.FormatSASTime(t)
	}
	return s
}

// udkValue derives the key for the fields from an account key.
func udkValue(accountKey []byte, f udkFields) []byte {
	return hmacSHA256(accountKey, strings.Join([]string{"cobalt-user-delegation-key", f.OID, f.TID,
		canonicalUDKTime(f.Start), canonicalUDKTime(f.Expiry), f.Service, f.Version, f.DelegatedUserTID}, "\n"))
}

var opGetUserDelegationKey = &op{name: "GetUserDelegationKey", level: levelAccount, action: actGenerateUDK, fn: (*Service).handleGetUserDelegationKey}

type xmlKeyInfo struct {
	XMLName          xml.Name `xml:"KeyInfo"`
	Start            string   `xml:"Start"`
	Expiry           string   `xml:"Expiry"`
	DelegatedUserTid string   `xml:"DelegatedUserTid"`
}

type xmlUDK struct {
	XMLName                xml.Name `xml:"UserDelegationKey"`
	SignedOid              string   `xml:"SignedOid"`
	SignedTid              string   `xml:"SignedTid"`
	SignedStart            string   `xml:"SignedStart"`
	SignedExpiry           string   `xml:"SignedExpiry"`
	SignedService          string   `xml:"SignedService"`
	SignedVersion          string   `xml:"SignedVersion"`
	SignedDelegatedUserTid string   `xml:"SignedDelegatedUserTid,omitempty"`
	Value                  string   `xml:"Value"`
}

func (s *Service) handleGetUserDelegationKey(req *request) error {
	if req.caller.ObjectID == "" {
		return authFailed("Only authorization with Microsoft Entra ID (OAuth) can request a user delegation key.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(req.w, req.r.Body, 64<<10))
	if err != nil {
		return apiErr(cobalt.ETooLarge, codeTooLarge, "The request body is too large and exceeds the maximum permissible limit.")
	}
	var ki xmlKeyInfo
	if err := xml.Unmarshal(body, &ki); err != nil {
		return invalidXML()
	}
	now := s.now().UTC()
	start := now
	if ki.Start != "" {
		t, ok := parseSASTime(ki.Start)
		if !ok {
			return apiErr(cobalt.EInvalid, "InvalidXmlNodeValue", "The value for one of the XML nodes is not in the correct format.").WithTarget("Start")
		}
		start = t.UTC()
	}
	exp, ok := parseSASTime(ki.Expiry)
	if !ok || !exp.After(start) || exp.After(now.Add(maxUDKLifetime)) || !exp.After(now) {
		return apiErr(cobalt.EInvalid, "InvalidXmlNodeValue", "The value for one of the XML nodes is not in the correct format.").WithTarget("Expiry")
	}
	if len(req.keys) == 0 {
		return apiErr(cobalt.EForbidden, codeAuthorizationFail, "This request is not authorized to perform this operation.")
	}
	f := udkFields{OID: req.caller.ObjectID, TID: req.caller.TenantID, Start: cobalt.FormatSASTime(start),
		Expiry: cobalt.FormatSASTime(exp), Service: "b", Version: req.version, DelegatedUserTID: ki.DelegatedUserTid}
	return writeXML(req.w, http.StatusOK, xmlUDK{SignedOid: f.OID, SignedTid: f.TID, SignedStart: f.Start, SignedExpiry: f.Expiry,
		SignedService: f.Service, SignedVersion: f.Version, SignedDelegatedUserTid: f.DelegatedUserTID,
		Value: base64.StdEncoding.EncodeToString(udkValue(req.keys[0], f))})
}

// udStringToSign renders a user delegation SAS string-to-sign for its signed version.
func (t *sasToken) udStringToSign(r *http.Request, tgt target) string {
	u, v := t.UD, t.Version
	canon := "/blob/" + tgt.Account + "/" + tgt.Container
	if t.Resource == "b" || t.Resource == "bs" || t.Resource == "bv" {
		canon += "/" + tgt.Blob
	}
	parts := []string{t.Permissions, t.Start, t.Expiry, canon, u.OID, u.TID, u.Start, u.Expiry, u.Service, u.Version}
	if v >= "2020-02-10" {
		parts = append(parts, t.AuthorizedOID, t.UnauthorizedOID, t.CorrelationID)
	}
	if v >= "2025-07-05" {
		parts = append(parts, u.DelegatedUserTID, t.DelegatedUserOID)
	}
	parts = append(parts, t.IP, t.Protocol, t.Version, t.Resource, t.Snapshot)
	if v >= "2020-12-06" {
		parts = append(parts, t.EncScope)
	}
	if v >= "2026-04-06" {
		parts = append(parts, signedRequestHeaders(r, t.ReqHeaders), signedRequestQuery(r, t.ReqQuery))
	}
	parts = append(parts, t.CacheControl, t.ContentDisposition, t.ContentEncoding, t.ContentLanguage, t.ContentType)
	return strings.Join(parts, "\n")
}

// signedRequestHeaders renders the srh headers of the request, "name:value\n" each.
func signedRequestHeaders(r *http.Request, names string) string {
	if names == "" {
		return ""
	}
	var b strings.Builder
	for _, n := range strings.Split(names, ",") {
		b.WriteString(n + ":" + r.Header.Get(n) + "\n")
	}
	return b.String()
}

// signedRequestQuery renders the srq query parameters of the request, "\nname:value" each.
func signedRequestQuery(r *http.Request, names string) string {
	if names == "" {
		return ""
	}
	q := r.URL.Query()
	var b strings.Builder
	for _, n := range strings.Split(names, ",") {
		b.WriteString("\n" + n + ":" + q.Get(n))
	}
	return b.String()
}
