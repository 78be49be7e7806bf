package client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// maxPasteLine caps a pasted line: an authorization response address is
// far shorter.
const maxPasteLine = 16 << 10

// readPasted reads r line by line (see LoginOptions.Paste) and sends each
// usable line as an authorization response query: an address's query, or
// a bare code with the login's state (the code is tied to the login by
// its PKCE verifier). Other lines are refused on out. The channel is nil
// when r is nil; the goroutine ends when r returns an error or EOF, or,
// after ctx is done, with the next line.
func readPasted(ctx context.Context, r io.Reader, state string, out io.Writer) <-chan url.Values {
	if r == nil {
		return nil
	}
	ch := make(chan url.Values)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 1024), maxPasteLine)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			q, ok := parsePasted(line, state)
			if !ok {
				fmt.Fprintf(out, "That is neither the address the browser ended on nor a code; please paste again.\n")
				continue
			}
			select {
			case ch <- q:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// parsePasted reads a pasted line: an address with an authorization
// response in its query (code, error or state), or a bare code (printable
// ASCII without spaces, as codes are), given the login's state.
func parsePasted(line, state string) (url.Values, bool) {
	if strings.Contains(line, "://") || strings.HasPrefix(line, "/") || strings.HasPrefix(line, "?") {
		raw := line
		if i := strings.IndexByte(raw, '?'); i >= 0 {
			raw = raw[i+1:]
		} else {
			return nil, false
		}
		raw, _, _ = strings.Cut(raw, "#")
		q, err := url.ParseQuery(raw)
		if err != nil || !q.Has("code") && !q.Has("error") {
			return nil, false
		}
		return q, true
	}
	for _, r := range line {
		if r <= ' ' || r > '~' {
			return nil, false
		}
	}
	return url.Values{"code": {line}, "state": {state}}, true
}
