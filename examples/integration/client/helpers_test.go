package client_test

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// startOP starts a real OpenID Provider that is closed when the test ends.
func startOP(t *testing.T, opts oidctest.Options) *oidctest.Provider {
	t.Helper()
	p, err := oidctest.Start(opts)
	if err != nil {
		t.Fatalf("oidctest.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("provider Close: %v", err)
		}
	})
	return p
}

// nativeConfig is the Config of the provider's native public client.
func nativeConfig(p *oidctest.Provider, store storage.Store) client.Config {
	return client.Config{
		Issuer:    p.Issuer(),
		ClientID:  p.NativeClient(),
		AuthStyle: oauth2.AuthStyleInParams,
		Scopes:    []string{"profile", "email"},
		Store:     store,
	}
}

// loginOptions drives the native login with the provider's headless
// browser as the default user.
func loginOptions(p *oidctest.Provider) client.LoginOptions {
	return client.LoginOptions{
		OpenBrowser: p.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword),
		Output:      io.Discard,
		Timeout:     20 * time.Second,
	}
}

// login runs a native login against p.
func login(t *testing.T, p *oidctest.Provider, a *client.Account) {
	t.Helper()
	if err := a.Login(t.Context(), loginOptions(p)); err != nil {
		t.Fatalf("Login: %v", err)
	}
}

// noLeaks fails the test, at its end, if a goroutine running code of
// package client (other than tests) is still alive after a grace period.
func noLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			leaked := clientGoroutines()
			if leaked == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines left behind:\n%s", leaked)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// clientGoroutines returns the stacks of goroutines that run package
// client's code or were started by it, except the tests' own.
func clientGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out bytes.Buffer
	for _, g := range strings.Split(string(buf), "\n\n") {
		// "tokenkeeper/client." matches the package's frames and goroutines
		// it started ("created by …/client.(*Account).Login"), not those of
		// package client_test; test goroutines (tRunner) are skipped.
		if strings.Contains(g, "tokenkeeper/client.") && !strings.Contains(g, "testing.tRunner") {
			out.WriteString(g + "\n\n")
		}
	}
	return out.String()
}

// ctxWithTimeout is t.Context() bounded by d.
func ctxWithTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
