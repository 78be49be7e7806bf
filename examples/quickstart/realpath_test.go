package main

import (
	"bytes"
	"context"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

// lockedBuffer is stdout, read by the test while run writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestQuickstartWithIssuer runs the -issuer path, the one for a real
// provider, against a provider started apart: the system browser is asked
// to open the URL and, as there is none here, the user opens the printed
// URL by hand (a headless browser plays that user). The provider's access
// tokens live 5 minutes, longer than -max-wait, so the refresh is made at
// once instead of waited for.
func TestQuickstartWithIssuer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("hides the system browser through PATH, which only works where it is looked up there")
	}
	t.Setenv("PATH", t.TempDir()) // no xdg-open, x-www-browser, …: the URL must be opened by hand
	op, err := oidctest.Start(oidctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-issuer", op.Issuer(), "-client-id", op.NativeClient(), "-max-wait", "1m"}, &stdout, &stderr)
	}()
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no login URL printed:\n%s", stdout.String())
		}
		if m := regexp.MustCompile(`(?m)^    (http://\S+)$`).FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
		}
	}
	if err := op.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)(ctx, url); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("output:\n%s", out)
	for _, want := range []string{
		"tokenkeeper quickstart against " + op.Issuer(),
		"your browser opens the authorization URL",
		"Could not open a browser (", // the reason follows
		"Please open this URL by hand:",
		"✓ logged in as test-user",
		"GET " + op.Endpoints().Userinfo + " → 200 OK (the API sees sub test-user)",
		"rather than wait, refresh it now",
		"↻ rotated",
		"no login needed",
		"refuses the old refresh token",
		"quickstart OK",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if got := op.TokenRequests("authorization_code"); got != 1 {
		t.Errorf("logins: got %d, want 1", got)
	}
}
