package rbac

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// TestRecordDenialFoldsRepeats: each denial is in the audit trail with who,
// what, where and which service; a caller repeating a forbidden request
// within the window adds no record, and the next record counts the repeats.
func TestRecordDenialFoldsRepeats(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	a := New(Config{Store: s, Now: func() time.Time { return now }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the record outlives the request's cancellation
	d := cobalt.Denial{Service: "blob", PrincipalID: "p1", Action: "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
		Scope: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a"}
	for range 50 {
		a.RecordDenial(ctx, d)
	}
	other := d
	other.Action = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write"
	a.RecordDenial(ctx, other)
	now = now.Add(denialWindow)
	a.RecordDenial(ctx, d)

	recs, _, err := s.AuditList(context.Background(), DenialKind, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3 (first, other action, after the window): %+v", len(recs), recs)
	}
	first, third := recs[0], recs[2]
	if first.Actor != "p1" || first.Subject != d.Scope || first.Fields["service"] != "blob" || first.Fields["action"] != d.Action || first.Fields["repeats"] != "" {
		t.Errorf("first record = %+v", first)
	}
	if recs[1].Fields["action"] != other.Action {
		t.Errorf("second record = %+v", recs[1])
	}
	if third.Fields["repeats"] != "49" {
		t.Errorf("record after the window says repeats=%q, want 49", third.Fields["repeats"])
	}
	for _, r := range recs {
		for k, v := range r.Fields {
			if strings.Contains(strings.ToLower(k), "token") || strings.HasPrefix(v, "ey") {
				t.Errorf("record carries something token-like: %s=%s", k, v)
			}
		}
	}
}
