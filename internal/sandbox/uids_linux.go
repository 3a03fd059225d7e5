//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Host uid ranges of nodes: slot i maps node uids 0..RangeSize-1 to host
// uids FirstHostUID+i*RangeSize..., far above the usual /etc/subuid ranges.
const (
	FirstHostUID = 1 << 24
	RangeSize    = 65536
	MaxSlots     = 4096
)

// LockDir holds one lock file per uid slot; a slot is live while a process
// holds its lock, so no two live nodes on this host ever share a range,
// whichever Cobalt process started them.
var LockDir = "/run/cobalt/uid-slots"

// UIDRange is a node's host uid range, held until Release.
type UIDRange struct {
	Slot int
	lock *os.File
}

// Base is the host uid (and gid) of the node's root.
func (r *UIDRange) Base() uint32 { return RangeBase(r.Slot) }

// RangeBase is the first host uid of the range of slot.
func RangeBase(slot int) uint32 { return uint32(FirstHostUID + slot*RangeSize) }

// Release frees the slot.
func (r *UIDRange) Release() {
	if r != nil && r.lock != nil {
		r.lock.Close()
		r.lock = nil
	}
}

// AcquireRange takes the slot preferred (a node's recorded slot, so that its
// files keep their owners across restarts) when it is free and in range,
// otherwise a free slot.
func AcquireRange(preferred int) (*UIDRange, error) {
	if err := os.MkdirAll(LockDir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: uid slot locks: %w", err)
	}
	try := func(slot int) (*UIDRange, error) {
		path := filepath.Join(LockDir, strconv.Itoa(slot))
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			return nil, err
		}
		return &UIDRange{Slot: slot, lock: f}, nil
	}
	if preferred >= 0 && preferred < MaxSlots {
		if r, err := try(preferred); err == nil {
			return r, nil
		}
	}
	// New ranges start at a random slot: a slot just released (a node
	// restarting) is then unlikely to be taken by another node meanwhile.
	first := rand.IntN(MaxSlots)
	for i := range MaxSlots {
		slot := (first + i) % MaxSlots
		r, err := try(slot)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("sandbox: uid slot %d: %w", slot, err)
		}
	}
	return nil, errors.New("sandbox: every uid slot is in use")
}
