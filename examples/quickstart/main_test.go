package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // the in-process provider's request log
	os.Exit(m.Run())
}

// TestQuickstart runs the whole quickstart against the in-process
// provider, as `go run ./examples/quickstart` does, and checks that its
// narration shows each promised step.
func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("run: exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	out := stdout.String()
	t.Logf("output:\n%s", out)
	if stderr.Len() != 0 {
		t.Errorf("stderr: got %q, want nothing", &stderr)
	}
	for _, want := range []string{
		"✓ logged in as test-user",
		"GET http://127.0.0.1:",                 // the API call
		"↻ refreshed, ",                         // a background refresh, before expiry
		"↻ rotated: a new refresh token, saved", // rotation, persisted
		"no login needed",                       // the second client reused the stored tokens
		"has seen 1 login",                      // and the provider saw no second login
		"tokens revoked at the provider",        // logout
		"refuses the old refresh token",         // revocation took effect
		"tokensource.ErrLoginRequired (logged out)",
		"quickstart OK: 1 login,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	m := regexp.MustCompile(`refresh token (#[0-9a-f]{6}) → (#[0-9a-f]{6}): rotated`).FindStringSubmatch(out)
	if m == nil || m[1] == m[2] {
		t.Errorf("output does not show a rotated refresh token: %v", m)
	}
	if n := strings.Count(out, "GET http://"); n != 3 {
		t.Errorf("got %d API calls, want 3", n)
	}
	// Tokens are shown only as fingerprints: no JWT (the ID token is one)
	// and no long opaque string reaches the output.
	if strings.Contains(out, "eyJ") {
		t.Error("output contains what looks like a JWT")
	}
	noPaths := regexp.MustCompile(`\S*tokenkeeper-quickstart-\S*`).ReplaceAllString(out, "DIR")
	if long := regexp.MustCompile(`[A-Za-z0-9_\-]{32,}`).FindString(noPaths); long != "" {
		t.Errorf("output contains a long token-like string %q", long)
	}
}

func TestQuickstartUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"issuer without client", []string{"-issuer", "https://example.com"}, 2, "-issuer and -client-id go together"},
		{"client without issuer", []string{"-client-id", "x"}, 2, "-issuer and -client-id go together"},
		{"bad auth params", []string{"-auth-params", "prompt"}, 2, `"prompt" is not key=value`},
		{"stray argument", []string{"now"}, 2, `unexpected argument "now"`},
		{"help", []string{"-h"}, 0, "-issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit code: got %d, want %d", code, tc.code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr: got %q, want it to contain %q", &stderr, tc.want)
			}
		})
	}
}

func TestParseParams(t *testing.T) {
	got, err := parseParams(" prompt=consent, access_type=offline,,audience=https://api.example.com ")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"prompt": "consent", "access_type": "offline", "audience": "https://api.example.com"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}
