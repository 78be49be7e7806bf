package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// Tests against the real OS keyring. On Linux they need a Secret Service
// on the D-Bus session bus; .ci/with-secret-service provides a throw-away
// one. Without it they skip, unless TOKENKEEPER_REQUIRE_KEYRING=1 (CI),
// when they fail.
const (
	requireKeyringEnv = "TOKENKEEPER_REQUIRE_KEYRING"
	keyringPassEnv    = "TOKENKEEPER_TEST_KEYRING_PASSWORD" // set by .ci/with-secret-service
	howToRunKeyring   = "run them with: .ci/with-secret-service go test ./storage/"
)

// skipOrFail skips the test with why, or fails it if the keyring tests are
// required.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv(requireKeyringEnv) == "1" {
		t.Fatalf("%s=1 but %s", requireKeyringEnv, why)
	}
	t.Skipf("%s; %s", why, howToRunKeyring)
}

// realKeyring returns a Keyring on the OS keyring under a fresh service
// name, or skips the test when there is no usable keyring.
func realKeyring(t *testing.T) *Keyring {
	t.Helper()
	if runtime.GOOS != "linux" && os.Getenv(requireKeyringEnv) != "1" {
		t.Skipf("not touching this machine's keyring; set %s=1 to run against it", requireKeyringEnv)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	service := "tokenkeeper-test-" + hex.EncodeToString(rnd[:])
	k, err := NewKeyring(KeyringConfig{Service: service, Dir: filepath.Join(t.TempDir(), "d"), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.call(context.Background(), "probe", "probe", func() (string, error) { return k.backend.Get(service, "probe") })
	if err != nil && !errors.Is(err, ErrNotFound) {
		skipOrFail(t, fmt.Sprintf("no usable OS keyring (%v)", err))
	}
	t.Cleanup(func() { keyring.DeleteAll(service) })
	return k
}

func TestKeyringRealRoundTrip(t *testing.T) {
	k := realKeyring(t)
	ctx := context.Background()
	const acct = "https://issuer.example.com|cli-client|user@example.com"
	if _, err := k.Load(ctx, acct); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of an absent key: got %v, want ErrNotFound", err)
	}
	for v := range uint64(3) {
		mustSave(t, k, acct, testToken(v, 16<<10))
	}
	other, err := NewKeyring(KeyringConfig{Service: k.service, Dir: k.files.dir})
	if err != nil {
		t.Fatal(err)
	}
	got, err := other.Load(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, got, testToken(2, 16<<10))
	entry, err := keyring.Get(k.service, acct)
	if err != nil {
		t.Fatalf("the keyring entry: %v", err)
	}
	if !strings.HasPrefix(entry, keyringValuePrefix) || len(entry) > 100 {
		t.Errorf("the keyring entry: got %d bytes, want a file key of < 100 bytes", len(entry))
	}
	if err := k.Delete(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.Get(k.service, acct); !errors.Is(err, keyring.ErrNotFound) {
		t.Errorf("the keyring entry after Delete: got %v, want not found", err)
	}
	if _, err := other.Load(ctx, acct); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after Delete: got %v, want ErrNotFound", err)
	}
	if err := k.Delete(ctx, acct); err != nil {
		t.Errorf("Delete of an absent key: got %v, want nil", err)
	}
}

// childKeyringGet loads an account from the real keyring with the timeout
// in childArgEnv and prints "result <kind> <elapsed>: <error>".
func childKeyringGet() error {
	timeout, err := time.ParseDuration(os.Getenv(childArgEnv))
	if err != nil {
		return err
	}
	k, err := NewKeyring(KeyringConfig{Service: "tokenkeeper-test", Dir: os.Getenv(childDirEnv), Timeout: timeout})
	if err != nil {
		return err
	}
	start := time.Now()
	_, err = k.Load(context.Background(), "acct")
	kind := "other"
	switch {
	case errors.Is(err, ErrKeyringUnavailable):
		kind = "unavailable"
	case errors.Is(err, ErrKeyringTimeout):
		kind = "timeout"
	case errors.Is(err, ErrKeyringLocked):
		kind = "locked"
	case errors.Is(err, ErrNotFound):
		kind = "notfound"
	}
	fmt.Printf("result %s %v: %v\n", kind, time.Since(start).Round(time.Millisecond), err)
	return nil
}

// TestKeyringRealOtherProcess runs, against the real keyring, another
// process's logout and new login while this one has the key cached, and a
// record directory restored from a backup.
func TestKeyringRealOtherProcess(t *testing.T) {
	a := realKeyring(t)
	ctx := context.Background()
	b, err := NewKeyring(KeyringConfig{Service: a.service, Dir: a.files.dir})
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, a, "acct", testToken(5, 0)) // a caches the key
	if err := b.Delete(ctx, "acct"); err != nil {
		t.Fatal(err)
	}
	mustSave(t, a, "acct", testToken(1, 0)) // sealed with a new key, not the cached one
	mustLoad(t, b, 1)
	path, _ := a.files.recordPath("acct")
	old := readFile(t, path)
	mustSave(t, b, "acct", testToken(2, 0))
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	fresh, err := NewKeyring(KeyringConfig{Service: a.service, Dir: a.files.dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Load(ctx, "acct"); !errors.Is(err, ErrRolledBack) {
		t.Fatalf("Load of a restored record in a new process: got %v, want ErrRolledBack", err)
	}
}
