//go:build linux

package sandbox

import (
	"encoding/binary"
	"errors"
)

// The spawner's protocol, over one SOCK_SEQPACKET socketpair between the
// host process and its spawner (nothing else holds either end; it has no
// name in any namespace). Each packet is one message; descriptors travel
// beside it as SCM_RIGHTS.
//
// launch (host → spawner): 8 bytes request id, 4 bytes the node's host uid
// base, 4 bytes flags: spawnCgroup2 (the node's cgroup v2 directory comes
// last), or the number of the node's cgroup v1 directories (one per
// controller, at most spawnMaxV1) shifted by spawnV1Shift. The descriptors:
// the init's control socket end (its fd 3), the detached node directory
// mount (its fd 4), the write end of its stderr pipe, then the node's
// cgroup directories.
//
// launched (spawner → host): 8 bytes request id, 4 bytes the init's pid
// (0 on failure), then the error text on failure. On success one
// descriptor rides along: the init's pidfd. Request id 0 is the spawner's
// own readiness (pid 0, and its setup error if any).
const (
	spawnLaunchSize = 16
	spawnReplyMin   = 12
	spawnMaxPacket  = 1024
	spawnCgroup2    = 1 << 0
	spawnV1Shift    = 8
	spawnMaxV1      = 3
	// spawnFDs is how many descriptors a launch carries before its cgroup
	// directories.
	spawnFDs = 3
)

// spawnLaunch asks the spawner to start one node init.
type spawnLaunch struct {
	ID    uint64
	Base  uint32
	Flags uint32
}

// spawnReply answers one launch (or, with ID 0, the spawner's start).
type spawnReply struct {
	ID    uint64
	Pid   int32
	Error string
}

var errSpawnPacket = errors.New("sandbox: malformed spawner packet")

func (l spawnLaunch) encode() []byte {
	b := make([]byte, spawnLaunchSize)
	binary.LittleEndian.PutUint64(b, l.ID)
	binary.LittleEndian.PutUint32(b[8:], l.Base)
	binary.LittleEndian.PutUint32(b[12:], l.Flags)
	return b
}

// decodeSpawnLaunch parses a launch packet; its uid base must be a range's
// (never host root's) and its flags known.
func decodeSpawnLaunch(b []byte) (spawnLaunch, error) {
	if len(b) != spawnLaunchSize {
		return spawnLaunch{}, errSpawnPacket
	}
	l := spawnLaunch{ID: binary.LittleEndian.Uint64(b), Base: binary.LittleEndian.Uint32(b[8:]), Flags: binary.LittleEndian.Uint32(b[12:])}
	v1 := l.Flags >> spawnV1Shift
	if l.ID == 0 || l.Flags&^(spawnCgroup2|0xff<<spawnV1Shift) != 0 || v1 > spawnMaxV1 || v1 > 0 && l.Flags&spawnCgroup2 != 0 || l.Base < FirstHostUID || (l.Base-FirstHostUID)%RangeSize != 0 ||
		(l.Base-FirstHostUID)/RangeSize >= MaxSlots {
		return spawnLaunch{}, errSpawnPacket
	}
	return l, nil
}

// cgroups is how many cgroup directories the launch carries.
func (l spawnLaunch) cgroups() int {
	if l.Flags&spawnCgroup2 != 0 {
		return 1
	}
	return int(l.Flags >> spawnV1Shift)
}

// fds is how many descriptors the launch carries.
func (l spawnLaunch) fds() int { return spawnFDs + l.cgroups() }

func (r spawnReply) encode() []byte {
	msg := r.Error
	if len(msg) > spawnMaxPacket-spawnReplyMin {
		msg = msg[:spawnMaxPacket-spawnReplyMin]
	}
	b := make([]byte, spawnReplyMin, spawnReplyMin+len(msg))
	binary.LittleEndian.PutUint64(b, r.ID)
	binary.LittleEndian.PutUint32(b[8:], uint32(r.Pid))
	return append(b, msg...)
}

// decodeSpawnReply parses a reply packet: a pid or an error, never both.
func decodeSpawnReply(b []byte) (spawnReply, error) {
	if len(b) < spawnReplyMin || len(b) > spawnMaxPacket {
		return spawnReply{}, errSpawnPacket
	}
	r := spawnReply{ID: binary.LittleEndian.Uint64(b), Pid: int32(binary.LittleEndian.Uint32(b[8:])), Error: string(b[spawnReplyMin:])}
	switch {
	case r.Pid < 0, r.ID == 0 && r.Pid != 0:
		return spawnReply{}, errSpawnPacket
	case r.ID != 0 && (r.Pid > 0) == (r.Error != ""):
		return spawnReply{}, errSpawnPacket
	}
	return r, nil
}
