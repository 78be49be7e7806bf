package tokensource

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// String describes c without its client secret.
func (c Config) String() string {
	id, url, secret := "", "", ""
	if c.OAuth2 != nil {
		id, url = c.OAuth2.ClientID, c.OAuth2.Endpoint.TokenURL
		if c.OAuth2.ClientSecret != "" {
			secret = "[REDACTED]"
		}
	}
	auth := "nil"
	if c.ClientAuth != nil {
		auth = c.ClientAuth.String()
	}
	return fmt.Sprintf("tokensource.Config{TokenURL:%q ClientID:%q ClientSecret:%q ClientAuth:%s Key:%q Grant:%d RefreshBefore:%v RefreshTimeout:%v MaxSessionAge:%v}",
		url, id, secret, auth, c.Key, c.Grant, c.RefreshBefore, c.RefreshTimeout, c.MaxSessionAge)
}

// Format implements fmt.Formatter: every verb prints String, so the client
// secret in OAuth2 never reaches output.
func (c Config) Format(f fmt.State, verb rune) { fmt.Fprint(f, c.String()) }

// LogValue implements slog.LogValuer without the client secret.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON writes String as a JSON string, so that a Config nested in
// a value logged by slog's JSON handler shows no client secret.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// String describes s by its account key and token endpoint.
func (s *Source) String() string { return "tokensource.Source{" + s.cfg.String() + "}" }

// Format implements fmt.Formatter: every verb prints String.
func (s *Source) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.String()) }

// LogValue implements slog.LogValuer without secrets.
func (s *Source) LogValue() slog.Value { return slog.StringValue(s.String()) }
