package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// damaged is a store whose record for "acct" was just damaged; run checks
// that Load and Save both fail with want and leave the file as it is.
type damaged struct {
	f    *File
	path string
	orig []byte // the damaged bytes
}

func (d damaged) check(t *testing.T, want error, wantInMsg string) {
	t.Helper()
	ctx := context.Background()
	_, err := d.f.Load(ctx, "acct")
	if !errors.Is(err, want) {
		t.Fatalf("Load: got %v, want %v", err, want)
	}
	if wantInMsg != "" && !strings.Contains(err.Error(), wantInMsg) {
		t.Errorf("Load: got %q, want it to say %q", err, wantInMsg)
	}
	noSecret(t, err)
	err = d.f.Save(ctx, "acct", testToken(99, 0))
	if !errors.Is(err, want) {
		t.Fatalf("Save over the damaged file: got %v, want %v", err, want)
	}
	noSecret(t, err)
	if d.orig != nil {
		unchanged(t, d.path, d.orig)
	} else if _, err := os.Lstat(d.path); err != nil {
		t.Fatalf("the damaged path is gone: %v", err)
	}
	if n := len(tempFiles(t, filepath.Dir(d.path))); n != 0 {
		t.Errorf("got %d temporary files left, want 0", n)
	}
}

// newDamaged saves a record for "acct" with key and applies damage to its
// file.
func newDamaged(t *testing.T, key FileKey, damage func(t *testing.T, path string)) damaged {
	t.Helper()
	f, err := NewFile(FileConfig{Dir: filepath.Join(t.TempDir(), "d"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, f, "acct", testToken(1, 100))
	path, _ := f.recordPath("acct")
	damage(t, path)
	orig, err := os.ReadFile(path)
	if err != nil {
		orig = nil
	}
	return damaged{f: f, path: path, orig: orig}
}

func TestFileInsecurePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes and owners are not checked on Windows")
	}
	_, key := rawKey(t)
	chmod := func(mode os.FileMode) func(*testing.T, string) {
		return func(t *testing.T, p string) {
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		damage  func(*testing.T, string)
		wantMsg string
	}{
		{"mode 0644", chmod(0o644), "chmod 600"},
		{"mode 0640", chmod(0o640), "chmod 600"},
		{"mode 0602", chmod(0o602), "chmod 600"},
		{"symlink", func(t *testing.T, p string) {
			target := p + ".real"
			if err := os.Rename(p, target); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		}, "symlink"},
		{"foreign owner", func(t *testing.T, p string) {
			if os.Geteuid() != 0 {
				t.Skip("chown to another user needs root")
			}
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 65534"},
		{"directory", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDamaged(t, key, tt.damage)
			d.check(t, ErrInsecurePermissions, tt.wantMsg)
		})
	}
}

func TestFileInsecureDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes and owners are not checked on Windows")
	}
	_, key := rawKey(t)
	tests := []struct {
		name  string
		mode  os.FileMode
		owner int // -1: ours
	}{
		{"0755", 0o755, -1},
		{"0777", 0o777, -1},
		{"0750", 0o750, -1},
		{"foreign owner", 0o700, 65534},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.mode); err != nil {
				t.Fatal(err)
			}
			if tt.owner >= 0 {
				if os.Geteuid() != 0 {
					t.Skip("chown to another user needs root")
				}
				if err := os.Chown(dir, tt.owner, tt.owner); err != nil {
					t.Fatal(err)
				}
			}
			_, err := NewFile(FileConfig{Dir: dir, Key: key})
			if !errors.Is(err, ErrInsecurePermissions) {
				t.Fatalf("NewFile: got %v, want ErrInsecurePermissions", err)
			}
			if tt.owner < 0 && !strings.Contains(err.Error(), "chmod 700 "+dir) {
				t.Errorf("got %q, want it to name the fix %q", err, "chmod 700 "+dir)
			}
		})
	}
}

// region is a byte range of a record file.
type region struct {
	name       string
	start, end int
}

// fileRegions lists the regions of a record file of size bytes.
func fileRegions(kdf kdfKind, size int) []region {
	h := headerLen(kdf)
	r := []region{
		{"magic", 0, 8}, {"header length", 8, 10}, {"checksum", 10, 14}, {"version", 14, 15},
		{"kdf", 15, 16}, {"key id", 16, 24}, {"account digest", 24, 32},
		{"nonce", h - nonceLen, h}, {"ciphertext", h, size - tagLen}, {"tag", size - tagLen, size},
	}
	if kdf == kdfArgon2id {
		r = append(r, region{"argon2 parameters", fixedHeaderLen, fixedHeaderLen + argonParamsLen})
	}
	return r
}

func TestFileCorrupt(t *testing.T) {
	_, raw := rawKey(t)
	for _, kc := range []struct {
		name string
		key  FileKey
	}{{"raw key", raw}, {"passphrase", passKey(t, testPassphrase)}} {
		probe := newDamaged(t, kc.key, func(*testing.T, string) {})
		for _, r := range fileRegions(kc.key.k.kind, len(probe.orig)) {
			for _, at := range []int{r.start, (r.start + r.end - 1) / 2, r.end - 1} {
				name := fmt.Sprintf("%s/%s/byte %d", kc.name, r.name, at)
				t.Run(name, func(t *testing.T) {
					d := newDamaged(t, kc.key, func(t *testing.T, p string) {
						b := readFile(t, p)
						b[at] ^= 0x20
						if err := os.WriteFile(p, b, 0o600); err != nil {
							t.Fatal(err)
						}
					})
					d.check(t, ErrCorrupt, "")
				})
			}
		}
	}
}

