package client

import (
	"testing"
)

// TestS256ChallengeRFC7636 is the example of RFC 7636 Appendix B.
func TestS256ChallengeRFC7636(t *testing.T) {
	const (
		verifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
		challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	)
	if got := s256Challenge(verifier); got != challenge {
		t.Fatalf("s256Challenge: got %q, want %q", got, challenge)
	}
}

func TestNewSecrets(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, err := newSecrets()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{s.state, s.nonce, s.verifier} {
			// RFC 7636 §4.1: 43-128 characters of [A-Z a-z 0-9 - . _ ~].
			if len(v) != 43 || seen[v] {
				t.Fatalf("secret %q: want 43 characters, never repeated", v)
			}
			for _, r := range v {
				if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
					t.Fatalf("secret %q has character %q", v, r)
				}
			}
			seen[v] = true
		}
	}
}
