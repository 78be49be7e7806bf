package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

var errNoKeyringHere = errors.Join(ErrKeyringUnavailable, errors.New("no D-Bus session bus"))

// nativeFake returns a NativeConfig in dir whose keyring is fake, or
// missing when fake is nil.
func nativeFake(dir string, fake *fakeKeyring) NativeConfig {
	return NativeConfig{
		Service: "tokenkeeper-test", Dir: dir, Timeout: time.Second,
		NewKeyring: func(kc KeyringConfig) (Store, error) {
			if fake == nil {
				fake = &fakeKeyring{err: errNoKeyringHere}
			}
			return newKeyring(kc, fake)
		},
	}
}

func mustNative(t *testing.T, cfg NativeConfig) *Native {
	t.Helper()
	n, err := NewNative(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// tree lists the paths under dir, relative to it.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestNativeChoice(t *testing.T) {
	ctx := context.Background()
	t.Run("keyring available", func(t *testing.T) {
		dir := t.TempDir()
		n := mustNative(t, nativeFake(dir, &fakeKeyring{}))
		if _, ok := n.chosen.(*Keyring); !ok {
			t.Fatalf("chosen: got %T, want *Keyring", n.chosen)
		}
		if !strings.HasPrefix(n.Where(), `the OS keyring (service "tokenkeeper-test")`) || n.Notice() != "" {
			t.Errorf("got Where %q, Notice %q; want the keyring and no notice", n.Where(), n.Notice())
		}
		mustSave(t, n, "acct", testToken(1, 10))
		got, err := n.Load(ctx, "acct")
		if err != nil {
			t.Fatal(err)
		}
		checkToken(t, got, testToken(1, 10))
		if _, err := os.Lstat(filepath.Join(dir, "file.key")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("file.key: got %v, want no key file with a keyring", err)
		}
	})
	t.Run("keyring unavailable", func(t *testing.T) {
		dir := t.TempDir()
		n := mustNative(t, nativeFake(dir, nil))
		if _, ok := n.chosen.(*File); !ok {
			t.Fatalf("chosen: got %T, want *File", n.chosen)
		}
		tokens := filepath.Join(dir, "tokens")
		wantWhere := "an encrypted file in " + tokens + " (key in " + filepath.Join(dir, "file.key") + ")"
		wantNotice := "No OS keyring is available here, so tokens are kept in an encrypted file in " + tokens + "."
		if n.Where() != wantWhere || n.Notice() != wantNotice {
			t.Errorf("got Where %q, Notice %q; want %q, %q", n.Where(), n.Notice(), wantWhere, wantNotice)
		}
		info, err := os.Stat(filepath.Join(dir, "file.key"))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("file.key: got %v, %v; want mode 0600", info, err)
		}
		if got, want := tree(t, dir), []string{".", "file.key", "tokens"}; !slices.Equal(got, want) {
			t.Errorf("files: got %q, want %q (no keyring directory left behind)", got, want)
		}
		mustSave(t, n, "acct", testToken(1, 10))
		if _, err := n.Load(ctx, "acct"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("keyring required", func(t *testing.T) {
		cfg := nativeFake(t.TempDir(), nil)
		cfg.Mode = NativeKeyring
		if _, err := NewNative(ctx, cfg); !errors.Is(err, ErrKeyringUnavailable) {
			t.Errorf("got %v, want ErrKeyringUnavailable", err)
		}
	})
	t.Run("file forced", func(t *testing.T) {
		cfg := nativeFake(t.TempDir(), &fakeKeyring{err: errors.New("the keyring must not be called")})
		cfg.Mode = NativeFile
		n := mustNative(t, cfg)
		if _, ok := n.chosen.(*File); !ok || n.Notice() != "" {
			t.Errorf("got %T, notice %q; want *File and no notice", n.chosen, n.Notice())
		}
		if _, err := n.Load(ctx, "acct"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Load: got %v, want ErrNotFound", err)
		}
	})
	t.Run("invalid config", func(t *testing.T) {
		for _, cfg := range []NativeConfig{{Dir: t.TempDir()}, {Service: "a/b", Dir: t.TempDir()}, {Service: "x", Dir: t.TempDir(), Mode: 7}} {
			if _, err := NewNative(ctx, cfg); err == nil {
				t.Errorf("NewNative(%+v): got nil error", cfg)
			}
		}
	})
}

// TestNativeMigration moves a record made without a keyring into the
// keyring once there is one, and back when the file store is forced.
func TestNativeMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fake := &fakeKeyring{}
	noKeyring := mustNative(t, nativeFake(dir, nil))
	want := testToken(7, 100)
	mustSave(t, noKeyring, "acct", want)

	withKeyring := mustNative(t, nativeFake(dir, fake))
	got, err := withKeyring.Load(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, got, want)
	if _, err := noKeyring.chosen.Load(ctx, "acct"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the file's copy after the move: got %v, want ErrNotFound", err)
	}
	if got, err := withKeyring.chosen.Load(ctx, "acct"); err != nil || got.Version != 7 {
		t.Errorf("the keyring's copy: got %v, %v; want Version 7", got, err)
	}

	cfg := nativeFake(dir, fake)
	cfg.Mode = NativeFile
	fileAgain := mustNative(t, cfg)
	got, err = fileAgain.Load(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, got, want)
	if _, err := withKeyring.chosen.Load(ctx, "acct"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the keyring's copy after the move back: got %v, want ErrNotFound", err)
	}
	fake.mu.Lock()
	left := len(fake.entries)
	fake.mu.Unlock()
	if left != 0 {
		t.Errorf("keyring entries after the move back: got %d, want 0", left)
	}
	if _, err := fileAgain.Load(ctx, "other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load of an absent key: got %v, want ErrNotFound", err)
	}
}

// TestNativeProbeCreatesNothing: a Load of an absent key with a keyring
// creates no file-store directory or key file, and a forced file store
// creates no keyring directory.
func TestNativeProbeCreatesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n := mustNative(t, nativeFake(dir, &fakeKeyring{}))
	if _, err := n.Load(ctx, "acct"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	if got, want := tree(t, dir), []string{".", "keyring"}; !slices.Equal(got, want) {
		t.Errorf("files with a keyring: got %q, want %q", got, want)
	}

	dir = t.TempDir()
	cfg := nativeFake(dir, &fakeKeyring{})
	cfg.Mode = NativeFile
	n = mustNative(t, cfg)
	if _, err := n.Load(ctx, "acct"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	if got, want := tree(t, dir), []string{".", "file.key", "tokens"}; !slices.Equal(got, want) {
		t.Errorf("files with the file store: got %q, want %q", got, want)
	}
}

// TestNativeCorruptOther: a record in the other store that cannot be read
// is an error, never "not found", and is left in place.
func TestNativeCorruptOther(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mustSave(t, mustNative(t, nativeFake(dir, nil)), "acct", testToken(3, 10))
	rec := filepath.Join(dir, "tokens", fileBase("acct")+".tk")
	if err := os.WriteFile(rec, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := mustNative(t, nativeFake(dir, &fakeKeyring{}))
	if _, err := n.Load(ctx, "acct"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want an error other than ErrNotFound", err)
	}
	if _, err := os.Lstat(rec); err != nil {
		t.Errorf("the corrupt record: %v, want it left in place", err)
	}

	// The key file gone: the record cannot be read either.
	if err := os.Remove(filepath.Join(dir, "file.key")); err != nil {
		t.Fatal(err)
	}
	n = mustNative(t, nativeFake(dir, &fakeKeyring{}))
	if _, err := n.Load(ctx, "acct"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("without the key file: got %v, want an error other than ErrNotFound", err)
	}
}

// TestNativeReal chooses the real OS keyring and moves a file record into
// it. It skips without a usable keyring unless TOKENKEEPER_REQUIRE_KEYRING=1.
func TestNativeReal(t *testing.T) {
	realKeyring(t) // skips without a usable keyring
	ctx := context.Background()
	var rnd [6]byte
	rand.Read(rnd[:])
	service := "tokenkeeper-test-" + hex.EncodeToString(rnd[:])
	t.Cleanup(func() { keyring.DeleteAll(service) })
	dir := t.TempDir()
	cfg := NativeConfig{Service: service, Dir: dir, Mode: NativeFile, Timeout: 5 * time.Second}
	mustSave(t, mustNative(t, cfg), "acct", testToken(4, 10))
	cfg.Mode = NativeAuto
	n := mustNative(t, cfg)
	if _, ok := n.chosen.(*Keyring); !ok || n.Notice() != "" {
		t.Fatalf("got %T, notice %q; want the keyring", n.chosen, n.Notice())
	}
	got, err := n.Load(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, got, testToken(4, 10))
	if _, err := keyring.Get(service, "acct"); err != nil {
		t.Errorf("the keyring entry: %v", err)
	}
	if err := n.Delete(ctx, "acct"); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.Get(service, "acct"); !errors.Is(err, keyring.ErrNotFound) {
		t.Errorf("the keyring entry after Delete: got %v, want not found", err)
	}
}
