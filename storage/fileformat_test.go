package storage

import (
	"encoding/binary"
	"os"
	"testing"
)

// TestFileAccountBinding checks each of the two protections that tie a
// record file to its account, alone: the account digest in the header
// (checked before decrypting) and the account key in the AEAD's associated
// data. Each case builds a file, with a valid checksum and tag, that only
// the protection under test refuses.
func TestFileAccountBinding(t *testing.T) {
	tests := []struct {
		name          string
		headerAccount string // whose digest the header carries
		adAccount     string // whose key the ciphertext is bound to
		wantMsg       string
	}{
		{"header of another account, bound to this one", "other", "acct", "belongs to another account"},
		{"header of this account, bound to another", "acct", "other", "authentication failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := newTestFile(t)
			mustSave(t, f, "acct", testToken(1, 0))
			path, _ := f.recordPath("acct")
			craftRecord(t, path, f.codec.(*fileKey), tt.headerAccount, tt.adAccount)
			d := damaged{f: f, path: path, orig: readFile(t, path)}
			d.check(t, ErrCorrupt, tt.wantMsg)
		})
	}
}

// craftRecord rewrites the record file of "acct" at path, sealed with k,
// so that its header carries headerAccount's digest and its ciphertext is
// bound to adAccount, with a valid checksum and tag.
func craftRecord(t *testing.T, path string, k *fileKey, headerAccount, adAccount string) {
	t.Helper()
	b := readFile(t, path)
	plain, err := k.open("acct", b)
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.BigEndian.Uint16(b[8:10]))
	h := append([]byte(nil), b[:n]...)
	digest := accountDigest(headerAccount)
	copy(h[24:32], digest[:])
	binary.BigEndian.PutUint32(h[10:14], headerCRC(h))
	aead, err := newGCM(k.raw)
	if err != nil {
		t.Fatal(err)
	}
	out := aead.Seal(h, h[n-nonceLen:n], plain, additionalData(h, adAccount))
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
