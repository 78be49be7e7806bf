package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// noKeyring is the keyring of a machine that has none.
type noKeyring struct{}

var errNoKeyring = fmt.Errorf("%w: no D-Bus session bus", storage.ErrKeyringUnavailable)

func (noKeyring) Load(context.Context, string) (*storage.Token, error) { return nil, errNoKeyring }
func (noKeyring) Save(context.Context, string, *storage.Token) error   { return errNoKeyring }
func (noKeyring) Delete(context.Context, string) error                 { return errNoKeyring }

// TestKeyringFallback: without a keyring, the default store mode says so
// and keeps the tokens in the encrypted file; --store keyring refuses.
func TestKeyringFallback(t *testing.T) {
	op := startOP(t, oidctest.Options{})
	dir := t.TempDir()
	env := map[string]string{"TKCLI_ISSUER": op.Issuer(), "TKCLI_CLIENT_ID": op.NativeClient(), "TKCLI_DIR": dir}
	a := app{
		openBrowser: op.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword),
		newKeyring:  func(storage.KeyringConfig) (storage.Store, error) { return noKeyring{}, nil },
	}
	tkcli(t, a, env, "login").want(t, exitOK,
		"No OS keyring is available here, so tokens are kept in an encrypted file in "+filepath.Join(dir, "tokens")+".",
		"Tokens are stored in an encrypted file in "+filepath.Join(dir, "tokens")+" (key in "+filepath.Join(dir, "file.key")+")",
		"✓ Logged in")
	tkcli(t, a, env, "status").want(t, exitOK, "Stored in:      an encrypted file in", "(no OS keyring is available here)")
	if _, err := os.Stat(filepath.Join(dir, "file.key")); err != nil {
		t.Errorf("key file: %v", err)
	}
	env["TKCLI_STORE"] = "keyring"
	tkcli(t, a, env, "status").want(t, exitFailure, "tkcli: no OS keyring is available (storage: no OS keyring available: no D-Bus session bus): use --store auto or --store file")
}

// TestKeyring logs in with the tokens in the real OS keyring. It needs a
// keyring (on Linux a Secret Service: .ci/with-secret-service provides
// one) and skips without one, unless TOKENKEEPER_REQUIRE_KEYRING=1.
func TestKeyring(t *testing.T) {
	var rnd [6]byte
	rand.Read(rnd[:])
	service := "tkcli-test-" + hex.EncodeToString(rnd[:])
	dir := t.TempDir()
	probe, err := storage.NewKeyring(storage.KeyringConfig{Service: service, Dir: filepath.Join(dir, "probe"), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := probe.Load(context.Background(), "probe"); err != nil && !errors.Is(err, storage.ErrNotFound) {
		if os.Getenv("TOKENKEEPER_REQUIRE_KEYRING") == "1" {
			t.Fatalf("TOKENKEEPER_REQUIRE_KEYRING=1 but there is no usable OS keyring: %v", err)
		}
		t.Skipf("no usable OS keyring (%v); run with: .ci/with-secret-service go test ./examples/tkcli/", err)
	}

	op := startOP(t, oidctest.Options{})
	env := map[string]string{
		"TKCLI_ISSUER": op.Issuer(), "TKCLI_CLIENT_ID": op.NativeClient(), "TKCLI_DIR": dir,
		"TKCLI_STORE": "keyring", "TKCLI_KEYRING_SERVICE": service,
	}
	a := app{openBrowser: op.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)}
	tkcli(t, a, env, "login").want(t, exitOK, "Tokens are stored in the OS keyring (service \""+service+"\")")
	tkcli(t, a, env, "status").want(t, exitOK, "as test-user", "Stored in:      the OS keyring")
	tkcli(t, a, env, "get", op.Endpoints().Resource).want(t, exitOK, `"sub":"test-user"`)
	tkcli(t, a, env, "logout").want(t, exitOK, "✓ Logged out")
	tkcli(t, a, env, "token").want(t, exitLoginFirst, "you are not logged in")
	if _, err := os.Stat(filepath.Join(dir, "file.key")); !os.IsNotExist(err) {
		t.Errorf("a file store key was created although the keyring was used: %v", err)
	}
}
