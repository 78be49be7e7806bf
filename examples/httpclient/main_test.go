package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRun runs the demonstration: the first run refreshes an expired access
// token through newHTTPClient's client, and the second run, given the same
// (now stale) oauth2.Token, uses the stored rotated refresh token instead:
// the fake provider, which revokes a token family when an old refresh
// token comes back, refuses nothing. After the provider revokes the grant,
// seeding the same token again is refused before any request.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	t.Logf("output:\n%s", &out)
	if n := strings.Count(out.String(), "GET /resource → 200 OK"); n != 3 {
		t.Errorf("got %d successful calls, want 3", n)
	}
	if !strings.Contains(out.String(), " 0 refused") {
		t.Error("a refresh token was refused")
	}
	if !strings.Contains(out.String(), "fourth run: refused before any request: true (0 token requests)") {
		t.Error("the revoked grant's token was seeded and sent again")
	}
}
