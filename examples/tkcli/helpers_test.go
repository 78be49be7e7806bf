package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // the in-process provider's request log
	os.Exit(m.Run())
}

// startOP starts an in-process OpenID Provider for the test.
func startOP(t *testing.T, opts oidctest.Options) *oidctest.Provider {
	t.Helper()
	op, err := oidctest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	return op
}

// screen is a terminal the test reads while a command writes to it.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen matches re and returns the submatches.
func (s *screen) waitFor(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(s.String()); m != nil {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the screen never showed %s; it shows:\n%s", re, s.String())
	return nil
}

// result is what one command printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// tkcli runs one command in-process: each call starts from nothing but the
// environment and the files, as a new process would.
func tkcli(t *testing.T, a app, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr screen
	a.stdout, a.stderr = &stdout, &stderr
	a.getenv = func(k string) string { return env[k] }
	code := a.run(ctx, args)
	r := result{code, stdout.String(), stderr.String()}
	shown := r.stdout
	if len(args) > 0 && printsToken[args[0]] && code == 0 {
		shown = "(a token, not logged)\n"
	}
	t.Logf("tkcli %s → %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, shown, r.stderr)
	return r
}

// printsToken names the commands whose output holds a token.
var printsToken = map[string]bool{"token": true, "kubectl": true, "git-credential": true, "docker-credential": true}

// want checks a result's exit code and that its output has each string.
func (r result) want(t *testing.T, code int, in ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code: got %d, want %d", r.code, code)
	}
	for _, s := range in {
		if !strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("output lacks %q", s)
		}
	}
}

// apiStatus calls the provider's protected resource with access.
func apiStatus(t *testing.T, op *oidctest.Provider, access string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, op.Endpoints().Resource, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
