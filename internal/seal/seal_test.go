package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed"
)

func TestSealOpen(t *testing.T) {
	aead, err := NewAEAD(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	ev := eventfeed.Event{ID: "urn:uuid:1", Subject: "customer-7", ContentType: "application/json", Data: []byte(`{"name":"Ada"}`)}
	sealed := Seal(aead, &ev)
	if bytes.Contains(sealed, []byte("Ada")) || strings.Count(string(sealed), ".") != 4 {
		t.Fatalf("sealed = %s", sealed)
	}
	plain, h, err := Open(aead, sealed, ev.ID, ev.Subject)
	if err != nil || string(plain) != string(ev.Data) || h.Cty != "application/json" || h.Kid != "customer-7" {
		t.Fatalf("Open = %q %+v %v", plain, h, err)
	}

	other, _ := NewAEAD(NewKey())
	for name, try := range map[string]func() error{
		"other key":     func() error { _, _, err := Open(other, sealed, ev.ID, ev.Subject); return err },
		"other event":   func() error { _, _, err := Open(aead, sealed, "urn:uuid:2", ev.Subject); return err },
		"other subject": func() error { _, _, err := Open(aead, sealed, ev.ID, "customer-8"); return err },
		"flipped byte": func() error {
			b := bytes.Clone(sealed)
			i := bytes.LastIndexByte(b, '.') - 2
			b[i] ^= 1
			if b[i] == '.' {
				b[i] = 'A'
			}
			_, _, err := Open(aead, b, ev.ID, ev.Subject)
			return err
		},
		"truncated": func() error { _, _, err := Open(aead, sealed[:len(sealed)-3], ev.ID, ev.Subject); return err },
		"not a JWE": func() error { _, _, err := Open(aead, []byte(`{"name":"Ada"}`), ev.ID, ev.Subject); return err },
		"empty":     func() error { _, _, err := Open(aead, nil, ev.ID, ev.Subject); return err },
	} {
		if err := try(); !errors.Is(err, eventfeed.ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", name, err)
		}
	}
}

func TestJWK(t *testing.T) {
	key := NewKey()
	got, kid, err := ParseJWK(MarshalJWK("s", key))
	if err != nil || !bytes.Equal(got, key) || kid != "s" {
		t.Fatalf("ParseJWK = %x %q %v", got, kid, err)
	}
	for _, doc := range []string{`{}`, `{"kty":"RSA","k":"AA"}`, `{"kty":"oct","k":"AAAA"}`, `not json`} {
		if _, _, err := ParseJWK([]byte(doc)); err == nil {
			t.Errorf("ParseJWK(%s) = nil error", doc)
		}
	}
}

func TestWrap(t *testing.T) {
	kek, _ := NewAEAD(NewKey())
	key := NewKey()
	w := Wrap(kek, key, KeyAAD("f", "s"))
	if bytes.Contains(w, key) {
		t.Fatal("wrapped key holds the key")
	}
	if got, err := Unwrap(kek, w, KeyAAD("f", "s")); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Unwrap = %x %v", got, err)
	}
	if _, err := Unwrap(kek, w, KeyAAD("f", "t")); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("Unwrap for another subject: %v", err)
	}
	if _, err := Unwrap(nil, w, KeyAAD("f", "s")); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("Unwrap without the KEK: %v", err)
	}
	if got, err := Unwrap(nil, Wrap(nil, key, ""), ""); err != nil || !bytes.Equal(got, key) {
		t.Errorf("no KEK: %x %v", got, err)
	}
}

func BenchmarkSeal(b *testing.B) {
	aead, _ := NewAEAD(NewKey())
	ev := eventfeed.Event{ID: "urn:uuid:0190d5c6-6c1e-7000-8000-000000000001", Subject: "order-42", Data: bytes.Repeat([]byte("x"), 300)}
	b.ReportAllocs()
	for b.Loop() {
		Seal(aead, &ev)
	}
}

func BenchmarkOpen(b *testing.B) {
	aead, _ := NewAEAD(NewKey())
	ev := eventfeed.Event{ID: "urn:uuid:0190d5c6-6c1e-7000-8000-000000000001", Subject: "order-42", Data: bytes.Repeat([]byte("x"), 300)}
	sealed := Seal(aead, &ev)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Open(aead, sealed, ev.ID, ev.Subject); err != nil {
			b.Fatal(err)
		}
	}
}
