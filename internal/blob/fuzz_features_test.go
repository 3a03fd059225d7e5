package blob

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// wantAPIErr fails unless err is nil or a Blob error with a code (never a bare error).
func wantAPIErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	status, code, _ := describe(err)
	if status >= 500 || code == "" {
		t.Fatalf("not a protocol error: %v", err)
	}
}

func FuzzTagFilter(f *testing.F) {
	for _, s := range []string{`"animal" = 'dog'`, `"a" = 'b' AND "c" >= '1' and d < '9'`, `@container = 'c1' AND "x" <= ''`, `"a"='b'`,
		`"a" == 'b'`, `"a" = 'b`, `"a = 'b'`, `@container > 'x'`, `a = 'b' OR c = 'd'`, ``, `AND`, `"" = 'x'`, `"a" = 'b' AND `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := parseTagFilter(s)
		wantAPIErr(t, err)
		if err != nil {
			return
		}
		if len(flt) == 0 || len(flt) > maxTagExprs {
			t.Fatalf("filter of %d comparisons from %q", len(flt), s)
		}
		for _, e := range flt {
			if e.key == "" || (e.key == "@container" && e.op != "=") {
				t.Fatalf("accepted %+v", e)
			}
		}
		tags := map[string]string{}
		for _, e := range flt {
			tags[e.key] = e.value
		}
		flt.match("c", tags) // must not panic
	})
}

func FuzzTagsXML(f *testing.F) {
	for _, s := range []string{`<Tags><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tags>`, `<Tags/>`, `<Tags><TagSet></TagSet></Tags>`,
		`<Tags><TagSet><Tag><Key>a</Key><Value>b</Value></Tag><Tag><Key>a</Key><Value>c</Value></Tag></TagSet></Tags>`, `<x/>`, ``, `<Tags>`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tags, err := parseTagsXML(b)
		wantAPIErr(t, err)
		if err == nil && checkTags(tags) != nil {
			t.Fatalf("accepted invalid tags %v", tags)
		}
		h, err := parseTagsHeader(string(b))
		wantAPIErr(t, err)
		if err == nil && checkTags(h) != nil {
			t.Fatalf("accepted invalid header tags %v", h)
		}
	})
}

func FuzzBatchBody(f *testing.F) {
	f.Add([]byte("--b\r\nContent-Type: application/http\r\nContent-ID: 0\r\n\r\nDELETE /acct1/c/b HTTP/1.1\r\nx-ms-date: x\r\nContent-Length: 0\r\n\r\n--b--\r\n"))
	f.Add([]byte("--b\r\nContent-Type: application/http\r\n\r\nPUT /acct1/c/b?comp=tier HTTP/1.1\r\nx-ms-access-tier: Cool\r\n\r\n--b\r\nContent-Type: application/http\r\n\r\nDELETE /acct1/c/d HTTP/1.1\r\n\r\n--b--\r\n"))
	f.Add([]byte("--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--"))
	f.Add([]byte("--b\r\nContent-Type: application/http\r\n\r\nGET http://evil/x HTTP/1.1\r\n\r\n--b--"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := parseBatchBody(b, "b")
		wantAPIErr(t, err)
		if err != nil {
			return
		}
		if len(parts) == 0 || len(parts) > maxBatchRequests {
			t.Fatalf("%d parts", len(parts))
		}
		for _, p := range parts {
			if p.method != parts[0].method || !strings.HasPrefix(p.uri, "/") {
				t.Fatalf("accepted %+v", p)
			}
		}
	})
}

func FuzzLeaseHeaders(f *testing.F) {
	id := "5a8f7c1e-0000-4000-8000-000000000001"
	for _, a := range [][4]string{{"acquire", "", "15", ""}, {"acquire", id, "-1", ""}, {"renew", id, "", ""}, {"change", id, "", id},
		{"release", "", "", ""}, {"break", "", "", "10"}, {"break", "", "", "61"}, {"acquire", "", "14", ""}, {"x", "", "", ""}, {"acquire", "{" + id + "}", "60", ""}} {
		f.Add(a[0], a[1], a[2], a[3])
	}
	f.Fuzz(func(t *testing.T, action, leaseID, duration, period string) {
		h := http.Header{}
		for k, v := range map[string]string{"x-ms-lease-action": action, "x-ms-lease-id": leaseID, "x-ms-proposed-lease-id": leaseID,
			"x-ms-lease-duration": duration, "x-ms-lease-break-period": period} {
			if v != "" {
				h.Set(k, v)
			}
		}
		lr, err := parseLeaseRequest(h)
		wantAPIErr(t, err)
		if err != nil {
			return
		}
		if lr.action == "acquire" && !(lr.duration == -1 || lr.duration >= 15 && lr.duration <= 60) {
			t.Fatalf("duration %d", lr.duration)
		}
		if lr.breakPeriod > 60 {
			t.Fatalf("break period %d", lr.breakPeriod)
		}
		now := time.Unix(1700000000, 0)
		for _, st := range []store.BlobLease{{}, {ID: id, State: leaseLeased, Duration: -1}, {ID: id, State: leaseLeased, Duration: 15, Expires: now.Add(5 * time.Second)},
			{ID: id, State: leaseBreaking, BreakAt: now.Add(time.Second)}, {ID: id, State: leaseBroken}} {
			l := st
			_, secs, err := lr.apply(&l, now, func() string { return id })
			wantAPIErr(t, err)
			if secs < 0 || secs > 60 {
				t.Fatalf("break seconds %d", secs)
			}
		}
	})
}

