package transport

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// leakySource holds its token in an exported field and prints it from
// String: printed or marshalled as itself, it shows the token.
type leakySource struct{ Secret string }

func (s leakySource) Token() (*oauth2.Token, error) { return &oauth2.Token{AccessToken: s.Secret}, nil }
func (s leakySource) String() string                { return "leakySource(" + s.Secret + ")" }

// leakyPtrSource is a pointer source with its token in an exported field.
type leakyPtrSource struct{ T string }

func (s *leakyPtrSource) Token() (*oauth2.Token, error) { return &oauth2.Token{AccessToken: s.T}, nil }

// leakyBase is a Base that holds a credential in an exported field.
type leakyBase struct {
	APIKey string
	http.RoundTripper
}

// TestFormatHasNoSecret checks that no exported type of the package prints
// a secret: a Transport (value, pointer, nil pointer) whose Source and Base
// hold and print secrets, alone and nested in a struct, a slice and a map,
// and the errors RoundTrip returns for URLs that carry secrets, under every
// fmt verb and both slog handlers, print neither the secret nor its hex.
func TestFormatHasNoSecret(t *testing.T) {
	tr := Transport{
		Source:   leakySource{Secret: secret},
		Base:     leakyBase{APIKey: secret},
		Rejected: InvalidToken,
		Hosts:    []string{"api.example.com"},
		Allow:    func(*url.URL) bool { return true },
	}
	ptr := &Transport{Source: &leakyPtrSource{T: secret}, Base: okBase(t, nil)}
	if resp, err := ptr.RoundTrip(mustRequest(t, "https://api.example.com/")); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	insecure := refusal(t, &Transport{Source: ptr.Source}, "http://user:"+secret+"@api.example.com/p?access_token="+secret)
	notAllowed := refusal(t, &Transport{Source: ptr.Source, Hosts: []string{"api.example.com"}}, "https://evil.example/"+secret)
	type holder struct {
		T   Transport
		P   *Transport
		Err error
	}
	values := []struct {
		name string
		v    any
	}{
		{"Transport", tr},
		{"*Transport", &tr},
		{"*Transport after RoundTrip", ptr},
		{"nil *Transport", (*Transport)(nil)},
		{"struct", holder{T: tr, P: ptr, Err: insecure}},
		{"*struct", &holder{T: tr, P: ptr, Err: notAllowed}},
		{"[]Transport", []Transport{tr, *ptr}},
		{"[]*Transport", []*Transport{&tr, ptr, nil}},
		{"map[string]Transport", map[string]Transport{"a": tr}},
		{"map[string]*Transport", map[string]*Transport{"a": &tr, "b": ptr}},
		{"ErrInsecure", insecure},
		{"ErrHostNotAllowed", notAllowed},
		{"[]error", []error{insecure, notAllowed}},
	}
	hexLower, hexUpper := hex.EncodeToString([]byte(secret)), strings.ToUpper(hex.EncodeToString([]byte(secret)))
	leaks := func(s string) bool {
		return strings.Contains(s, secret) || strings.Contains(s, hexLower) || strings.Contains(s, hexUpper)
	}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			t.Run(v.name+" "+verb, func(t *testing.T) {
				if s := fmt.Sprintf(verb, v.v); leaks(s) {
					t.Errorf("got %s = %q, which contains the secret", verb, s)
				}
			})
		}
		for _, h := range []struct {
			name string
			new  func(*bytes.Buffer) slog.Handler
		}{
			{"slog text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
			{"slog JSON", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		} {
			t.Run(v.name+" "+h.name, func(t *testing.T) {
				var buf bytes.Buffer
				slog.New(h.new(&buf)).Info("msg", "value", v.v, slog.Group("g", "nested", v.v))
				if leaks(buf.String()) {
					t.Errorf("got log line %q, which contains the secret", buf.String())
				}
				if strings.Contains(buf.String(), "!ERROR") {
					t.Errorf("got log line %q, want the value described", buf.String())
				}
			})
		}
	}
}

// TestFormatDescribes checks what Format and MarshalJSON print instead:
// the same description for a value and a pointer, nil as <nil> and null.
func TestFormatDescribes(t *testing.T) {
	tr := Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: secret}), Hosts: []string{"api.example.com"}, AllowInsecureHTTP: true}
	const want = `transport.Transport{Source:oauth2.staticTokenSource Base:<nil> Rejected:false Hosts:["api.example.com"] Allow:false AllowInsecureHTTP:true}`
	for _, tc := range []struct {
		name, format string
		v            any
		want         string
	}{
		{"value %v", "%v", tr, want},
		{"pointer %+v", "%+v", &tr, want},
		{"value %#v", "%#v", tr, want},
		{"nil pointer", "%v", (*Transport)(nil), "<nil>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fmt.Sprintf(tc.format, tc.v); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})).Info("m", "t", &tr, "nil", (*Transport)(nil))
	const wantJSON = `{"level":"INFO","msg":"m","t":{"Source":"oauth2.staticTokenSource","Base":"<nil>","Rejected":false,"Hosts":["api.example.com"],"Allow":false,"AllowInsecureHTTP":true},"nil":null}` + "\n"
	if got := buf.String(); got != wantJSON {
		t.Errorf("got JSON log line %s, want %s", got, wantJSON)
	}
}

// TestFormatWhileInUse: printing and copying a Transport while other
// goroutines send requests with changing tokens is not a data race (run with
// -race): RoundTrip keeps no state in the Transport.
func TestFormatWhileInUse(t *testing.T) {
	var mu sync.Mutex // guards n
	n := 0
	tr := &Transport{
		Source: sourceFunc(func() (*oauth2.Token, error) {
			mu.Lock()
			defer mu.Unlock()
			n++
			return &oauth2.Token{AccessToken: fmt.Sprint("token-", n%7)}, nil
		}),
		Base: okBase(t, nil),
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if resp, err := tr.RoundTrip(mustRequest(t, "https://api.example.com/")); err == nil {
					resp.Body.Close()
				}
			}
		})
		wg.Go(func() {
			for range 200 {
				c := *tr
				_ = fmt.Sprintf("%v %+v", tr, c)
			}
		})
	}
	wg.Wait()
}

func mustRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// refusal returns the error tr.RoundTrip gives for u, which must be refused.
func refusal(t *testing.T, tr *Transport, u string) error {
	t.Helper()
	resp, err := tr.RoundTrip(mustRequest(t, u))
	if resp != nil || err == nil {
		t.Fatalf("got (%v, %v) for %s, want a refusal", resp, err, u)
	}
	if !errors.Is(err, ErrInsecure) && !errors.Is(err, ErrHostNotAllowed) {
		t.Fatalf("got %v for %s, want ErrInsecure or ErrHostNotAllowed", err, u)
	}
	return err
}
