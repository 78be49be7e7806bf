package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
)

// narrator writes the narration; events arrive on the refreshing
// goroutine, so lines are serialised.
type narrator struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func newNarrator(w io.Writer) *narrator { return &narrator{w: w} }

// line writes one formatted line.
func (n *narrator) line(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fmt.Fprintf(n.w, format+"\n", args...)
}

// fp returns a short SHA-256 fingerprint of a secret: enough to see that a
// token changed, nothing that helps to guess it. Printing a prefix would
// not do: JWTs all start with the same header.
func fp(secret string) string {
	if secret == "" {
		return "(none)"
	}
	sum := sha256.Sum256([]byte(secret))
	return "#" + hex.EncodeToString(sum[:3])
}

// count formats n with the singular or plural noun.
func count(n int32, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
