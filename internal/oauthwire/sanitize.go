package oauthwire

import (
	"encoding/base64"
	"net/url"
	"strconv"
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

// BasicCredentials returns the credentials of HTTP Basic client
// authentication as the Authorization header carries them (RFC 6749
// §2.3.1: id and secret form-encoded, joined by a colon, base64), so that
// they can be scrubbed from what a server echoes. "" without a secret.
func BasicCredentials(id, secret string) string {
	if secret == "" {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

// ScrubError returns err, or, when its text holds one of the secrets, an
// error with the secrets removed from its text and err as its Unwrap, so
// errors.Is and errors.As still see the whole chain.
func ScrubError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := Scrub(msg, secrets...); clean != msg {
		return &scrubbedError{msg: clean, err: err}
	}
	return err
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// ErrorString is how the SDK's endpoint errors read: "what: code:
// description: cause (HTTP status)", leaving out the parts that are empty.
func ErrorString(what, code, description string, cause error, status int) string {
	var b strings.Builder
	b.WriteString(what)
	if code != "" {
		b.WriteString(": " + code)
		if description != "" {
			b.WriteString(": " + description)
		}
	}
	if cause != nil {
		b.WriteString(": " + cause.Error())
	}
	if status != 0 {
		b.WriteString(" (HTTP " + strconv.Itoa(status) + ")")
	}
	return b.String()
}
