package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cheapKDF and cheapLimits keep passphrase tests fast.
var (
	cheapKDF    = kdfParams{time: 1, memoryKiB: 64, threads: 1}
	cheapLimits = kdfLimits{maxTime: 4, maxMemoryKiB: 1024, maxThreads: 4}
)

// testPassphrase is the passphrase of passphrase-key tests.
const testPassphrase = "correct horse battery staple"

func rawKey(t testing.TB) ([]byte, FileKey) {
	t.Helper()
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	k, err := KeyFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, k
}

func passKey(t testing.TB, pass string) FileKey {
	t.Helper()
	k, err := keyFromPassphrase([]byte(pass), cheapKDF, cheapLimits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestFile returns a File store with a fresh raw key in a new directory.
func newTestFile(t testing.TB) (*File, string) {
	t.Helper()
	_, key := rawKey(t)
	dir := filepath.Join(t.TempDir(), "tokens")
	f, err := NewFile(FileConfig{Dir: dir, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return f, dir
}

// testToken returns a complete record whose every field derives from
// version, so a torn or mixed record is detectable by checkToken.
func testToken(version uint64, idTokenSize int) *Token {
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	id := ""
	if idTokenSize > 0 {
		id = fmt.Sprintf("idt-%d-", version)
		id += strings.Repeat("i", max(0, idTokenSize-len(id)))
	}
	return &Token{
		AccessToken:   fmt.Sprintf("secret-access-%d-%s", version, strings.Repeat("a", 900)),
		TokenType:     "Bearer",
		RefreshToken:  fmt.Sprintf("secret-refresh-%d", version),
		IDToken:       id,
		Scope:         "openid offline_access",
		Expiry:        base.Add(time.Duration(version) * time.Minute),
		RefreshExpiry: base.Add(time.Duration(version) * time.Hour),
		AuthTime:      base,
		DPoPKey:       fmt.Sprintf("secret-dpop-key-%d", version),
		Version:       version,
	}
}

// checkToken fails unless got equals want field by field.
func checkToken(t testing.TB, got, want *Token) {
	t.Helper()
	if got == nil {
		t.Fatalf("got nil token, want version %d", want.Version)
	}
	if got.AccessToken != want.AccessToken || got.TokenType != want.TokenType ||
		got.RefreshToken != want.RefreshToken || got.IDToken != want.IDToken || got.Scope != want.Scope ||
		!got.Expiry.Equal(want.Expiry) || !got.RefreshExpiry.Equal(want.RefreshExpiry) ||
		!got.AuthTime.Equal(want.AuthTime) || got.DPoPKey != want.DPoPKey || got.Version != want.Version {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// consistent reports whether every field of got matches its Version.
func consistent(got *Token, idTokenSize int) bool {
	want := testToken(got.Version, idTokenSize)
	return got.AccessToken == want.AccessToken && got.RefreshToken == want.RefreshToken &&
		got.IDToken == want.IDToken && got.DPoPKey == want.DPoPKey && got.Expiry.Equal(want.Expiry) && got.RefreshExpiry.Equal(want.RefreshExpiry)
}

// noSecret fails if err's message holds a token or key material.
func noSecret(t testing.TB, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error() + fmt.Sprintf("%v %+v", err, err)
	for _, s := range append(secrets, "secret-access", "secret-refresh", testPassphrase) {
		if s != "" && strings.Contains(msg, s) {
			t.Fatalf("error %q reveals a secret", msg)
		}
	}
}

// mustSave saves t under key or fails.
func mustSave(tb testing.TB, s Store, key string, t *Token) {
	tb.Helper()
	if err := s.Save(context.Background(), key, t); err != nil {
		tb.Fatalf("Save(%q): %v", key, err)
	}
}

// readFile returns the bytes of path or fails.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unchanged fails unless path still holds want.
func unchanged(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("record file: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("record file changed: got %d bytes, want the original %d", len(got), len(want))
	}
}

// tempFiles returns the temporary files in dir.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+tempMarker+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
