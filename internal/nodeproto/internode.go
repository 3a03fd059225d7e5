package nodeproto

import (
	"fmt"
	"strconv"
	"strings"
)

// InterNodeAddress is a node's IPv4 address on its pool's private network
// (pools with enableInterNodeCommunication), derived from the node ID's
// sequence number ("tvm-<prefix>_<seq>-<time>"): 10.0.0.4 for node 1, as
// the first address Azure gives in a subnet, then on up to 10.0.255.254.
// Every pool has a network of its own, so pools may repeat addresses. ok is
// false for an ID without a sequence number or past the subnet.
func InterNodeAddress(nodeID string) (addr string, ok bool) {
	_, rest, found := strings.Cut(nodeID, "_")
	if !found {
		return "", false
	}
	seqStr, _, _ := strings.Cut(rest, "-")
	seq, err := strconv.Atoi(seqStr)
	if err != nil || seq < 1 {
		return "", false
	}
	h := seq + 3 // 10.0.0.4 first
	if h > 0xfffe {
		return "", false
	}
	return fmt.Sprintf("10.0.%d.%d", h>>8, h&0xff), true
}

// InterNodePrefix is the prefix length of a pool's private network.
const InterNodePrefix = 16
