package blob

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/acct1", "/acct1/", "/acct1/c1", "/acct1/c1/", "/acct1/c1/dir/a.txt", "/ACCT/c1", "/acct1/C1/x",
		"/acct1/c--1/x", "/acct1/$root/x", "", "/", "//", "/acct1//x", "/acct1/c1/\x00", "/acct1/c1/" + strings.Repeat("é", 1025)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tg, err := parsePath(p)
		if err != nil {
			if tg != (target{}) {
				t.Fatalf("error with a target: %+v", tg)
			}
			return
		}
		if !validAccountName(tg.Account) {
			t.Fatalf("accepted account %q", tg.Account)
		}
		if tg.Container != "" && !validContainerName(tg.Container) {
			t.Fatalf("accepted container %q", tg.Container)
		}
		if tg.Blob != "" && (!utf8.ValidString(tg.Blob) || strings.IndexByte(tg.Blob, 0) >= 0 || utf8.RuneCountInString(tg.Blob) > maxBlobNameLen) {
			t.Fatalf("accepted blob %q", tg.Blob)
		}
		if tg.Blob != "" && tg.Container == "" {
			t.Fatal("blob without container")
		}
	})
}

func FuzzParseBlockList(f *testing.F) {
	id := "YmxvY2stMA=="
	for _, s := range []string{
		`<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>` + id + `</Latest><Committed>` + id + `</Committed><Uncommitted>` + id + `</Uncommitted></BlockList>`,
		`<BlockList></BlockList>`, `<BlockList><Latest>!!</Latest></BlockList>`, `<BlockList><Other/></BlockList>`,
		`<BlockList><Latest><x/></Latest></BlockList>`, `<a/>`, ``, `<BlockList>`, `<BlockList/><BlockList/>`,
		`<BlockList>text<Latest>` + id + `</Latest></BlockList>`, `<!DOCTYPE x [<!ENTITY a "b">]><BlockList/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		refs, err := parseBlockList(body)
		if err != nil {
			if code := describeCode(err); code != codeInvalidXML && code != codeInvalidBlockID && code != codeBlockCountExceeded {
				t.Fatalf("unexpected error code %s: %v", code, err)
			}
			return
		}
		for _, r := range refs {
			if checkBlockID(r.ID) != nil {
				t.Fatalf("accepted bad block ID %q", r.ID)
			}
			if r.Kind != "Latest" && r.Kind != "Committed" && r.Kind != "Uncommitted" {
				t.Fatalf("kind %q", r.Kind)
			}
		}
	})
}

func describeCode(err error) string {
	_, code, _ := describe(err)
	return code
}

func FuzzParseSharedKey(f *testing.F) {
	for _, s := range []string{"SharedKey acct1:" + strings.Repeat("A", 43) + "=", "SharedKey acct1:", "SharedKey :abc", "Bearer x",
		"SharedKey acct1:!!!", "SharedKey  acct1:" + strings.Repeat("A", 43) + "=", "SharedKeyLite a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		acct, sig, err := parseSharedKey(v)
		if err != nil {
			if describeCode(err) != codeInvalidAuthInfo {
				t.Fatalf("code %s", describeCode(err))
			}
			return
		}
		if acct == "" || len(sig) != 32 {
			t.Fatalf("accepted %q: %q %d", v, acct, len(sig))
		}
		// The canonicalization of any request must not panic either.
		r := httptest.NewRequest(http.MethodPut, "https://127.0.0.1/acct1/c1/b?comp=block&blockid=x", nil)
		r.Header.Set("Authorization", v)
		r.Header.Set("x-ms-meta-"+strings.Map(func(r rune) rune {
			if r < 'a' || r > 'z' {
				return -1
			}
			return r
		}, v), "v")
		_ = verifySharedKey(r, acct, [][]byte{[]byte("k")}, sig)
	})
}

func FuzzParseSAS(f *testing.F) {
	for _, s := range []string{
		"sv=2026-12-06&sr=b&sp=r&se=2030-01-01T00:00:00Z&sig=" + url.QueryEscape(strings.Repeat("A", 43)+"="),
		"sv=2020-02-10&ss=b&srt=sco&sp=rwdlac&se=2030-01-01&sig=" + url.QueryEscape(strings.Repeat("B", 43)+"="),
		"sig=abc", "sig=", "sv=1999-01-01&sig=AAAA", "sv=2026-12-06&sr=c&sp=l&se=bad&sig=" + url.QueryEscape(strings.Repeat("A", 43)+"="),
		"sv=2026-12-06&sr=c&skoid=x&sig=" + url.QueryEscape(strings.Repeat("A", 43)+"="),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		tok, ok, err := parseSAS(q)
		if !ok || err != nil {
			return
		}
		r := httptest.NewRequest(http.MethodGet, "https://127.0.0.1/acct1/c1/b", nil)
		r.URL.RawQuery = q.Encode()
		tg := target{Account: "acct1", Container: "c1", Blob: "b"}
		_ = tok.verify(r, tg, [][]byte{[]byte("k")}, testNow)
		for _, o := range []*op{opGetBlob, opPutBlob, opListBlobs, opCreateContainer, opListContainers} {
			_, _, _ = tok.allows(o, tg)
		}
	})
}

var testNow = mustTime("2026-06-01T00:00:00Z")

func mustTime(s string) time.Time {
	t, _ := parseSASTime(s)
	return t
}
