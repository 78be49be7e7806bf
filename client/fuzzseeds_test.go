package client

import (
	"net/url"
	"strings"
)

type fuzzSeed struct {
	method, target string
	issParam       bool
}

// fuzzSeeds are real callbacks and attacks on the listener.
func fuzzSeeds() []fuzzSeed {
	const st, iss = "state=" + fuzzStateMark, "iss=" + fuzzIssuerMark
	huge := strings.Repeat("A", 64<<10)
	xss := url.QueryEscape(`<script>alert(document.cookie)</script>`)
	var seeds []fuzzSeed
	add := func(issParam bool, method string, targets ...string) {
		for _, t := range targets {
			seeds = append(seeds, fuzzSeed{method, t, issParam})
		}
	}
	// Real callbacks, with and without RFC 9207 iss.
	add(false, "GET",
		"/callback?code=SplxlOBeZQQYbYS6WxSbIA&"+st,
		"/callback?"+st+"&code=c0de&"+iss,
		"/callback?error=access_denied&error_description=The+user+said+no&"+st,
		"/callback?error=login_required&"+st+"&"+iss,
		"/callback?code=c&"+st+"&session_state=abc",
	)
	add(true, "GET",
		"/callback?code=c0de&"+st+"&"+iss,
		"/callback?code=c0de&"+st, // iss missing although announced
		"/callback?error=access_denied&"+st+"&"+iss,
	)
	// Markup and control characters in what the page or the error shows.
	add(false, "GET",
		"/callback?error=access_denied&error_description="+xss+"&"+st,
		"/callback?error="+xss+"&"+st,
		"/callback?error=x&error_uri=javascript:alert(1)&error_description=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E&"+st,
		"/callback?error=%3C%2Ftitle%3E%3Cscript%3E&"+st,
		"/callback?error=x&error_description=%22%27%3E%3Csvg%2Fonload%3Dalert(1)%3E&"+st,
		"/callback?error=access_denied&error_description=line1%0D%0AINFO+forged+log+line%00%1B%5B31m&"+st,
		"/callback?error=access_denied&error_description=%E2%80%AEevil%E2%80%AC%C2%85%E2%80%8B&"+st,
		"/callback?error=access_denied&error_description=%EF%BC%9Cscript%EF%BC%9E&"+st, // fullwidth < >
		"/callback?error=access_denied&error_description=%C0%BCscript%C0%BE&"+st,       // overlong UTF-8
		"/callback?error=access_denied&error_description=%253Cscript%253E&"+st,         // double encoding
		"/callback?error=access_denied&error_description=&lt;script&gt;&"+st,
		"/callback?code=c&"+st+"&iss="+xss,
		// Codes the token endpoint echoes JSON-escaped (testdata has the
		// finding: '"000000').
		"/callback?code=%22quoted%5Cback%26amp%3Cx%3E&"+st,
	)
	// Huge values.
	add(false, "GET",
		"/callback?error=access_denied&error_description="+huge+"&"+st,
		"/callback?code="+huge+"&"+st,
		"/callback?code=c&state="+huge,
		"/callback?code=c&"+st+"&iss="+huge,
		"/callback?"+strings.Repeat("x=1&", 4096)+"code=c&"+st,
	)
	// Repeated parameters.
	add(false, "GET",
		"/callback?code=c&"+st+"&state=forged",
		"/callback?code=c&state=forged&"+st,
		"/callback?code=c&"+st+"&"+st,
		"/callback?code=evil&code=c&"+st,
		"/callback?code=&code=c&"+st,
		"/callback?code=c&"+st+"&"+iss+"&iss=https://evil.example",
		"/callback?error=&error=access_denied&code=c&"+st,
	)
	// Missing or forged state.
	add(false, "GET",
		"/callback?code=c",
		"/callback?code=c&state=",
		"/callback?code=c&state",
		"/callback?code=c&state=forged",
		"/callback?error=access_denied",
		"/callback?code=c&STATE="+fuzzStateMark,
		"/callback?code=c&state%00="+fuzzStateMark,
		"/callback?code=c&state="+fuzzStateMark+"%00",
		"/callback?code=c&state=+"+fuzzStateMark,
		"/callback?code=c&state=%7Bstate%7D",
		"/callback?code=c;"+st,
		"/callback?code=c&"+st+"#fragment",
		"/callback?code=c&%73tate="+fuzzStateMark,
	)
	// Issuer mix-up (RFC 9207).
	add(false, "GET",
		"/callback?code=c&"+st+"&iss=https://evil.example",
		"/callback?code=c&"+st+"&iss=",
		"/callback?code=c&"+st+"&iss=https://op.example/",
		"/callback?code=c&"+st+"&iss=HTTPS://OP.EXAMPLE",
	)
	add(true, "GET",
		"/callback?code=c&"+st+"&iss=https://evil.example",
		"/callback?code=c&"+st+"&iss",
	)
	// Percent-encoding and path tricks.
	add(false, "GET",
		"/callback?code=a%2Bb+c%26d%3De&"+st,
		"/callback?code=%ZZ&"+st,
		"/callback?%=&code=c&"+st,
		"/callback/?code=c&"+st,
		"//callback?code=c&"+st,
		"/./callback?code=c&"+st,
		"/CALLBACK?code=c&"+st,
		"/callback%3Fcode=c&"+st,
		"/%63allback?code=c&"+st,
		"http://evil.example/callback?code=c&"+st,
		"/favicon.ico",
		"/",
		"*",
		"/callback",
		"/callback?",
		"/callback?x=y",
	)
	// Host headers (an absolute request-target sets Host): DNS rebinding.
	add(false, "GET",
		"http://localhost:1/callback?code=c&"+st,
		"http://LOCALHOST:1/callback?code=c&"+st,
		"http://127.0.0.1:1/callback?code=c&"+st,
		"http://127.0.0.1:2/callback?code=c&"+st,
		"http://localhost/callback?code=c&"+st,
		"http://attacker.example:1/callback?code=c&"+st,
		"http://127.0.0.1.nip.io:1/callback?code=c&"+st,
		"http://[::1]:1/callback?code=c&"+st,
		"http://attacker.example:1/callback?code=c&state=forged",
	)
	// Other methods.
	for _, m := range []string{"POST", "HEAD", "PUT", "OPTIONS", "get", "TRACE", "CONNECT"} {
		add(false, m, "/callback?code=c&"+st)
	}
	return seeds
}
