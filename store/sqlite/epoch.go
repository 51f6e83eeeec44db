package sqlite

import (
	"crypto/rand"
	"encoding/hex"
)

// newEpoch returns a fresh random epoch: 8 bytes, lower-case hex.
func newEpoch() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b[:])
}
