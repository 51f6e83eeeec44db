// Package seal encrypts event data for crypto-shredding: each subject of
// an encrypted feed has its own random data key, and an event's Data is
// sealed under it as a JWE (RFC 7516) in compact serialization, with
// direct encryption ("alg":"dir") and AES-256-GCM ("enc":"A256GCM").
// Destroying a subject's key makes every sealed copy of its data, in the
// log, in cached pages and in backups, unreadable.
//
// JWE rather than an own format: a consumer in any language decrypts an
// event with its JOSE library and the key the publisher serves as a JWK
// (RFC 7517). The protected header, which is the AEAD's additional
// authenticated data, names the plaintext's media type ("cty"), the key
// ("kid", the subject) and the event ("eid", its ID): ciphertext moved to
// another event, or to another subject, fails to open.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/uuid"
)

// KeySize is the size of a data key and of a key-encryption key: 32 bytes,
// for AES-256.
const KeySize = 32

// nonceSize is AES-GCM's standard nonce size (96 bits), which JWE's
// A256GCM requires.
const nonceSize = 12

var b64 = base64.RawURLEncoding

// Header is a sealed event's JWE protected header.
type Header struct {
	Alg string `json:"alg"`           // always "dir"
	Enc string `json:"enc"`           // always "A256GCM"
	Cty string `json:"cty,omitempty"` // the plaintext's media type
	Kid string `json:"kid"`           // the key's ID: the event's subject
	EID string `json:"eid"`           // the event's ID
}

// NewKey returns a new random data key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k) // never fails (crypto/rand, Go 1.24+)
	return k
}

// NewAEAD returns the AES-256-GCM AEAD of key, which must be KeySize bytes.
func NewAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal returns ev's Data sealed under aead, the key of ev.Subject, as a
// JWE compact serialization. ev's media type goes into the header.
func Seal(aead cipher.AEAD, ev *eventfeed.Event) []byte {
	out, _ := Compact(Format1, ev.MediaType(), ev.Subject, ev.ID, SealParts(aead, ev))
	return out
}

// Format1 is the first format of the parts SealParts returns: the header
// {"alg":"dir","enc":"A256GCM","cty":…,"kid":…,"eid":…}, written by
// AppendHeader, then the 12-byte nonce, the ciphertext and the 16-byte
// tag. A store that keeps sealed events as parts records the format with
// them: Compact rebuilds the JWE of each format it knows as it was sealed.
const Format1 = 1

// SealParts seals ev's Data under aead as Seal does, and returns the
// nonce, ciphertext and tag (Format1) without the header, which is made of
// ev's media type, subject and ID: a store that keeps those anyway stores
// the parts and rebuilds the JWE with Compact.
func SealParts(aead cipher.AEAD, ev *eventfeed.Event) []byte {
	var buf [256]byte
	hdr := AppendHeader(buf[:0], ev.MediaType(), ev.Subject, ev.ID)
	aad := make([]byte, b64.EncodedLen(len(hdr)))
	b64.Encode(aad, hdr)
	out := make([]byte, nonceSize, nonceSize+len(ev.Data)+aead.Overhead())
	rand.Read(out)
	return aead.Seal(out, out[:nonceSize], ev.Data, aad)
}

