package transport

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ErrInsecure matches, with errors.Is, the error RoundTrip returns instead of
// sending a token without TLS ([RFC 6750 §5.3]): to a URL whose scheme is
// not https, unless it is http to a loopback host (localhost, 127.0.0.0/8,
// ::1) or [Transport.AllowInsecureHTTP] is set. The error names the host,
// never the token or the rest of the URL.
//
// [RFC 6750 §5.3]: https://www.rfc-editor.org/rfc/rfc6750#section-5.3
var ErrInsecure = errors.New("transport: refusing to send the token without TLS to a non-loopback host")

// ErrHostNotAllowed matches, with errors.Is, the error RoundTrip returns
// instead of sending a token to a URL that neither [Transport.Hosts] lists
// nor [Transport.Allow] accepts, when either is set. The error names the
// host, never the token or the rest of the URL.
var ErrHostNotAllowed = errors.New("transport: refusing to send the token to a host not allowed to receive it")

// permit returns nil if a request to u may carry the token: it is sent over
// TLS, or to a loopback host over http, or AllowInsecureHTTP is set; and it
// goes to a host the allow-list accepts. It is pure: the same URL gets the
// same answer, so the check made before the first send also covers the
// replay after a rejection, which goes to the same URL.
func (t *Transport) permit(u *url.URL) error {
	if u == nil {
		return errors.New("transport: request has no URL")
	}
	if !isHTTPS(u) && !t.AllowInsecureHTTP && (!isHTTP(u) || !isLoopback(u.Hostname())) {
		return fmt.Errorf("%w: %q", ErrInsecure, strings.ToLower(u.Scheme)+"://"+u.Host)
	}
	if (len(t.Hosts) > 0 || t.Allow != nil) && !t.allowed(u) {
		return fmt.Errorf("%w: %q", ErrHostNotAllowed, u.Host)
	}
	return nil
}

// allowed reports whether Hosts lists u's host or Allow accepts u.
func (t *Transport) allowed(u *url.URL) bool {
	for _, h := range t.Hosts {
		if hostMatches(h, u) {
			return true
		}
	}
	if t.Allow == nil {
		return false
	}
	c := *u // Allow must not modify u, but if it does, the caller's URL is safe
	return t.Allow(&c)
}

// hostMatches reports whether entry, "host" or "host:port", names u's host:
// the host names are equal ignoring letter case, and the ports are equal
// where a missing port is the default of u's scheme (443 for https, 80 for
// http). So "api.example.com" matches https://API.example.com:443/x but not
// https://api.example.com:8443/x.
func hostMatches(entry string, u *url.URL) bool {
	e := url.URL{Host: entry}
	return strings.EqualFold(e.Hostname(), u.Hostname()) && effectivePort(e.Port(), u) == effectivePort(u.Port(), u)
}

// effectivePort returns p, or the default port of u's scheme when p is "".
func effectivePort(p string, u *url.URL) string {
	switch {
	case p != "":
		return p
	case isHTTPS(u):
		return "443"
	case isHTTP(u):
		return "80"
	}
	return ""
}

func isHTTP(u *url.URL) bool { return strings.EqualFold(u.Scheme, "http") }

// isLoopback reports whether host, as [net/url.URL.Hostname] returns it, is
// "localhost" (in any letter case) or a loopback IP address (127.0.0.0/8,
// ::1). It is the rule tokensource applies to its token endpoint.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
