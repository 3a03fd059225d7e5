package server

import "testing"

func TestMaxNodesFor(t *testing.T) {
	for _, c := range []struct {
		mem  int64
		want int
	}{
		{0, 64},
		{512 << 20, 16},
		{4 << 30, 64},
		{24 << 30, 384},
		{1 << 40, 4096},
	} {
		if got := maxNodesFor(c.mem); got != c.want {
			t.Errorf("maxNodesFor(%d MiB) = %d, want %d", c.mem>>20, got, c.want)
		}
	}
}
