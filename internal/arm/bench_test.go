package arm

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkHandlerGetIdentity measures the front door's handler alone (no
// TLS, no token crypto): RBAC query, store read and rendering, sequentially
// and in parallel.
func BenchmarkHandlerGetIdentity(b *testing.B) {
	f := newFixtureTB(b)
	f.must(f.do(adminOID, "PUT", rgPath+rgV, `{"location":"eastus"}`), 201)
	f.must(f.do(adminOID, "PUT", miPath+"/mi1"+miV, `{"location":"eastus"}`), 201)
	req := func() {
		r := httptest.NewRequest("GET", "https://127.0.0.1:4443"+miPath+"/mi1"+miV, nil)
		r.Header.Set("Authorization", "Bearer tok-"+adminOID)
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			req()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req()
			}
		})
	})
}
