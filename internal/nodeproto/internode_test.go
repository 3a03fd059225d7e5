package nodeproto

import "testing"

func TestInterNodeAddress(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		id, want string
		ok       bool
	}{
		{"tvm-1234_1-20261205t101010z", "10.0.0.4", true},
		{"tvm-1234_2-20261205t101010z", "10.0.0.5", true},
		{"tvm-1234_253-20261205t101010z", "10.0.1.0", true},
		{"tvm-1234_65531-x", "10.0.255.254", true},
		{"tvm-1234_65532-x", "", false},
		{"tvm-1234_0-x", "", false},
		{"tvm-1234_x-y", "", false},
		{"node1", "", false},
	} {
		got, ok := InterNodeAddress(tt.id)
		if got != tt.want || ok != tt.ok {
			t.Errorf("InterNodeAddress(%q) = %q %v, want %q %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzInterNodeAddress(f *testing.F) {
	f.Add("tvm-1_1-x")
	f.Add("a_99999999999999999999-")
	f.Fuzz(func(t *testing.T, id string) {
		if a, ok := InterNodeAddress(id); ok && len(a) < 8 {
			t.Fatalf("bad address %q", a)
		}
	})
}
