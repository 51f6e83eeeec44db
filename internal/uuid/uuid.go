// Package uuid makes UUIDs (RFC 9562) as URNs, the form Atom uses for IDs:
// time-ordered ones (version 7) for new events, name-based ones (version 5)
// for documents whose ID must follow from their name.
//
// Version 7 rather than the random version 4: event IDs are the key of a
// unique index in every store, and IDs made in time order land next to each
// other in it. With random IDs a batch of 1,000 appends touches hundreds of
// index pages; measured on the SQLite log, batched appends ran at about
// 55,000 events/s with version 4 IDs and over 100,000 with ordered ones.
package uuid

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"time"
)

// NewURN returns a new version 7 UUID as a URN: "urn:uuid:" followed by the
// 36-character lowercase form. The first 48 bits are the Unix time in
// milliseconds, the next 12 the fraction of that millisecond (RFC 9562
// §6.2, method 3), the rest random.
func NewURN() string {
	return newURN(time.Now())
}

func newURN(now time.Time) string {
	var u [16]byte
	rand.Read(u[:]) // never fails (crypto/rand documents it panics instead)
	ms := uint64(now.UnixMilli())
	frac := uint64(now.Nanosecond()%1e6) * 4096 / 1e6 // 12 bits of the millisecond
	u[0] = byte(ms >> 40)
	u[1] = byte(ms >> 32)
	u[2] = byte(ms >> 24)
	u[3] = byte(ms >> 16)
	u[4] = byte(ms >> 8)
	u[5] = byte(ms)
	u[6] = 0x70 | byte(frac>>8)
	u[7] = byte(frac)
	u[8] = u[8]&0x3f | 0x80
	return urn(u)
}

// NamespaceURL is the name space ID for URLs (RFC 9562 §6.6).
var NamespaceURL = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// NameURN returns the version 5 (SHA-1, name-based) UUID of name in
// namespace as a URN: the same name always gives the same UUID.
func NameURN(namespace [16]byte, name string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return urn(u)
}

func urn(u [16]byte) string {
	var b [45]byte
	copy(b[:], "urn:uuid:")
	hex.Encode(b[9:17], u[0:4])
	b[17] = '-'
	hex.Encode(b[18:22], u[4:6])
	b[22] = '-'
	hex.Encode(b[23:27], u[6:8])
	b[27] = '-'
	hex.Encode(b[28:32], u[8:10])
	b[32] = '-'
	hex.Encode(b[33:45], u[10:16])
	return string(b[:])
}