func TestFileTruncated(t *testing.T) {
	_, key := rawKey(t)
	d := newDamaged(t, key, func(*testing.T, string) {})
	full := d.orig
	for n := range len(full) {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if err := os.WriteFile(d.path, full[:n], 0o600); err != nil {
				t.Fatal(err)
			}
			d.orig = full[:n]
			d.check(t, ErrCorrupt, "")
		})
	}
}

func TestFileWrongKey(t *testing.T) {
	_, raw1 := rawKey(t)
	_, raw2 := rawKey(t)
	tests := []struct {
		name         string
		write, read  FileKey
		wantInErrMsg string
	}{
		{"other raw key", raw1, raw2, "key id"},
		{"other passphrase", passKey(t, testPassphrase), passKey(t, "another passphrase"), "another passphrase"},
		{"passphrase file, raw key", passKey(t, testPassphrase), raw1, "with a passphrase"},
		{"raw file, passphrase", raw1, passKey(t, testPassphrase), "with a key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDamaged(t, tt.write, func(*testing.T, string) {})
			other, err := NewFile(FileConfig{Dir: filepath.Dir(d.path), Key: tt.read})
			if err != nil {
				t.Fatal(err)
			}
			d.f = other
			d.check(t, ErrWrongKey, tt.wantInErrMsg)
		})
	}
}

// rewriteHeader edits the header of the record file at path and fixes its
// checksum, as an attacker or a newer version would.
func rewriteHeader(t *testing.T, path string, edit func(b []byte)) {
	t.Helper()
	b := readFile(t, path)
	edit(b)
	n := binary.BigEndian.Uint16(b[8:10])
	binary.BigEndian.PutUint32(b[10:14], headerCRC(b[:n]))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFileUnsupportedVersion(t *testing.T) {
	_, key := rawKey(t)
	d := newDamaged(t, key, func(t *testing.T, p string) {
		rewriteHeader(t, p, func(b []byte) { b[14] = 2 })
	})
	d.check(t, ErrUnsupportedVersion, "version 2")
}

func TestFileSwapped(t *testing.T) {
	_, key := rawKey(t)
	ctx := context.Background()
	tests := []struct {
		name string
		edit func(t *testing.T, p string)
	}{
		{"copied", func(*testing.T, string) {}},
		{"copied with a forged account digest", func(t *testing.T, p string) {
			rewriteHeader(t, p, func(b []byte) { d := accountDigest("acct"); copy(b[24:32], d[:]) })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDamaged(t, key, func(t *testing.T, p string) {})
			mustSave(t, d.f, "other", testToken(5, 0))
			other, _ := d.f.recordPath("other")
			b := readFile(t, other)
			if err := os.WriteFile(d.path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			tt.edit(t, d.path)
			d.orig = readFile(t, d.path)
			d.check(t, ErrCorrupt, "")
			if _, err := d.f.Load(ctx, "other"); err != nil {
				t.Fatalf("the other account's own file: %v", err)
			}
		})
	}
}

func TestFileWriteFailure(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		write func(*os.File, []byte) (int, error)
		want  error
	}{
		{"ENOSPC half way", func(f *os.File, b []byte) (int, error) {
			n, _ := f.Write(b[:len(b)/2])
			return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}, syscall.ENOSPC},
		{"short write", func(f *os.File, b []byte) (int, error) { return f.Write(b[:10]) }, nil},
		{"EIO", func(*os.File, []byte) (int, error) { return 0, syscall.EIO }, syscall.EIO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, dir := newTestFile(t)
			want := testToken(1, 800)
			mustSave(t, f, "acct", want)
			path, _ := f.recordPath("acct")
			orig := readFile(t, path)
			f.write = tt.write
			err := f.Save(ctx, "acct", testToken(2, 800))
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Save: got %v, want %v", err, tt.want)
			}
			noSecret(t, err)
			unchanged(t, path, orig)
			if n := len(tempFiles(t, dir)); n != 0 {
				t.Errorf("got %d temporary files left, want 0", n)
			}
			f.write = writeFile
			got, err := f.Load(ctx, "acct")
			if err != nil {
				t.Fatal(err)
			}
			checkToken(t, got, want)
			mustSave(t, f, "acct", testToken(3, 800))
		})
	}
}

func TestFileTempCleanup(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("temporary files are removed by age on Windows")
	}
	f, dir := newTestFile(t)
	mustSave(t, f, "acct", testToken(1, 0))
	path, _ := f.recordPath("acct")
	stale := path + tempMarker + "0000000000000001"
	if err := os.WriteFile(stale, []byte("half a record"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, name, err := createTemp(path) // a live writer's file, locked
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := NewFile(FileConfig{Dir: dir, Key: FileKey{f.codec.(*fileKey)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file: got %v, want it removed", err)
	}
	if _, err := os.Stat(name); err != nil {
		t.Errorf("a live writer's temporary file was removed: %v", err)
	}
	if _, err := f.Load(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
}
