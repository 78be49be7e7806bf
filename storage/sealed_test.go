package storage

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSealRecord(t *testing.T) {
	_, key := rawKey(t)
	_, other := rawKey(t)
	want := testToken(7, 100)
	sealed, err := SealRecord(key, "acct", want)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{want.AccessToken, want.RefreshToken, want.IDToken} {
		if bytes.Contains(sealed, []byte(secret)) {
			t.Fatalf("the sealed record holds a token in clear")
		}
	}
	t.Run("round trip", func(t *testing.T) {
		got, err := OpenRecord(key, "acct", sealed)
		if err != nil {
			t.Fatal(err)
		}
		checkToken(t, got, want)
	})
	t.Run("file format", func(t *testing.T) { // the same bytes a File can read
		plain, err := key.k.open("acct", sealed)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := decodeRecord(plain)
		if err != nil {
			t.Fatal(err)
		}
		checkToken(t, got, want)
	})
	cases := []struct {
		name    string
		key     FileKey
		account string
		data    func() []byte
		want    error
	}{
		{"wrong key", other, "acct", func() []byte { return sealed }, ErrWrongKey},
		{"wrong passphrase kind", passKey(t, "pw"), "acct", func() []byte { return sealed }, ErrWrongKey},
		{"wrong account", key, "other", func() []byte { return sealed }, ErrCorrupt},
		{"corrupt", key, "acct", func() []byte { b := bytes.Clone(sealed); b[len(b)-20] ^= 1; return b }, ErrCorrupt},
		{"truncated", key, "acct", func() []byte { return sealed[:40] }, ErrCorrupt},
		{"empty", key, "acct", func() []byte { return nil }, ErrCorrupt},
		{"too big", key, "acct", func() []byte { return append(bytes.Clone(sealed), make([]byte, MaxSealedSize)...) }, ErrCorrupt},
		{"future version", key, "acct", func() []byte {
			b := bytes.Clone(sealed)
			b[14] = 9
			binaryPutCRC(b)
			return b
		}, ErrUnsupportedVersion},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := OpenRecord(c.key, c.account, c.data())
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			noSecret(t, err, want.AccessToken, want.RefreshToken, want.IDToken)
		})
	}
	t.Run("too big to seal", func(t *testing.T) {
		big := testToken(1, MaxSealedSize)
		if _, err := SealRecord(key, "acct", big); !errors.Is(err, ErrTooBig) {
			t.Fatalf("got %v, want ErrTooBig", err)
		}
	})
	t.Run("zero key", func(t *testing.T) {
		if _, err := SealRecord(FileKey{}, "acct", want); err == nil || !strings.Contains(err.Error(), "zero FileKey") {
			t.Errorf("SealRecord: got %v, want a zero FileKey error", err)
		}
		if _, err := OpenRecord(FileKey{}, "acct", sealed); err == nil {
			t.Error("OpenRecord with the zero FileKey: got nil error")
		}
	})
}

// binaryPutCRC recomputes the header checksum of a record.
func binaryPutCRC(b []byte) {
	n := int(b[8])<<8 | int(b[9])
	c := headerCRC(b[:n])
	b[10], b[11], b[12], b[13] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
}
