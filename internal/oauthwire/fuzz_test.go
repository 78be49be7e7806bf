package oauthwire

import (
	"errors"
	"testing"
	"unicode"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		`{"access_token":"at","token_type":"Bearer","refresh_token":"rt","expires_in":3600}`,
		`{"error":"invalid_grant","error_description":"gone"}`,
		`{"access_token":"a","access_token":"b"}`,
		`{"access_token":"at","expires_in":"3600","scope":["a","b"]}`,
		`{"access_token":"at"} trailing`,
		`access_token=at&token_type=bearer`,
		`<html></html>`,
		`{"access_token":"at","expires_in":1e400}`,
		``,
	}
	for _, s := range seeds {
		f.Add(200, "application/json", []byte(s))
		f.Add(400, "application/x-www-form-urlencoded", []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		tok, er, err := Parse(status, ct, body)
		set := 0
		for _, b := range []bool{tok != nil, er != nil, err != nil} {
			if b {
				set++
			}
		}
		if set != 1 {
			t.Fatalf("got token %v, error response %v, err %v: want exactly one", tok, er, err)
		}
		switch {
		case err != nil:
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
		case tok != nil:
			if tok.AccessToken == "" {
				t.Fatal("token without an access token")
			}
			if tok.TokenType != "" && tok.TokenType != "Bearer" {
				t.Fatalf("token type %q", tok.TokenType)
			}
			if tok.ExpiresIn < 0 || tok.ExpiresIn > MaxLifetime || tok.RefreshExpiresIn < 0 || tok.RefreshExpiresIn > MaxLifetime {
				t.Fatalf("lifetimes out of range: %d, %d", tok.ExpiresIn, tok.RefreshExpiresIn)
			}
		case er != nil:
			for _, s := range []string{er.Description, er.URI} {
				for _, r := range s {
					if unicode.IsControl(r) || r == '<' || r == '>' {
						t.Fatalf("unsanitised character %q in %q", r, s)
					}
				}
			}
		}
	})
}