func FuzzACL(f *testing.F) {
	for _, s := range []string{
		`<SignedIdentifiers><SignedIdentifier><Id>p1</Id><AccessPolicy><Start>2026-01-01T00:00:00Z</Start><Expiry>2027-01-01T00:00:00.0000000Z</Expiry><Permission>rl</Permission></AccessPolicy></SignedIdentifier></SignedIdentifiers>`,
		`<SignedIdentifiers/>`, ``, `<SignedIdentifiers><SignedIdentifier><Id></Id></SignedIdentifier></SignedIdentifiers>`,
		`<SignedIdentifiers><SignedIdentifier><Id>a</Id><AccessPolicy><Permission>z</Permission></AccessPolicy></SignedIdentifier></SignedIdentifiers>`,
		`<SignedIdentifiers><SignedIdentifier><Id>a</Id><AccessPolicy><Start>yesterday</Start></AccessPolicy></SignedIdentifier></SignedIdentifiers>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := parseACL(b)
		wantAPIErr(t, err)
		if len(ps) > maxPolicies {
			t.Fatalf("%d policies", len(ps))
		}
		for _, p := range ps {
			if p.ID == "" || len(p.ID) > 64 {
				t.Fatalf("policy id %q", p.ID)
			}
		}
	})
}

func FuzzServiceProps(f *testing.F) {
	for _, s := range []string{
		`<StorageServiceProperties><DeleteRetentionPolicy><Enabled>true</Enabled><Days>7</Days></DeleteRetentionPolicy></StorageServiceProperties>`,
		`<StorageServiceProperties><Cors><CorsRule><AllowedOrigins>*</AllowedOrigins><AllowedMethods>GET</AllowedMethods><AllowedHeaders></AllowedHeaders><ExposedHeaders></ExposedHeaders><MaxAgeInSeconds>5</MaxAgeInSeconds></CorsRule></Cors></StorageServiceProperties>`,
		`<StorageServiceProperties><DefaultServiceVersion>bad</DefaultServiceVersion></StorageServiceProperties>`, ``, `<x/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseServiceProps(b)
		wantAPIErr(t, err)
		if err == nil && p.DeleteRetentionPolicy != nil && p.DeleteRetentionPolicy.Enabled && (p.DeleteRetentionPolicy.Days == nil || *p.DeleteRetentionPolicy.Days > 365) {
			t.Fatal("accepted a retention out of range")
		}
	})
}

func FuzzCopySource(f *testing.F) {
	for _, s := range []string{"https://127.0.0.1:8443/acct1/c/b", "https://127.0.0.1:8443/acct1/c/b?sv=x&sig=y", "https://example.com/acct1/c/b",
		"http://169.254.169.254/metadata", "https://user@127.0.0.1:8443/acct1/c/b", "https://127.0.0.1:8443/acct1/c", "//127.0.0.1:8443/acct1/c/b",
		"file:///etc/passwd", "https://127.0.0.1:8443/acct1/c/%00", "https://[::1]:8443/acct1/c/b", "https://127.0.0.1/acct1/c/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, tg, err := parseCopySource(s, []string{"127.0.0.1:8443"})
		wantAPIErr(t, err)
		if err != nil {
			return
		}
		if !sameHost(u.Host, "127.0.0.1:8443") || tg.level() != levelBlob || (u.Scheme != "https" && u.Scheme != "http") {
			t.Fatalf("accepted %q as %+v", s, tg)
		}
		if cobalt.IsCode(err, cobalt.EInternal) {
			t.Fatal("internal error")
		}
	})
}