// Compact returns the JWE compact serialization of parts, the nonce,
// ciphertext and tag that SealParts returned in format version, for an
// event of media type cty, subject kid and ID eid. The result is
// byte for byte the JWE that was sealed, header included (it is the
// AEAD's additional data). An unknown version, or parts too short to
// hold a nonce and a tag, is an error wrapping ErrMalformed.
func Compact(version int, cty, kid, eid string, parts []byte) ([]byte, error) {
	if version != Format1 {
		return nil, fmt.Errorf("%w: sealed parts of format %d, this package knows %d", ErrMalformed, version, Format1)
	}
	if len(parts) < nonceSize+tagSize {
		return nil, fmt.Errorf("%w: sealed parts are %d bytes, less than a nonce and a tag", ErrMalformed, len(parts))
	}
	var buf [256]byte
	hdr := AppendHeader(buf[:0], cty, kid, eid)
	nonce, ct, tag := parts[:nonceSize], parts[nonceSize:len(parts)-tagSize], parts[len(parts)-tagSize:]
	// BASE64URL(header) "." "" "." BASE64URL(iv) "." BASE64URL(ciphertext) "." BASE64URL(tag)
	out := make([]byte, 0, b64.EncodedLen(len(hdr))+2+b64.EncodedLen(nonceSize)+1+b64.EncodedLen(len(ct))+1+b64.EncodedLen(tagSize))
	out = b64.AppendEncode(out, hdr)
	out = append(out, '.', '.')
	out = b64.AppendEncode(out, nonce)
	out = append(out, '.')
	out = b64.AppendEncode(out, ct)
	out = append(out, '.')
	return b64.AppendEncode(out, tag), nil
}

// tagSize is AES-GCM's tag size, which JWE's A256GCM requires.
const tagSize = 16

