package transport

import (
	"net/http"
	"net/url"
	"strings"
)

// maxRedirects bounds the walk back along a redirect chain; [http.Client]
// stops after 10 redirects.
const maxRedirects = 64

// authorize reports whether req may carry the token. A request that is not a
// redirect may. A redirect (req.Response set by [http.Client]) may only if
// its host is the original request's and it does not go from https to http.
// A chain that cannot be walked back to its start gets no token.
func authorize(req *http.Request) bool {
	orig := req
	for i := 0; orig.Response != nil; i++ {
		if orig.Response.Request == nil || i == maxRedirects {
			return false
		}
		orig = orig.Response.Request
	}
	if orig == req {
		return true
	}
	if orig.URL == nil || req.URL == nil {
		return false
	}
	if isHTTPS(orig.URL) && !isHTTPS(req.URL) {
		return false
	}
	return sameHost(orig.URL, req.URL)
}

func isHTTPS(u *url.URL) bool { return strings.EqualFold(u.Scheme, "https") }

// sameHost reports whether a and b name the same host and port, ignoring
// letter case and a port that is the default of the URL's scheme, so that
// https://example.com and https://EXAMPLE.com:443 are the same host.
func sameHost(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// port returns u's port, or "" when it is the default port of u's scheme.
func port(u *url.URL) string {
	p := u.Port()
	switch {
	case p == "443" && isHTTPS(u), p == "80" && strings.EqualFold(u.Scheme, "http"):
		return ""
	}
	return p
}
