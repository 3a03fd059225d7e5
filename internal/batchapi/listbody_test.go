package batchapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestListBodyIsJSONMarshal: the hand-assembled list page is byte for byte
// what json.Marshal writes for the same page.
func TestListBodyIsJSONMarshal(t *testing.T) {
	t.Parallel()
	item := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	items := []json.RawMessage{
		item(map[string]any{"id": "t1", "commandLine": "sh -c 'a && b > <c>'", "n": 1}),
		item(map[string]string{"id": "t\u2028\"2\\"}),
	}
	for _, c := range []struct {
		meta, next string
		items      []json.RawMessage
	}{
		{"https://a.b/$metadata#tasks", "", items},
		{"https://a.b/$metadata#tasks", "https://a.b/jobs/j/tasks?$skiptoken=x&api-version=2024-07-01.20.0", items},
		{"https://a.b/$metadata#tasks", "", nil},
		{"https://a.b/$metadata#<&>", "https://a.b/?<&>", items[:1]},
	} {
		want, err := json.Marshal(struct {
			Metadata string            `json:"odata.metadata"`
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"odata.nextLink,omitempty"`
		}{c.meta, append([]json.RawMessage{}, c.items...), c.next})
		if err != nil {
			t.Fatal(err)
		}
		if got := listBody(c.meta, c.items, c.next); !bytes.Equal(got, want) {
			t.Errorf("listBody:\n got %s\nwant %s", got, want)
		}
	}
}
