package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestFileSaveTooBig: Save refuses, before writing anything, exactly the
// records that Load would refuse for their size.
func TestFileSaveTooBig(t *testing.T) {
	ctx := context.Background()
	// The size of the record file of testToken(2, n) is fixed + n.
	plain, err := encodeRecord(testToken(2, 100), strings.Repeat("0", 32))
	if err != nil {
		t.Fatal(err)
	}
	fixed := headerLen(kdfNone) + len(plain) - 100 + tagLen
	tests := []struct {
		name      string
		fileSize  int // the size of the record file Save would write
		wantSaved bool
	}{
		{"one byte under the limit", maxFileSize - 1, true},
		{"at the limit", maxFileSize, true},
		{"one byte over the limit", maxFileSize + 1, false},
		{"a 4 MiB ID token", fixed + 4<<20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, dir := newTestFile(t)
			mustSave(t, f, "acct", testToken(1, 0))
			path, _ := f.recordPath("acct")
			orig := readFile(t, path)
			want := testToken(2, tt.fileSize-fixed)
			err := f.Save(ctx, "acct", want)
			if !tt.wantSaved {
				if !errors.Is(err, ErrTooBig) {
					t.Fatalf("Save: got %v, want ErrTooBig", err)
				}
				noSecret(t, err, want.IDToken[:40])
				unchanged(t, path, orig)
				if n := len(tempFiles(t, dir)); n != 0 {
					t.Errorf("got %d temporary files, want 0: nothing may be written", n)
				}
				want = testToken(1, 0)
			} else if err != nil {
				t.Fatalf("Save: got %v, want nil", err)
			}
			if got := len(readFile(t, path)); tt.wantSaved && got != tt.fileSize {
				t.Fatalf("record file: got %d bytes, want %d", got, tt.fileSize)
			}
			got, err := f.Load(ctx, "acct")
			if err != nil {
				t.Fatalf("Load after Save: got %v, want the record", err)
			}
			checkToken(t, got, want)
		})
	}
}

// TestFileLoadTooBig: Load refuses a record file over the limit without
// reading it whole.
func TestFileLoadTooBig(t *testing.T) {
	f, _ := newTestFile(t)
	mustSave(t, f, "acct", testToken(1, 0))
	path, _ := f.recordPath("acct")
	b := append(readFile(t, path), make([]byte, maxFileSize)...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := f.Load(context.Background(), "acct")
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "more than any record") {
		t.Fatalf("Load: got %v, want ErrCorrupt for the size", err)
	}
}

// TestFileDirectoryChanged: a store keeps to the directory NewFile
// checked; re-pointing a symlinked Dir, replacing the directory or
// opening it to others afterwards makes every operation refuse, and
// nothing is written anywhere else.
func TestFileDirectoryChanged(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges and modes are not checked on Windows")
	}
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(t *testing.T, base string) (wantEmpty string)
	}{
		{"symlink re-pointed to a 0755 directory", func(t *testing.T, base string) string {
			other := filepath.Join(base, "other")
			mkdir(t, other, 0o755)
			relink(t, filepath.Join(base, "link"), other)
			return other
		}},
		{"symlink re-pointed to a 0700 directory", func(t *testing.T, base string) string {
			other := filepath.Join(base, "other")
			mkdir(t, other, 0o700)
			relink(t, filepath.Join(base, "link"), other)
			return other
		}},
		{"directory replaced", func(t *testing.T, base string) string {
			real := filepath.Join(base, "real")
			if err := os.Rename(real, real+".old"); err != nil {
				t.Fatal(err)
			}
			mkdir(t, real, 0o700)
			return real
		}},
		{"directory opened to others", func(t *testing.T, base string) string {
			if err := os.Chmod(filepath.Join(base, "real"), 0o755); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			mkdir(t, filepath.Join(base, "real"), 0o700)
			relink(t, filepath.Join(base, "link"), filepath.Join(base, "real"))
			_, key := rawKey(t)
			f, err := NewFile(FileConfig{Dir: filepath.Join(base, "link"), Key: key})
			if err != nil {
				t.Fatal(err)
			}
			mustSave(t, f, "acct", testToken(1, 0))
			if _, err := os.Stat(filepath.Join(base, "real", fileBase("acct")+".tk")); err != nil {
				t.Fatalf("the record is not in the symlink's target: %v", err)
			}
			empty := tt.change(t, base)
			ops := map[string]func() error{
				"Save":   func() error { return f.Save(ctx, "acct", testToken(2, 0)) },
				"Load":   func() error { _, err := f.Load(ctx, "acct"); return err },
				"Lock":   func() error { _, err := f.Lock(ctx, "acct"); return err },
				"Delete": func() error { return f.Delete(ctx, "acct") },
			}
			for name, op := range ops {
				if err := op(); !errors.Is(err, ErrInsecurePermissions) {
					t.Errorf("%s: got %v, want ErrInsecurePermissions", name, err)
				}
			}
			if empty != "" {
				if names, _ := os.ReadDir(empty); len(names) != 0 {
					t.Errorf("%s: got %d files written, want none", empty, len(names))
				}
			}
		})
	}
}

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

// relink makes link a symlink to target, replacing what was there.
func relink(t *testing.T, link, target string) {
	t.Helper()
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
