package wwwauth

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

type parseCase struct {
	name   string
	values []string
	want   []Challenge
}

func (tc parseCase) run(t *testing.T) {
	t.Helper()
	got := Parse(tc.values)
	if !reflect.DeepEqual(got, tc.want) {
		t.Errorf("Parse(%q)\n got %#v\nwant %#v", tc.values, got, tc.want)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []parseCase{
		{
			name:   "RFC 6750 expired token",
			values: []string{`Bearer realm="example", error="invalid_token", error_description="The access token expired"`},
			want: []Challenge{{Scheme: "Bearer", Params: map[string]string{
				"realm": "example", "error": "invalid_token", "error_description": "The access token expired",
			}}},
		},
		{
			name:   "Microsoft Entra",
			values: []string{`Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token", error_description="Lifetime validation failed, the token is expired."`},
			want: []Challenge{{Scheme: "Bearer", Params: map[string]string{
				"authorization_uri": "https://login.microsoftonline.com/common/oauth2/authorize",
				"error":             "invalid_token",
				"error_description": "Lifetime validation failed, the token is expired.",
			}}},
		},
		{name: "GitHub style: no header", values: nil, want: nil},
		{name: "empty value", values: []string{""}, want: nil},
		{
			name:   "Basic then Bearer insufficient_scope",
			values: []string{`Basic realm="x", Bearer error="insufficient_scope", scope="a b"`},
			want: []Challenge{
				{Scheme: "Basic", Params: map[string]string{"realm": "x"}},
				{Scheme: "Bearer", Params: map[string]string{"error": "insufficient_scope", "scope": "a b"}},
			},
		},
		{
			name:   "RFC 7235 Newauth example",
			values: []string{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`},
			want: []Challenge{
				{Scheme: "Newauth", Params: map[string]string{"realm": "apps", "type": "1", "title": `Login to "apps"`}},
				{Scheme: "Basic", Params: map[string]string{"realm": "simple"}},
			},
		},
		{
			name:   "several header lines",
			values: []string{`Negotiate`, `Bearer realm="api"`},
			want: []Challenge{
				{Scheme: "Negotiate"},
				{Scheme: "Bearer", Params: map[string]string{"realm": "api"}},
			},
		},
		{
			name:   "token68",
			values: []string{`Negotiate YIIB/gYGKwYBBQUCoIIB8jCCAe6g+A==`},
			want:   []Challenge{{Scheme: "Negotiate", Token68: "YIIB/gYGKwYBBQUCoIIB8jCCAe6g+A=="}},
		},
		{
			name:   "token68 then another challenge",
			values: []string{`Negotiate abc=, Bearer realm="x"`},
			want: []Challenge{
				{Scheme: "Negotiate", Token68: "abc="},
				{Scheme: "Bearer", Params: map[string]string{"realm": "x"}},
			},
		},
		{
			name:   "bare schemes",
			values: []string{`Bearer, Basic , Digest`},
			want:   []Challenge{{Scheme: "Bearer"}, {Scheme: "Basic"}, {Scheme: "Digest"}},
		},
		{
			name:   "case-insensitive names, whitespace and empty elements",
			values: []string{" ,\tBEARER  Realm = \"R\" ,, ERROR=invalid_token ,  "},
			want: []Challenge{{Scheme: "BEARER", Params: map[string]string{
				"realm": "R", "error": "invalid_token",
			}}},
		},
		{
			name:   "quoted string with escapes and comma",
			values: []string{`Bearer error_description="a, \"b\" \\ c"`},
			want:   []Challenge{{Scheme: "Bearer", Params: map[string]string{"error_description": `a, "b" \ c`}}},
		},
		{
			name:   "empty quoted string",
			values: []string{`Bearer realm=""`},
			want:   []Challenge{{Scheme: "Bearer", Params: map[string]string{"realm": ""}}},
		},
		{
			name:   "garbage",
			values: []string{`"}{=,,==`},
			want:   nil,
		},
		{
			name:   "malformed challenge drops the rest of its value only",
			values: []string{`Basic realm="a", Bearer realm="unterminated`, `Bearer error="invalid_token"`},
			want: []Challenge{
				{Scheme: "Basic", Params: map[string]string{"realm": "a"}},
				{Scheme: "Bearer", Params: map[string]string{"error": "invalid_token"}},
			},
		},
		{name: "param without value", values: []string{`Bearer realm=, error="x"`}, want: nil},
		{name: "duplicate param", values: []string{`Bearer error="a", error="b"`}, want: nil},
		{name: "control character in quoted string", values: []string{"Bearer realm=\"a\nb\""}, want: nil},
		{name: "bad escape", values: []string{"Bearer realm=\"a\\\x01\""}, want: nil},
		{name: "scheme glued to quote", values: []string{`Bearer"x"`}, want: nil},
		{name: "param without scheme", values: []string{`realm="x"`}, want: nil},
		{name: "junk after param", values: []string{`Bearer realm="x" junk`}, want: nil},
		{name: "junk after scheme", values: []string{`Basic "x"`}, want: nil},
		{name: "token68 then param", values: []string{`Negotiate abc=, realm="x"`}, want: nil},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestParseBearer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   Bearer
		wantOK bool
	}{
		{
			name:   "expired",
			values: []string{`Bearer realm="example", error="invalid_token", error_description="The access token expired"`},
			want:   Bearer{Realm: "example", Error: "invalid_token", ErrorDescription: "The access token expired"},
			wantOK: true,
		},
		{
			name:   "after Basic",
			values: []string{`Basic realm="x", bearer error="insufficient_scope", scope="a b", error_uri="https://e/x"`},
			want:   Bearer{Error: "insufficient_scope", Scope: "a b", ErrorURI: "https://e/x"},
			wantOK: true,
		},
		{name: "bare", values: []string{`Bearer`}, want: Bearer{}, wantOK: true},
		{name: "none", values: nil},
		{name: "Basic only", values: []string{`Basic realm="x"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseBearer(tc.values)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("ParseBearer(%q) = %+v, %v; want %+v, %v", tc.values, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestParseDPoP(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   DPoP
		wantOK bool
	}{
		{
			name:   "RFC 9449 §9 nonce",
			values: []string{`DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`},
			want:   DPoP{Bearer: Bearer{Error: "use_dpop_nonce", ErrorDescription: "Resource server requires nonce in DPoP proof"}},
			wantOK: true,
		},
		{
			name:   "RFC 9449 §7.1 after Bearer",
			values: []string{`Bearer realm="api", error="invalid_token"`, `dpop realm="WallyWorld", scope="a b", algs="ES256 PS256", error="insufficient_scope", error_uri="https://e/x"`},
			want:   DPoP{Bearer: Bearer{Realm: "WallyWorld", Scope: "a b", Error: "insufficient_scope", ErrorURI: "https://e/x"}, Algs: "ES256 PS256"},
			wantOK: true,
		},
		{name: "bare", values: []string{`Basic realm="x", DPoP`}, want: DPoP{}, wantOK: true},
		{name: "Bearer only", values: []string{`Bearer error="invalid_token"`}},
		{name: "none", values: nil},
		{name: "malformed", values: []string{`DPoP error="use_dpop_nonce`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseDPoP(tc.values)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("ParseDPoP(%q) = %+v, %v; want %+v, %v", tc.values, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestParseAllocs(t *testing.T) {
	values := []string{`Bearer realm="example", error="invalid_token", error_description="The access token expired"`}
	// One for the slice of challenges, one or two for the Params map.
	if got := testing.AllocsPerRun(100, func() { Parse(values) }); got > 3 {
		t.Errorf("got %v allocs per Parse, want <= 3", got)
	}
}

// format writes challenges back in canonical form: params sorted, every
// value quoted. Parsing the result must give the same challenges.
func format(cs []Challenge) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Scheme)
		if c.Token68 != "" {
			b.WriteString(" " + c.Token68)
		}
		names := make([]string, 0, len(c.Params))
		for n := range c.Params {
			names = append(names, n)
		}
		sort.Strings(names)
		for j, n := range names {
			sep := ", "
			if j == 0 {
				sep = " "
			}
			v := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(c.Params[n])
			b.WriteString(sep + n + `="` + v + `"`)
		}
	}
	return b.String()
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`Bearer realm="example", error="invalid_token", error_description="The access token expired"`,
		`Bearer authorization_uri="https://login.microsoftonline.com/x/oauth2/authorize", error="invalid_token"`,
		`Basic realm="x", Bearer error="insufficient_scope", scope="a b"`,
		`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
		`Negotiate YIIB/gYGKwYBBQUCoIIB8jCCAe6g+A==, Bearer`,
		`Bearer realm="api", DPoP error="use_dpop_nonce", algs="ES256 EdDSA"`,
		" ,\tBEARER  Realm = \"R\" ,, ERROR=invalid_token ,  ",
		`Bearer realm="unterminated`,
		`Bearer realm=, error="x"`,
		"Bearer realm=\"\\\xff\x80\"",
		`"}{=,,==`,
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Parse([]string{s})
		for _, c := range got {
			checkChallenge(t, c)
		}
		again := Parse([]string{format(got)})
		if len(got) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(again, got) {
			t.Errorf("round trip of %q via %q\n got %#v\nwant %#v", s, format(got), again, got)
		}
	})
}

// checkChallenge checks the invariants every parsed challenge keeps.
func checkChallenge(t *testing.T, c Challenge) {
	t.Helper()
	if c.Scheme == "" || strings.IndexFunc(c.Scheme, func(r rune) bool { return r > 127 || !isTchar(byte(r)) }) >= 0 {
		t.Errorf("scheme %q is not a token", c.Scheme)
	}
	if c.Token68 != "" && c.Params != nil {
		t.Errorf("challenge %#v has both token68 and params", c)
	}
	for n := range c.Params {
		if n == "" || n != strings.ToLower(n) {
			t.Errorf("param name %q is not a lower-case token", n)
		}
	}
}
