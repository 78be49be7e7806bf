package storage

import (
	"context"
	"testing"
)

// plainCodec stores records unencrypted: the same Save and Load code path
// (existing-record check, temporary file, fsync, rename, directory fsync)
// without encryption, as the baseline of BenchmarkFileStore. It exists
// only in tests.
type plainCodec struct{}

func (plainCodec) seal(_ string, plaintext []byte) ([]byte, error) { return plaintext, nil }
func (plainCodec) open(_ string, data []byte) ([]byte, error)      { return data, nil }

// BenchmarkFileStore measures Save and Load of a realistic record (a
// ~1 KB JWT access token and a 1 KB ID token) with encryption (raw key and
// passphrase key, whose derived key is cached) against a plaintext atomic
// JSON write of the same record. Compare with
// benchstat -col /codec.
func BenchmarkFileStore(b *testing.B) {
	ctx := context.Background()
	tok := testToken(1, 1024)
	codecs := []struct {
		name  string
		codec func(b *testing.B) codec
	}{
		{"plaintext", func(*testing.B) codec { return plainCodec{} }},
		{"encrypted", func(b *testing.B) codec { _, k := rawKey(b); return k.k }},
		{"passphrase", func(b *testing.B) codec {
			k, err := KeyFromPassphrase([]byte(testPassphrase))
			if err != nil {
				b.Fatal(err)
			}
			return k.k
		}},
	}
	for _, op := range []string{"Save", "Load"} {
		for _, c := range codecs {
			b.Run("op="+op+"/codec="+c.name, func(b *testing.B) {
				f, _ := newTestFile(b)
				f.codec = c.codec(b)
				mustSave(b, f, "user@example.com", tok) // derives a passphrase key once
				next := *tok
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					var err error
					if op == "Save" {
						next.Version++ // Save refuses a record that is not newer
						err = f.Save(ctx, "user@example.com", &next)
					} else {
						_, err = f.Load(ctx, "user@example.com")
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkLock measures an uncontended Lock and unlock of the file store:
// the in-process lock, opening the lock file, flock and unlock.
func BenchmarkLock(b *testing.B) {
	f, _ := newTestFile(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		unlock, err := f.Lock(ctx, "user@example.com")
		if err != nil {
			b.Fatal(err)
		}
		if err := unlock(); err != nil {
			b.Fatal(err)
		}
	}
}
