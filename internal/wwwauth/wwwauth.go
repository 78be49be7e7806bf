package wwwauth

import "strings"

// Challenge is one authentication challenge of a WWW-Authenticate header.
//
// A challenge carries either a token68 or auth-params, never both. Values are
// never modified after [Parse] returns them.
type Challenge struct {
	// Scheme is the auth-scheme as sent. Schemes are case-insensitive:
	// compare with [strings.EqualFold].
	Scheme string
	// Token68 is the token68 form of the challenge (e.g. "Negotiate abc=="),
	// or "" when the challenge has none.
	Token68 string
	// Params maps each auth-param name, in lower case, to its value with
	// quotes and escapes removed. It is nil when the challenge has no params.
	Params map[string]string
}

// Param returns the value of the auth-param called name, or "" when absent.
// name must be in lower case.
func (c Challenge) Param(name string) string {
	return c.Params[name]
}

// Parse parses the WWW-Authenticate header values (one per header line, as
// [net/http.Header.Values] returns them) into challenges, in order.
//
// A value may hold several comma-separated challenges. Parsing of a value
// stops at the first malformed challenge, which is dropped with everything
// after it in that value; the challenges before it and those of the other
// values are kept. A challenge that repeats an auth-param name is malformed
// ([RFC 7235 §2.1]). Parse returns nil when nothing parsed.
//
// [RFC 7235 §2.1]: https://www.rfc-editor.org/rfc/rfc7235#section-2.1
func Parse(values []string) []Challenge {
	var out []Challenge
	for _, v := range values {
		out = parseValue(out, v)
	}
	return out
}

// parseValue appends the challenges of one header value to out.
func parseValue(out []Challenge, s string) []Challenge {
	p := parser{s: s}
	for {
		p.skipSeparators()
		if p.done() {
			return out
		}
		c, ok := p.challenge()
		if !ok {
			return out
		}
		out = append(out, c)
	}
}

// parser is a cursor over one header value.
type parser struct {
	s string
	i int
}

func (p *parser) done() bool { return p.i >= len(p.s) }

// peek returns the current byte, or 0 at the end.
func (p *parser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

// ows skips optional whitespace (SP and HTAB).
func (p *parser) ows() {
	for !p.done() && isSpace(p.s[p.i]) {
		p.i++
	}
}

// skipSeparators skips whitespace and commas, so that empty list elements
// are accepted as RFC 7230 §7 requires.
func (p *parser) skipSeparators() {
	for !p.done() && (isSpace(p.s[p.i]) || p.s[p.i] == ',') {
		p.i++
	}
}

// challenge parses `auth-scheme [ 1*SP ( token68 / #auth-param ) ]`,
// leaving the cursor after the challenge and its trailing separators.
func (p *parser) challenge() (Challenge, bool) {
	c := Challenge{Scheme: p.token()}
	if c.Scheme == "" {
		return Challenge{}, false
	}
	switch p.peek() {
	case 0, ',':
		return c, true
	case ' ', '\t':
		p.ows()
	default:
		return Challenge{}, false
	}
	if p.done() || p.peek() == ',' {
		return c, true
	}
	if t, ok := p.token68(); ok {
		c.Token68 = t
		return c, p.endOfToken68()
	}
	if !p.atParam() {
		return Challenge{}, false
	}
	return p.params(c)
}

// params parses the auth-param list of c. It stops before the next
// challenge, which starts with a token that is not followed by "=".
func (p *parser) params(c Challenge) (Challenge, bool) {
	c.Params = make(map[string]string, 4)
	for {
		name, value, ok := p.param()
		if !ok {
			return Challenge{}, false
		}
		if _, dup := c.Params[name]; dup {
			return Challenge{}, false
		}
		c.Params[name] = value
		p.ows()
		if p.done() {
			return c, true
		}
		if p.peek() != ',' {
			return Challenge{}, false
		}
		p.skipSeparators()
		if p.done() || !p.atParam() {
			return c, true
		}
	}
}

// atParam reports whether the cursor is at `token BWS "="`, without moving it.
func (p *parser) atParam() bool {
	start := p.i
	defer func() { p.i = start }()
	if p.token() == "" {
		return false
	}
	p.ows()
	return p.peek() == '='
}

// param parses `token BWS "=" BWS ( token / quoted-string )` and returns the
// name in lower case.
func (p *parser) param() (name, value string, ok bool) {
	name = p.token()
	p.ows()
	if name == "" || p.peek() != '=' {
		return "", "", false
	}
	p.i++
	p.ows()
	if p.peek() == '"' {
		value, ok = p.quoted()
	} else {
		value = p.token()
		ok = value != ""
	}
	return strings.ToLower(name), value, ok
}

// token parses `1*tchar` and returns "" when there is none.
func (p *parser) token() string {
	start := p.i
	for !p.done() && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// token68 parses `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
// when it is the whole rest of the challenge (followed by OWS and a comma or
// the end). Otherwise it leaves the cursor where it was and returns false.
func (p *parser) token68() (string, bool) {
	start := p.i
	for !p.done() && isToken68(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return "", false
	}
	for p.peek() == '=' {
		p.i++
	}
	end := p.i
	p.ows()
	if p.done() || p.peek() == ',' {
		return p.s[start:end], true
	}
	p.i = start
	return "", false
}

// endOfToken68 reports whether a token68 challenge ends cleanly: an
// auth-param after it means the challenge was malformed (a token68 cannot be
// followed by params, and "realm=, error=x" is a param with no value).
func (p *parser) endOfToken68() bool {
	p.skipSeparators()
	return p.done() || !p.atParam()
}

// quoted parses a quoted-string at the cursor and returns its unescaped
// content. Without escapes the result is a substring of the input.
func (p *parser) quoted() (string, bool) {
	p.i++ // opening DQUOTE
	start := p.i
	for !p.done() {
		switch c := p.s[p.i]; {
		case c == '"':
			p.i++
			return p.s[start : p.i-1], true
		case c == '\\':
			return p.unescape(start)
		case !isQdtext(c):
			return "", false
		}
		p.i++
	}
	return "", false
}

// unescape finishes a quoted-string that contains a quoted-pair; the content
// so far is p.s[start:p.i] and the cursor is at a backslash.
func (p *parser) unescape(start int) (string, bool) {
	var b strings.Builder
	b.Grow(len(p.s) - start)
	b.WriteString(p.s[start:p.i])
	for !p.done() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return b.String(), true
		case c == '\\':
			if p.done() || !isQuotable(p.s[p.i]) {
				return "", false
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case isQdtext(c):
			b.WriteByte(c)
		default:
			return "", false
		}
	}
	return "", false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isTchar reports whether c may appear in a token (RFC 7230 §3.2.6).
func isTchar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isToken68 reports whether c may appear in a token68 before its padding.
func isToken68(c byte) bool {
	return isAlnum(c) || strings.IndexByte("-._~+/", c) >= 0
}

// isQdtext reports whether c may appear unescaped in a quoted-string.
func isQdtext(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || 0x23 <= c && c <= 0x5B ||
		0x5D <= c && c <= 0x7E || c >= 0x80
}

// isQuotable reports whether c may follow a backslash in a quoted-pair.
func isQuotable(c byte) bool {
	return c == '\t' || c == ' ' || 0x21 <= c && c <= 0x7E || c >= 0x80
}
