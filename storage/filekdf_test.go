package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestFileKDFParamsCapped: a file whose header asks for more Argon2id
// time, memory or threads than this version writes is ErrCorrupt, and no
// key is derived for it.
func TestFileKDFParamsCapped(t *testing.T) {
	key, err := KeyFromPassphrase([]byte(testPassphrase)) // the real parameters and caps
	if err != nil {
		t.Fatal(err)
	}
	var derivations atomic.Int32
	key.k.kdf = func(pass, salt []byte, _, _ uint32, _ uint8, n uint32) []byte { // fast, same inputs same key
		derivations.Add(1)
		sum := sha256.Sum256(append(bytes.Clone(pass), salt...))
		return sum[:n]
	}
	edits := []struct {
		name string
		edit func(p []byte)
	}{
		{"time 4, one more than written", func(p []byte) { binary.BigEndian.PutUint32(p[0:4], argonTime+1) }},
		{"64 MiB + 1 KiB memory", func(p []byte) { binary.BigEndian.PutUint32(p[4:8], argonMemoryKiB+1) }},
		{"5 threads", func(p []byte) { p[8] = argonThreads + 1 }},
		{"the old caps: time 8, 256 MiB, 16 threads", func(p []byte) {
			binary.BigEndian.PutUint32(p[0:4], 8)
			binary.BigEndian.PutUint32(p[4:8], 256*1024)
			p[8] = 16
		}},
		{"4 GiB memory", func(p []byte) { binary.BigEndian.PutUint32(p[4:8], 0xffffffff) }},
		{"time 1<<31", func(p []byte) { binary.BigEndian.PutUint32(p[0:4], 1<<31) }},
		{"time 0", func(p []byte) { binary.BigEndian.PutUint32(p[0:4], 0) }},
		{"255 threads", func(p []byte) { p[8] = 255 }},
		{"0 threads", func(p []byte) { p[8] = 0 }},
		{"salt length 200", func(p []byte) { p[9] = 200 }},
	}
	for _, tt := range edits {
		t.Run(tt.name, func(t *testing.T) {
			d := newDamaged(t, key, func(t *testing.T, p string) {
				rewriteHeader(t, p, func(b []byte) { tt.edit(b[fixedHeaderLen:]) })
			})
			before := derivations.Load()
			d.check(t, ErrCorrupt, "")
			if n := derivations.Load() - before; n != 0 {
				t.Errorf("got %d key derivations for the refused file, want 0", n)
			}
		})
	}
	// The parameters this version writes are accepted and derived once.
	f, err := NewFile(FileConfig{Dir: filepath.Join(t.TempDir(), "d"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, f, "acct", testToken(1, 0))
	before := derivations.Load()
	if _, err := f.Load(context.Background(), "acct"); err != nil {
		t.Fatalf("Load of a file with the parameters this version writes: %v", err)
	}
	if n := derivations.Load() - before; n != 0 {
		t.Errorf("got %d more derivations, want 0 (the derived key is cached)", n)
	}
}
