//go:build linux

package sandbox

import (
	"testing"
)

func TestSpawnLaunchRoundTrip(t *testing.T) {
	for _, l := range []spawnLaunch{{ID: 1, Base: RangeBase(0)}, {ID: 1 << 40, Base: RangeBase(MaxSlots - 1), Flags: spawnCgroup2}, {ID: 2, Base: RangeBase(1), Flags: 3 << spawnV1Shift}} {
		got, err := decodeSpawnLaunch(l.encode())
		if err != nil || got != l {
			t.Errorf("%+v: %+v %v", l, got, err)
		}
	}
	for _, l := range []spawnLaunch{{ID: 0, Base: RangeBase(0)}, {ID: 1, Base: 0}, {ID: 1, Base: RangeBase(0) + 1},
		{ID: 1, Base: RangeBase(MaxSlots)}, {ID: 1, Base: RangeBase(0), Flags: 2},
		{ID: 1, Base: RangeBase(0), Flags: 4 << spawnV1Shift}, {ID: 1, Base: RangeBase(0), Flags: 1<<spawnV1Shift | spawnCgroup2}} {
		if _, err := decodeSpawnLaunch(l.encode()); err == nil {
			t.Errorf("%+v decoded", l)
		}
	}
}

func TestSpawnReplyRoundTrip(t *testing.T) {
	for _, r := range []spawnReply{{}, {Error: "setup"}, {ID: 3, Pid: 42}, {ID: 3, Error: "no"}} {
		got, err := decodeSpawnReply(r.encode())
		if err != nil || got != r {
			t.Errorf("%+v: %+v %v", r, got, err)
		}
	}
	for _, r := range []spawnReply{{ID: 3}, {ID: 3, Pid: 4, Error: "both"}, {Pid: 4}, {ID: 3, Pid: -1, Error: "x"}} {
		if _, err := decodeSpawnReply(r.encode()); err == nil {
			t.Errorf("%+v decoded", r)
		}
	}
}

func FuzzSpawnLaunch(f *testing.F) {
	f.Add(spawnLaunch{ID: 1, Base: RangeBase(3), Flags: spawnCgroup2}.encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeSpawnLaunch(b)
		if err != nil {
			return
		}
		if l.Base < FirstHostUID || l.fds() < spawnFDs || l.fds() > spawnFDs+spawnMaxV1 {
			t.Fatalf("accepted %+v", l)
		}
		if got, err := decodeSpawnLaunch(l.encode()); err != nil || got != l {
			t.Fatalf("round trip %+v: %+v %v", l, got, err)
		}
	})
}

func FuzzSpawnReply(f *testing.F) {
	f.Add(spawnReply{ID: 2, Pid: 7}.encode())
	f.Add(spawnReply{ID: 2, Error: "x"}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeSpawnReply(b)
		if err != nil {
			return
		}
		if r.Pid < 0 || r.ID != 0 && (r.Pid > 0) == (r.Error != "") {
			t.Fatalf("accepted %+v", r)
		}
	})
}
