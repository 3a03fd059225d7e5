package nodeapi

import "crypto/sha256"

func benchCredential(nodeID string) (string, []byte) {
	secret := "bench-secret-" + nodeID
	h := sha256.Sum256([]byte(secret))
	return nodeID + "." + secret, h[:]
}
