package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// fakeKeyring is an in-memory keyringBackend for the Keyring's own logic.
// (go-keyring's MockInit replaces a package-level provider for the whole
// test binary, for good: the real Secret Service tests in the same run
// would then silently test the mock. Its map is also unguarded, which the
// race detector rejects under concurrent use.)
type fakeKeyring struct {
	mu      sync.Mutex
	entries map[string]string // guarded by mu; service+"\x00"+user → value
	err     error             // guarded by mu; returned by every call if set
	hang    chan struct{}     // if set, every call waits for it to be closed
	maxLen  int               // if set, Set of more bytes fails like macOS and Windows
	garble  bool              // guarded by mu; Get returns a changed value
	sets    int               // guarded by mu
	written []string          // guarded by mu; every value Set
}

// keysWritten returns the distinct file keys that were written.
func (f *fakeKeyring) keysWritten() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make(map[string]bool)
	for _, v := range f.written {
		if e, err := parseKeyringValue(v); err == nil {
			keys[string(e.fk.raw)] = true
		}
	}
	return keys
}

func (f *fakeKeyring) call() error {
	if f.hang != nil {
		<-f.hang
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeKeyring) Get(service, user string) (string, error) {
	if err := f.call(); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.entries[service+"\x00"+user]
	if !ok {
		return "", keyring.ErrNotFound
	}
	if f.garble {
		v += "x"
	}
	return v, nil
}

func (f *fakeKeyring) Set(service, user, password string) error {
	if err := f.call(); err != nil {
		return err
	}
	if f.maxLen > 0 && len(service)+len(user)+len(password) > f.maxLen {
		return keyring.ErrSetDataTooBig
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.entries == nil {
		f.entries = make(map[string]string)
	}
	f.entries[service+"\x00"+user] = password
	f.sets++
	f.written = append(f.written, password)
	return nil
}

func (f *fakeKeyring) Delete(service, user string) error {
	if err := f.call(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.entries[service+"\x00"+user]; !ok {
		return keyring.ErrNotFound
	}
	delete(f.entries, service+"\x00"+user)
	return nil
}

func (f *fakeKeyring) set(fn func(f *fakeKeyring)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func newFakeKeyring(t *testing.T, fake *fakeKeyring, dir string) *Keyring {
	t.Helper()
	k, err := newKeyring(KeyringConfig{Service: "tokenkeeper-test", Dir: dir, Timeout: time.Second}, fake)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyringBigRecord(t *testing.T) {
	fake := &fakeKeyring{maxLen: 2560} // Windows' limit
	dir := t.TempDir() + "/d"
	k := newFakeKeyring(t, fake, dir)
	ctx := context.Background()
	for v := range uint64(3) {
		want := testToken(v, 16<<10) // a 16 KiB ID token
		mustSave(t, k, "user@example.com", want)
		got, err := k.Load(ctx, "user@example.com")
		if err != nil {
			t.Fatal(err)
		}
		checkToken(t, got, want)
	}
	if fake.sets != 3 {
		t.Errorf("got %d keyring writes for 3 saves, want 3 (the key, then the version of saves 1 and 2)", fake.sets)
	}
	if n := len(fake.keysWritten()); n != 1 {
		t.Errorf("got %d keys written, want 1", n)
	}
	for _, v := range fake.entries {
		if len(v) > 100 || strings.Contains(v, "secret-") {
			t.Errorf("the keyring entry is %d bytes, want a key of < 100 bytes and no token", len(v))
		}
	}
	// Another process (no cache) reads the same record.
	got, err := newFakeKeyring(t, fake, dir).Load(ctx, "user@example.com")
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, got, testToken(2, 16<<10))
	if err := k.Delete(ctx, "user@example.com"); err != nil {
		t.Fatal(err)
	}
	if len(fake.entries) != 0 {
		t.Errorf("Delete left %d keyring entries, want 0", len(fake.entries))
	}
	if _, err := k.Load(ctx, "user@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after Delete: got %v, want ErrNotFound", err)
	}
	if err := k.Delete(ctx, "user@example.com"); err != nil {
		t.Errorf("Delete of an absent key: got %v, want nil", err)
	}
}

func TestKeyringErrors(t *testing.T) {
	tests := []struct {
		name string
		fake *fakeKeyring
		ctx  func() context.Context
		want error
	}{
		{"too big", &fakeKeyring{maxLen: 10}, nil, ErrKeyringTooBig},
		{"unsupported platform", &fakeKeyring{err: keyring.ErrUnsupportedPlatform}, nil, ErrKeyringUnavailable},
		{"unavailable from classifyOS", &fakeKeyring{err: fmt.Errorf("%w: no bus", ErrKeyringUnavailable)}, nil, ErrKeyringUnavailable},
		{"locked from classifyOS", &fakeKeyring{err: fmt.Errorf("%w: dismissed", ErrKeyringLocked)}, nil, ErrKeyringLocked},
		{"hangs", &fakeKeyring{hang: make(chan struct{})}, nil, ErrKeyringTimeout},
		{"caller cancels", &fakeKeyring{hang: make(chan struct{})}, func() context.Context {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fake.hang != nil {
				defer close(tt.fake.hang) // let the lingering goroutines end
			}
			k, err := newKeyring(KeyringConfig{Service: "svc", Dir: t.TempDir() + "/d", Timeout: 200 * time.Millisecond}, tt.fake)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			start := time.Now()
			err = k.Save(ctx, "acct", testToken(1, 0))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Save: got %v, want %v", err, tt.want)
			}
			if el := time.Since(start); el > time.Second {
				t.Errorf("Save took %v, want about the 200 ms timeout at most", el)
			}
			noSecret(t, err)
			if _, err := k.Load(ctx, "acct"); !errors.Is(err, tt.want) && !errors.Is(err, ErrNotFound) {
				t.Errorf("Load: got %v, want %v or ErrNotFound", err, tt.want)
			}
		})
	}
}

func TestKeyringReadBackMismatch(t *testing.T) {
	fake := &fakeKeyring{garble: true}
	k := newFakeKeyring(t, fake, t.TempDir()+"/d")
	err := k.Save(context.Background(), "acct", testToken(1, 0))
	if err == nil || !strings.Contains(err.Error(), "read back") {
		t.Fatalf("Save: got %v, want a read-back error", err)
	}
	noSecret(t, err)
	path, _ := k.files.recordPath("acct")
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record file: got %v, want none written", err)
	}
}

// TestKeyringKeyMissing: a record whose key is gone from the keyring is
// ErrWrongKey for Load and Save, never "not found", and never replaced.
func TestKeyringKeyMissing(t *testing.T) {
	fake := &fakeKeyring{}
	dir := t.TempDir() + "/d"
	mustSave(t, newFakeKeyring(t, fake, dir), "acct", testToken(1, 0))
	fake.set(func(f *fakeKeyring) { clear(f.entries) }) // the user reset the keyring
	k := newFakeKeyring(t, fake, dir)
	path, _ := k.files.recordPath("acct")
	orig := readFile(t, path)
	if _, err := k.Load(context.Background(), "acct"); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Load: got %v, want ErrWrongKey", err)
	}
	if err := k.Save(context.Background(), "acct", testToken(2, 0)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Save: got %v, want ErrWrongKey", err)
	}
	unchanged(t, path, orig)
	if err := k.Delete(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
	mustSave(t, k, "acct", testToken(3, 0))
}

// TestKeyringKeyReplaced: another process logged out and in again, so the
// key this process cached is stale; Load and Save read the keyring again.
func TestKeyringKeyReplaced(t *testing.T) {
	fake := &fakeKeyring{}
	dir := t.TempDir() + "/d"
	a, b := newFakeKeyring(t, fake, dir), newFakeKeyring(t, fake, dir)
	ctx := context.Background()
	mustSave(t, a, "acct", testToken(1, 0))
	if err := b.Delete(ctx, "acct"); err != nil {
		t.Fatal(err)
	}
	mustSave(t, b, "acct", testToken(2, 0))
	got, err := a.Load(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, got, testToken(2, 0))
	mustSave(t, a, "acct", testToken(3, 0))
	got, err = b.Load(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, got, testToken(3, 0))
}

// TestKeyringConcurrentFirstSave: processes saving an account's first
// record at once all end with one key.
func TestKeyringConcurrentFirstSave(t *testing.T) {
	fake := &fakeKeyring{}
	dir := t.TempDir() + "/d"
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		k := newFakeKeyring(t, fake, dir)
		wg.Go(func() {
			// Saves race: one older than the stored record is refused.
			if err := k.Save(context.Background(), "acct", testToken(uint64(i+1), 0)); err != nil && !errors.Is(err, ErrStale) {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(fake.keysWritten()); n != 1 {
		t.Errorf("got %d keys written, want 1", n)
	}
	if _, err := newFakeKeyring(t, fake, dir).Load(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
}

func TestKeyringEntryNotOurs(t *testing.T) {
	fake := &fakeKeyring{entries: map[string]string{"tokenkeeper-test\x00acct": "hunter2"}}
	k := newFakeKeyring(t, fake, t.TempDir()+"/d")
	_, err := k.Load(context.Background(), "acct")
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load: got %v, want ErrCorrupt", err)
	}
	noSecret(t, err, "hunter2")
}

func TestKeyringConfigValidate(t *testing.T) {
	tests := []struct {
		cfg KeyringConfig
		ok  bool
	}{
		{KeyringConfig{Service: "com.example.cli"}, true},
		{KeyringConfig{}, false},
		{KeyringConfig{Service: "a/b"}, false},
		{KeyringConfig{Service: ".."}, false},
		{KeyringConfig{Service: "x", Timeout: -1}, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.cfg.Service), func(t *testing.T) {
			if err := tt.cfg.validate(); (err == nil) != tt.ok {
				t.Fatalf("validate: got %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if runtime.GOOS == "linux" {
		t.Setenv("XDG_STATE_HOME", "/state")
		cfg := KeyringConfig{Service: "svc"}
		if dir, err := cfg.dir(); err != nil || dir != "/state/svc/tokens" {
			t.Errorf("default dir: got %q, %v, want /state/svc/tokens", dir, err)
		}
	}
}
