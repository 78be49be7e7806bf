package storage

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	keyText := strings.Repeat("ab", KeySize)
	tests := []struct {
		name string
		key  func(t *testing.T) FileKey
	}{
		{"raw key", func(t *testing.T) FileKey { _, k := rawKey(t); return k }},
		{"passphrase", func(t *testing.T) FileKey { return passKey(t, testPassphrase) }},
		{"key file", func(t *testing.T) FileKey {
			p := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(p, []byte(keyText+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			k, err := KeyFromFile(p)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}},
		{"environment", func(t *testing.T) FileKey {
			t.Setenv("TOKENKEEPER_TEST_KEY", keyText)
			k, err := KeyFromEnv("TOKENKEEPER_TEST_KEY")
			if err != nil {
				t.Fatal(err)
			}
			return k
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFile(FileConfig{Dir: filepath.Join(t.TempDir(), "d"), Key: tt.key(t)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Load(ctx, "acct"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Load of an absent key: got %v, want ErrNotFound", err)
			}
			want := testToken(7, 1200)
			mustSave(t, f, "acct", want)
			got, err := f.Load(ctx, "acct")
			if err != nil {
				t.Fatal(err)
			}
			checkToken(t, got, want)
			got.AccessToken = "changed by the caller"
			again, _ := f.Load(ctx, "acct")
			checkToken(t, again, want)

			if err := f.Delete(ctx, "acct"); err != nil {
				t.Fatal(err)
			}
			if err := f.Delete(ctx, "acct"); err != nil {
				t.Fatalf("Delete of an absent key: got %v, want nil", err)
			}
			if _, err := f.Load(ctx, "acct"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Load after Delete: got %v, want ErrNotFound", err)
			}
		})
	}
}

func TestFileSaveReplacesWholeRecord(t *testing.T) {
	f, _ := newTestFile(t)
	mustSave(t, f, "k", testToken(1, 500))
	want := &Token{AccessToken: "secret-access-only", Version: 2}
	mustSave(t, f, "k", want)
	got, err := f.Load(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, got, want)
}

func TestFileModes(t *testing.T) {
	f, dir := newTestFile(t)
	mustSave(t, f, "k", testToken(1, 0))
	for _, p := range []string{dir, filepath.Join(dir, fileBase("k")+".tk")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: got mode %#o, want %#o", p, got, want)
		}
	}
}

func TestFileKeyNames(t *testing.T) {
	f, _ := newTestFile(t)
	keys := []string{
		"../../etc/passwd", "/abs/path", `a\b`, ".", "..", "-rf", ".hidden", "user@example.com",
		"https://issuer.example.com|client-id", "ünïcødé 🔑", strings.Repeat("x", 5000), "a\x00b", "A", "a",
	}
	seen := make(map[string]string)
	for i, k := range keys {
		p, err := f.recordPath(k)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(p) != f.dir { // dir with symlinks resolved (macOS temp dirs have one)
			t.Errorf("recordPath(%q) = %q: got directory %q, want %q", k, p, filepath.Dir(p), f.dir)
		}
		base := filepath.Base(p)
		if strings.HasPrefix(base, ".") || strings.HasPrefix(base, "-") || strings.ContainsAny(base, `/\`+"\x00") {
			t.Errorf("recordPath(%q): unsafe name %q", k, base)
		}
		if other, dup := seen[base]; dup {
			t.Errorf("keys %q and %q map to the same file %q", k, other, base)
		}
		seen[base] = k
		mustSave(t, f, k, testToken(uint64(i), 0))
	}
	for i, k := range keys {
		got, err := f.Load(context.Background(), k)
		if err != nil {
			t.Fatalf("Load(%q): %v", k, err)
		}
		checkToken(t, got, testToken(uint64(i), 0))
	}
	if _, err := f.recordPath(""); err == nil {
		t.Error("recordPath(\"\"): got nil error, want one")
	}
}

func TestFileConfigValidate(t *testing.T) {
	_, key := rawKey(t)
	tests := []struct {
		name string
		cfg  FileConfig
		ok   bool
	}{
		{"valid", FileConfig{Dir: t.TempDir() + "/d", Key: key}, true},
		{"no dir", FileConfig{Key: key}, false},
		{"zero key", FileConfig{Dir: t.TempDir()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.validate()
			if got := err == nil; got != tt.ok {
				t.Fatalf("validate: got %v, want ok=%v", err, tt.ok)
			}
			if _, err := NewFile(tt.cfg); (err == nil) != tt.ok {
				t.Fatalf("NewFile: got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestFileKeyConstructors(t *testing.T) {
	raw, _ := rawKey(t)
	hexKey := hex.EncodeToString(raw)
	tests := []struct {
		name  string
		value string // for KeyFromEnv
		ok    bool
	}{
		{"hex", hexKey, true},
		{"hex with space", " " + hexKey + "\n", true},
		{"base64", "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", true},
		{"base64 raw url", "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s", true},
		{"too short", hexKey[:62], false},
		{"not a key", "hunter2-this-is-not-a-key", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TOKENKEEPER_TEST_KEY", tt.value)
			_, err := KeyFromEnv("TOKENKEEPER_TEST_KEY")
			if (err == nil) != tt.ok {
				t.Fatalf("KeyFromEnv: got %v, want ok=%v", err, tt.ok)
			}
			noSecret(t, err, strings.TrimSpace(tt.value))
		})
	}
	if _, err := KeyFromBytes(raw[:31]); err == nil {
		t.Error("KeyFromBytes(31 bytes): got nil error, want one")
	}
	if _, err := KeyFromPassphrase(nil); err == nil {
		t.Error("KeyFromPassphrase(nil): got nil error, want one")
	}
	if _, err := KeyFromEnv("TOKENKEEPER_TEST_UNSET_VARIABLE"); err == nil {
		t.Error("KeyFromEnv(unset): got nil error, want one")
	}
}

func TestKeyFromFile(t *testing.T) {
	raw, _ := rawKey(t)
	dir := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(write("target", raw, 0o600), link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr error // nil: success
	}{
		{"raw 0600", write("raw", raw, 0o600), nil},
		{"hex 0400", write("hex", []byte(hex.EncodeToString(raw)+"\n"), 0o400), nil},
		{"group readable", write("g", raw, 0o640), ErrInsecurePermissions},
		{"world readable", write("w", raw, 0o604), ErrInsecurePermissions},
		{"symlink", link, ErrInsecurePermissions},
		{"garbage", write("bad", []byte("not a key at all"), 0o600), nil},
		{"missing", filepath.Join(dir, "missing"), os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := KeyFromFile(tt.path)
			if tt.name == "garbage" {
				if err == nil {
					t.Fatal("got nil error, want one")
				}
				return
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if want := keyID(raw); k.k.id != want {
					t.Fatalf("got key id %x, want %x", k.k.id, want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			noSecret(t, err, string(raw), hex.EncodeToString(raw))
		})
	}
}

func TestFileKeyRedacted(t *testing.T) {
	raw, k := rawKey(t)
	p := passKey(t, testPassphrase)
	for _, key := range []FileKey{k, p, {}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			s := fmt.Sprintf(verb, key) + fmt.Sprintf(verb, FileConfig{Key: key})
			if strings.Contains(s, hex.EncodeToString(raw)) || strings.Contains(s, fmt.Sprintf("%x", raw)) ||
				strings.Contains(s, string(raw)) || strings.Contains(s, testPassphrase) {
				t.Errorf("Sprintf(%q) = %q reveals the key", verb, s)
			}
		}
	}
}

// TestPassphraseDerivesOnce checks that derived keys are cached per salt
// and that a store adopts the salt of a file it read, so that a process
// derives one key, not one per operation.
func TestPassphraseDerivesOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	a, err := NewFile(FileConfig{Dir: dir, Key: passKey(t, testPassphrase)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		mustSave(t, a, "k", testToken(uint64(i), 0))
		if _, err := a.Load(context.Background(), "k"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.codec.(*fileKey).derived); n != 1 {
		t.Fatalf("writer: got %d derived keys, want 1", n)
	}
	bKey := passKey(t, testPassphrase) // another process: another salt
	b, err := NewFile(FileConfig{Dir: dir, Key: bKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	mustSave(t, b, "k", testToken(9, 0))
	if n := len(bKey.k.derived); n != 1 {
		t.Fatalf("second process: got %d derived keys, want 1 (the file's salt adopted)", n)
	}
	got, err := a.Load(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, got, testToken(9, 0))
}
