package decoded

import (
	"errors"
	"fmt"
	"testing"
)

type rec struct {
	version int
	body    string
}

func newCache(decodes *int, max int) *Cache[rec, *string] {
	return &Cache[rec, *string]{
		Same: func(a, b *rec) bool { return *a == *b },
		Decode: func(r rec) (*string, error) {
			*decodes++
			if r.body == "bad" {
				return nil, errors.New("bad record")
			}
			s := fmt.Sprintf("%s@%d", r.body, r.version)
			return &s, nil
		},
		Max: max,
	}
}

func TestServesOnlyTheRecordItDecoded(t *testing.T) {
	decodes := 0
	c := newCache(&decodes, 0)
	a, err := c.Get("k", rec{1, "x"})
	if err != nil || *a != "x@1" || decodes != 1 {
		t.Fatalf("first: %v %v (%d decodes)", a, err, decodes)
	}
	if b, _ := c.Get("k", rec{1, "x"}); b != a || decodes != 1 {
		t.Fatalf("the same record was decoded again (%d decodes)", decodes)
	}
	for _, r := range []rec{{2, "x"}, {2, "y"}} {
		got, err := c.Get("k", r)
		if err != nil || *got != fmt.Sprintf("%s@%d", r.body, r.version) {
			t.Fatalf("%+v served %v %v", r, got, err)
		}
	}
	if decodes != 3 {
		t.Fatalf("%d decodes, want 3", decodes)
	}
	if _, err := c.Get("k", rec{3, "bad"}); err == nil {
		t.Fatal("a record that does not decode was served")
	}
	if got, _ := c.Get("k", rec{2, "y"}); *got != "y@2" {
		t.Fatalf("after a failed decode: %v", *got)
	}
}

func TestIsBounded(t *testing.T) {
	decodes := 0
	c := newCache(&decodes, 10)
	for i := range 25 {
		if _, err := c.Get(fmt.Sprint(i), rec{1, "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 10 {
		t.Fatalf("%d entries, want 10", c.Len())
	}
}
