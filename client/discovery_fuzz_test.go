package client

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSameOriginRedirect: the redirect rule of discovery and JWKS
// requests, one rule at a time (scheme, host, port, count).
func TestSameOriginRedirect(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"https://op.example/a", "https://op.example/b", true},
		{"https://op.example/a", "https://OP.example/b", true},
		{"https://op.example/a", "http://op.example/b", false},
		{"http://127.0.0.1:80/a", "https://127.0.0.1:80/b", false},
		{"https://op.example/a", "https://evil.example/b", false},
		{"https://op.example/a", "https://op.example:8443/b", false},
		{"https://op.example/a", "https://op.example.evil.example/b", false},
	} {
		from, _ := url.Parse(tc.from)
		to, _ := url.Parse(tc.to)
		err := sameOriginRedirect(nil)(&http.Request{URL: to}, []*http.Request{{URL: from}})
		if (err == nil) != tc.ok {
			t.Errorf("%s -> %s: got %v, want allowed %t", tc.from, tc.to, err, tc.ok)
		}
	}
	from, _ := url.Parse("https://op.example/")
	via := make([]*http.Request, 10)
	for i := range via {
		via[i] = &http.Request{URL: from}
	}
	if sameOriginRedirect(nil)(&http.Request{URL: from}, via) == nil {
		t.Error("the 11th redirect was allowed")
	}
}

// FuzzDiscovery feeds arbitrary documents to the discovery parser. It
// must never panic; a document it accepts has exactly the expected issuer,
// a token endpoint and a jwks_uri, and only https (or loopback http)
// endpoints; its errors hold no control or markup characters.
func FuzzDiscovery(f *testing.F) {
	const iss = "https://op.example"
	good := map[string]any{
		"issuer": iss, "authorization_endpoint": iss + "/auth", "token_endpoint": iss + "/token",
		"jwks_uri": iss + "/keys", "userinfo_endpoint": iss + "/userinfo", "revocation_endpoint": iss + "/revoke",
		"device_authorization_endpoint": iss + "/device", "code_challenge_methods_supported": []string{"S256"},
		"authorization_response_iss_parameter_supported": true,
	}
	seed := func(edit func(m map[string]any)) {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		edit(m)
		b, _ := json.Marshal(m)
		f.Add(b)
	}
	seed(func(map[string]any) {})
	seed(func(m map[string]any) { m["issuer"] = iss + "/" })
	seed(func(m map[string]any) { m["issuer"] = "https://evil.example\u202e\x1b[31m<x>" })
	seed(func(m map[string]any) { m["token_endpoint"] = "http://op.example/token" })
	seed(func(m map[string]any) { m["jwks_uri"] = "javascript:alert(1)" })
	seed(func(m map[string]any) { delete(m, "jwks_uri") })
	seed(func(m map[string]any) { delete(m, "token_endpoint") })
	seed(func(m map[string]any) { m["token_endpoint"] = "http://127.0.0.1:8080/token" })
	seed(func(m map[string]any) { m["code_challenge_methods_supported"] = "S256" })
	f.Add([]byte(`{"issuer":"https://op.example","issuer":"https://evil.example"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, body []byte) {
		doc, err := parseDiscovery(body, iss)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "<>\r\n\x1b\u202e") || !utf8.ValidString(msg) && utf8.Valid(body) {
				t.Fatalf("error holds control or markup characters: %q", msg)
			}
			return
		}
		if doc.Issuer != iss || doc.Token == "" || doc.JWKS == "" {
			t.Fatalf("accepted %q: issuer %q, token %q, jwks %q", body, doc.Issuer, doc.Token, doc.JWKS)
		}
		for _, e := range []string{doc.Auth, doc.Token, doc.DeviceAuth, doc.Revocation, doc.UserInfo, doc.JWKS} {
			if e == "" {
				continue
			}
			u, err := url.Parse(e)
			if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
				t.Fatalf("accepted endpoint %q", e)
			}
		}
	})
}
