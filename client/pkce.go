package client

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// secretBytes is the entropy of every state, nonce and PKCE verifier: 256
// bits, base64url-encoded to 43 characters (RFC 7636 §4.1 allows 43-128).
const secretBytes = 32

// randomString returns secretBytes random bytes from crypto/rand,
// base64url-encoded without padding.
func randomString() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("client: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// s256Challenge returns the PKCE code challenge of verifier with the S256
// method (RFC 7636 §4.2): BASE64URL(SHA256(ASCII(verifier))). The plain
// method is never used.
func s256Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// secrets are the values of one authorization request that only the
// client may know.
type secrets struct {
	state, nonce, verifier string
}

// newSecrets returns a fresh state, nonce and PKCE verifier.
func newSecrets() (secrets, error) {
	var s secrets
	for _, p := range []*string{&s.state, &s.nonce, &s.verifier} {
		v, err := randomString()
		if err != nil {
			return secrets{}, err
		}
		*p = v
	}
	return s, nil
}
