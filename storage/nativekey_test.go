package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conf", "file.key")
	if err := ensureKeyFile(path); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(strings.TrimSpace(string(first))) != 2*KeySize {
		t.Errorf("key file holds %d characters, want %d hex digits", len(strings.TrimSpace(string(first))), 2*KeySize)
	}
	if err := ensureKeyFile(path); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(first) {
		t.Error("a second call replaced the key")
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("key file directory mode: got %v, want 0700", di.Mode().Perm())
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: got %v, want 0600", fi.Mode().Perm())
	}
	if _, err := KeyFromFile(path); err != nil {
		t.Errorf("KeyFromFile: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".file.key-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
