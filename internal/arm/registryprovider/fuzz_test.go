package registryprovider

import (
	"errors"
	"testing"

	"github.com/cobaltbatch/cobalt"
)

// FuzzDecodeRequest: any body decodes or fails with an ARM 400, never a
// panic; an accepted body applies without error.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"location":"eastus","sku":{"name":"Basic"},"properties":{"adminUserEnabled":true}}`,
		`{"tags":{"a":"b"},"sku":{"name":"premium"}}`,
		`{"identity":{"type":"None"}}`,
		`{"identity":{"type":"SystemAssigned"}}`,
		`{"properties":{"publicNetworkAccess":"Disabled","networkRuleSet":{"defaultAction":"Deny"}}}`,
		`{"location":`, `[]`, `null`, `{"sku":null}`, `{"tags":{"":""}}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, b []byte, create bool) {
		in, err := decodeRequest(b, create)
		if err != nil {
			var ce *cobalt.Error
			if !errors.As(err, &ce) || ce.Code != cobalt.EInvalid {
				t.Fatalf("error %v is not an ARM 400", err)
			}
			return
		}
		s := stored{Registry: Registry{Name: "fuzzreg1", Properties: defaultProperties(fixedNow)}}
		if err := in.apply(&s, fixedNow); err != nil {
			t.Fatal(err)
		}
		if s.Properties.AdminUserEnabled && len(s.Passwords) != 2 {
			t.Fatalf("admin enabled with %d passwords", len(s.Passwords))
		}
		if create && canonicalSku(s.Sku.Name) == "" {
			t.Fatalf("created with sku %q", s.Sku.Name)
		}
	})
}