// AppendHeader appends the protected header of Format1 to dst: the JSON
// object {"alg":"dir","enc":"A256GCM","cty":cty,"kid":kid,"eid":eid},
// without "cty" when cty is empty, without white space, strings escaped
// as encoding/json escapes them (with HTML escaping). These bytes are the
// AEAD's additional data, and Compact rebuilds stored events with them:
// they must never change for Format1 (TestFormat1 pins them); a new
// encoding is a new format.
func AppendHeader(dst []byte, cty, kid, eid string) []byte {
	dst = append(dst, `{"alg":"dir","enc":"A256GCM"`...)
	if cty != "" {
		dst = append(dst, `,"cty":`...)
		dst = appendJSONString(dst, cty)
	}
	dst = append(dst, `,"kid":`...)
	dst = appendJSONString(dst, kid)
	dst = append(dst, `,"eid":`...)
	dst = appendJSONString(dst, eid)
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string, escaped as encoding/json's
// Marshal escaped strings when Format1 was made: ", \ and control
// characters; <, > and & (HTML); U+2028 and U+2029; invalid UTF-8 as
// U+FFFD.
// It is this package's own, not shared with the module's other JSON
// writers (the publisher's http-feed, tail's lines), whose output may
// change: stored events depend on these bytes.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ErrMalformed reports data that is not a JWE compact serialization of the
// form Seal writes. It wraps eventfeed.ErrDecrypt.
var ErrMalformed = fmt.Errorf("%w: not a sealed event (JWE compact, dir, A256GCM)", eventfeed.ErrDecrypt)

// parseHeader parses raw, a decoded protected header, checked to be one
// Seal writes. Headers as AppendHeader writes them, with strings that need
// no escape, are read directly (a sixth of the cost of encoding/json,
// which was the largest part of opening an event); any other JSON goes to
// encoding/json, which gives the same Header.
func parseHeader(raw []byte) (Header, error) {
	if h, ok := parseFormat1(raw); ok {
		return h, nil
	}
	var h Header
	if err := json.Unmarshal(raw, &h); err != nil {
		return Header{}, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if h.Alg != "dir" || h.Enc != "A256GCM" {
		return Header{}, fmt.Errorf("%w: alg %q enc %q", ErrMalformed, h.Alg, h.Enc)
	}
	return h, nil
}

// parseFormat1 reads raw if it is a header as AppendHeader writes it and
// none of its strings holds an escape or a byte encoding/json would
// replace; ok is false for anything else.
func parseFormat1(raw []byte) (h Header, ok bool) {
	const prefix = `{"alg":"dir","enc":"A256GCM"`
	rest, ok := bytes.CutPrefix(raw, []byte(prefix))
	if !ok {
		return Header{}, false
	}
	h.Alg, h.Enc = "dir", "A256GCM"
	member := func(name string) (string, bool) {
		var ok bool
		if rest, ok = bytes.CutPrefix(rest, []byte(`,"`+name+`":"`)); !ok {
			return "", false
		}
		end := bytes.IndexByte(rest, '"')
		if end < 0 {
			return "", false
		}
		v := rest[:end]
		for _, c := range v {
			if c < 0x20 || c == '\\' {
				return "", false
			}
		}
		if !utf8.Valid(v) {
			return "", false
		}
		rest = rest[end+1:]
		if string(v) == eventfeed.DefaultContentType {
			return eventfeed.DefaultContentType, true // the common media type, not allocated
		}
		return string(v), true
	}
	if bytes.HasPrefix(rest, []byte(`,"cty":`)) {
		if h.Cty, ok = member("cty"); !ok {
			return Header{}, false
		}
	}
	if h.Kid, ok = member("kid"); !ok {
		return Header{}, false
	}
	if h.EID, ok = member("eid"); !ok {
		return Header{}, false
	}
	return h, string(rest) == "}"
}

// Open returns the plaintext of sealed, an event sealed by Seal, and its
// header. id and subject are the event's ID and subject as the feed gives
// them; a header naming others, or ciphertext that fails authentication
// under aead, is an error wrapping eventfeed.ErrDecrypt: never plaintext
// that was not sealed for this event.
func Open(aead cipher.AEAD, sealed []byte, id, subject string) ([]byte, Header, error) {
	// BASE64URL(header) "." "" "." BASE64URL(iv) "." BASE64URL(ciphertext) "." BASE64URL(tag)
	var parts [5][]byte
	rest := sealed
	for i := range 4 {
		dot := bytes.IndexByte(rest, '.')
		if dot < 0 {
			return nil, Header{}, ErrMalformed
		}
		parts[i], rest = rest[:dot], rest[dot+1:]
	}
	parts[4] = rest
	if len(parts[1]) != 0 || bytes.IndexByte(rest, '.') >= 0 {
		return nil, Header{}, ErrMalformed
	}
	// One buffer for the decoded header, nonce, ciphertext and tag; the
	// plaintext is opened in place over the ciphertext.
	buf := make([]byte, 0, b64.DecodedLen(len(parts[0]))+b64.DecodedLen(len(parts[2]))+b64.DecodedLen(len(parts[3]))+b64.DecodedLen(len(parts[4])))
	buf, err := b64.AppendDecode(buf, parts[0])
	if err != nil {
		return nil, Header{}, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	h, err := parseHeader(buf)
	if err != nil {
		return nil, Header{}, err
	}
	if h.EID != id || h.Kid != subject {
		return nil, h, fmt.Errorf("%w: sealed for event %q of subject %q, found in event %q of subject %q",
			eventfeed.ErrDecrypt, h.EID, h.Kid, id, subject)
	}
	n0 := len(buf)
	buf, err1 := b64.AppendDecode(buf, parts[2])
	n1 := len(buf)
	buf, err2 := b64.AppendDecode(buf, parts[3])
	n2 := len(buf)
	buf, err3 := b64.AppendDecode(buf, parts[4]) // ciphertext then tag, as cipher.AEAD wants them
	nonce, ct := buf[n0:n1:n1], buf[n1:]
	if err := errors.Join(err1, err2, err3); err != nil || len(nonce) != aead.NonceSize() || len(buf)-n2 != aead.Overhead() {
		return nil, h, ErrMalformed
	}
	plain, err := aead.Open(ct[:0], nonce, ct, parts[0])
	if err != nil {
		return nil, h, fmt.Errorf("%w: event %s: %v", eventfeed.ErrDecrypt, id, err)
	}
	return plain, h, nil
}

// JWK is a data key as the publisher serves it: a JSON Web Key (RFC 7517)
// of key type "oct" (RFC 7518 §6.4).
type JWK struct {
	Kty string `json:"kty"` // "oct"
	Alg string `json:"alg"` // "A256GCM"
	Kid string `json:"kid"` // the subject
	K   string `json:"k"`   // the key, base64url without padding
}

// MarshalJWK returns key, the data key of subject, as a JWK document.
func MarshalJWK(subject string, key []byte) []byte {
	b, err := json.Marshal(JWK{Kty: "oct", Alg: "A256GCM", Kid: subject, K: b64.EncodeToString(key)})
	if err != nil {
		panic(err)
	}
	return b
}

// ParseJWK returns the key of a JWK document written by MarshalJWK, or by
// any JOSE library for a 256-bit "oct" key, and its kid.
func ParseJWK(doc []byte) (key []byte, kid string, err error) {
	var j JWK
	if err := json.Unmarshal(doc, &j); err != nil {
		return nil, "", fmt.Errorf("seal: key document: %w", err)
	}
	if j.Kty != "oct" || (j.Alg != "" && j.Alg != "A256GCM") {
		return nil, "", fmt.Errorf("seal: key document has kty %q alg %q, want oct A256GCM", j.Kty, j.Alg)
	}
	key, err = b64.DecodeString(j.K)
	if err != nil || len(key) != KeySize {
		return nil, "", fmt.Errorf("seal: key document's k is not a base64url %d-byte key", KeySize)
	}
	return key, j.Kid, nil
}

// Wrap encrypts a data key under a key-encryption key (AES-256-GCM, random
// nonce), bound to aad (the feed and subject it belongs to), for storage.
// A nil kek returns key unchanged.
func Wrap(kek cipher.AEAD, key []byte, aad string) []byte {
	if kek == nil {
		return key
	}
	nonce := make([]byte, kek.NonceSize(), kek.NonceSize()+len(key)+kek.Overhead())
	rand.Read(nonce)
	return kek.Seal(nonce, nonce, key, []byte(aad))
}

// ErrWrongKEK reports a stored data key that the key-encryption key given
// does not unwrap: the log was opened with another key-encryption key, or
// none where one was used.
var ErrWrongKEK = errors.New("seal: stored data key does not open with this key-encryption key")

// Unwrap reverses Wrap.
func Unwrap(kek cipher.AEAD, stored []byte, aad string) ([]byte, error) {
	if kek == nil {
		if len(stored) != KeySize {
			return nil, ErrWrongKEK
		}
		return stored, nil
	}
	n := kek.NonceSize()
	if len(stored) < n {
		return nil, ErrWrongKEK
	}
	key, err := kek.Open(nil, stored[:n], stored[n:], []byte(aad))
	if err != nil || len(key) != KeySize {
		return nil, ErrWrongKEK
	}
	return key, nil
}

// KeyAAD is the additional data binding a wrapped key to its feed and
// subject.
func KeyAAD(feed, subject string) string { return feed + "\x00" + subject }

// SameContent reports whether plain, an event given to Append, is stored
// as stored, a sealed event: what Event.SameContent decides for events
// stored in the clear.
func SameContent(aead cipher.AEAD, plain, stored *eventfeed.Event) bool {
	data, h, err := Open(aead, stored.Data, stored.ID, stored.Subject)
	if err != nil {
		return false
	}
	s := *stored
	s.Data, s.ContentType = data, h.Cty
	return plain.SameContent(&s)
}

// tombstoneNS is the name space of tombstone IDs: a version 5 UUID of the
// feed and subject, so that every Log, and a retried Erase, gives one
// subject's tombstone one ID.
var tombstoneNS = [16]byte{0x6e, 0x0f, 0x4b, 0x7a, 0x3c, 0x51, 0x4d, 0x2e, 0x9a, 0x1b, 0x55, 0x0c, 0x8e, 0x27, 0xd4, 0x91}

// Tombstone returns the tombstone event that erases subject from feed.
// The Log gives it its Seq and Time.
func Tombstone(feed, subject string) eventfeed.Event {
	return eventfeed.Event{
		Feed:    feed,
		ID:      uuid.NameURN(tombstoneNS, KeyAAD(feed, subject)),
		Type:    eventfeed.TypeErased,
		Subject: subject,
	}
}

// CheckType refuses an event of the type reserved to tombstones, which
// only Erase appends.
func CheckType(ev *eventfeed.Event) error {
	if ev.Type == eventfeed.TypeErased {
		return fmt.Errorf("%w: type %s is reserved to the tombstones a Log appends when it erases a subject", eventfeed.ErrInvalidEvent, ev.Type)
	}
	return nil
}
