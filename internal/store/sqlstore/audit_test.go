package sqlstore

import "testing"

// TestAuditLinger: a lingering batch takes what is queued up to the size it
// expects and stops there, leaving the rest for the next batch.
func TestAuditLinger(t *testing.T) {
	db := &DB{}
	db.audit.queue = make(chan auditRequest, 8)
	db.audit.closing = make(chan struct{})
	for range 5 {
		db.audit.queue <- auditRequest{}
	}
	batch := db.linger([]auditRequest{{}}, 4)
	if len(batch) != 4 || len(db.audit.queue) != 2 {
		t.Fatalf("batch of %d, %d left queued; want 4 and 2", len(batch), len(db.audit.queue))
	}
	if batch = db.linger(batch, 3); len(batch) != 4 {
		t.Fatalf("a batch already as large as expected grew to %d", len(batch))
	}
}

// TestBatchSizes: the loop expects as many records as the largest of its
// recent batches, and forgets a batch auditRecent batches later.
func TestBatchSizes(t *testing.T) {
	var b batchSizes
	if b.largest() != 0 {
		t.Fatalf("largest of none is %d", b.largest())
	}
	b.add(1)
	b.add(5)
	b.add(2)
	if b.largest() != 5 {
		t.Fatalf("largest is %d, want 5", b.largest())
	}
	for range auditRecent - 2 {
		b.add(1)
	}
	if b.largest() != 5 {
		t.Fatalf("forgot the batch of 5 too early: largest %d", b.largest())
	}
	b.add(1)
	if b.largest() != 2 {
		t.Fatalf("largest is %d after the batch of 5 aged out, want 2", b.largest())
	}
}
