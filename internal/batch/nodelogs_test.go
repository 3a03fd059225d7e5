package batch

import (
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

func TestCheckLogUpload(t *testing.T) {
	start := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	ok := LogUploadSpec{ContainerURL: "https://acct.blob.example/logs?sv=1&sig=abc", StartTime: start}
	if err := checkLogUpload(ok); err != nil {
		t.Fatalf("valid SAS upload: %v", err)
	}
	withID := LogUploadSpec{ContainerURL: "https://127.0.0.1:1/acct/logs", IdentityResourceID: "/subscriptions/s/x", StartTime: start}
	if err := checkLogUpload(withID); err != nil {
		t.Fatalf("valid identity upload: %v", err)
	}
	for name, spec := range map[string]LogUploadSpec{
		"no container":      {StartTime: start},
		"no start":          {ContainerURL: ok.ContainerURL},
		"no SAS, no id":     {ContainerURL: "https://acct.blob.example/logs", StartTime: start},
		"not a URL":         {ContainerURL: "::", StartTime: start},
		"other scheme":      {ContainerURL: "file:///etc?sig=x", StartTime: start},
		"no container path": {ContainerURL: "https://acct.blob.example/?sig=x", StartTime: start},
		"end before start":  {ContainerURL: ok.ContainerURL, StartTime: start, EndTime: start.Add(-time.Second)},
	} {
		if err := checkLogUpload(spec); !cobalt.IsCode(err, cobalt.EInvalid) {
			t.Errorf("%s: %v, want an invalid-value error", name, err)
		}
	}
}

func FuzzCheckLogUpload(f *testing.F) {
	f.Add("https://acct.blob.example/logs?sig=abc", "", int64(0), int64(0))
	f.Add("http://[::1]:80/a/b", "/subscriptions/x", int64(1), int64(-1))
	f.Fuzz(func(t *testing.T, u, id string, s, e int64) {
		err := checkLogUpload(LogUploadSpec{ContainerURL: u, IdentityResourceID: id, StartTime: time.Unix(s, 0), EndTime: time.Unix(e, 0)})
		if err != nil && !cobalt.IsCode(err, cobalt.EInvalid) {
			t.Fatalf("%q: %v", u, err)
		}
	})
}

// A node reports only results of uploads asked of it: an ID it was not
// given (another node's, or made up) records nothing, and the results a
// node keeps are bounded.
func TestRecordLogResultsOnlyAsked(t *testing.T) {
	x := &Node{LogUploads: []nodeproto.LogUpload{{ID: "mine"}}}
	recordLogResults(x, []nodeproto.LogUploadResult{{ID: "other-node", Files: 9}, {ID: "mine", Files: 2}, {ID: "mine", Files: 5}})
	if len(x.LogUploads) != 0 || len(x.LogResults) != 1 || x.LogResults[0] != (nodeproto.LogUploadResult{ID: "mine", Files: 2}) {
		t.Fatalf("pending %+v results %+v", x.LogUploads, x.LogResults)
	}
	for i := range maxLogResults + 3 {
		id := string(rune('a' + i))
		x.LogUploads = append(x.LogUploads, nodeproto.LogUpload{ID: id})
		recordLogResults(x, []nodeproto.LogUploadResult{{ID: id, Error: string(make([]byte, 5000))}})
	}
	if len(x.LogResults) != maxLogResults || len(x.LogResults[0].Error) != 1024 {
		t.Fatalf("%d results kept, first error %d bytes", len(x.LogResults), len(x.LogResults[0].Error))
	}
}
