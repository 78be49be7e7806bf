package oauthwire

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// sanitize makes text from a server safe to put in an error string or a
// log line: it drops control and invisible formatting characters (which
// could forge log lines or reorder text), drops markup characters, folds
// runs of white space and caps the result at max runes.
func sanitize(s string, max int) string {
	var b strings.Builder
	n := 0
	space := false
	for _, r := range s {
		switch {
		case r == utf8.RuneError, r == '<', r == '>':
			continue
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			continue
		}
		if n >= max {
			b.WriteString("…")
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// Sanitize is sanitize for other packages: it returns s without control,
// formatting and markup characters, capped at max runes.
func Sanitize(s string, max int) string { return sanitize(s, max) }

// Scrub returns s with every occurrence of each non-empty secret replaced
// by "[REDACTED]", for servers that echo what they were sent.
func Scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}
