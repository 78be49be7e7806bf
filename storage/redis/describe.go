package redisstore

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// String describes s by its key prefix and lease TTL, never its key, the
// Redis address or password.
func (s *Store) String() string {
	if s == nil {
		return "<nil>"
	}
	return fmt.Sprintf("redisstore.Store{Prefix:%q LeaseTTL:%s Timeout:%s}", s.cfg.Prefix, s.cfg.LeaseTTL, s.cfg.Timeout)
}

// GoString is String: %#v never reveals the key either.
func (s *Store) GoString() string { return s.String() }

// Format implements fmt.Formatter: every verb prints String.
func (s *Store) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.String()) }

// LogValue implements slog.LogValuer with the prefix and durations only.
func (s *Store) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("prefix", s.cfg.Prefix), slog.Duration("lease_ttl", s.cfg.LeaseTTL), slog.Duration("timeout", s.cfg.Timeout))
}

// MarshalJSON encodes the prefix and durations only.
func (s *Store) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Prefix   string `json:"prefix"`
		LeaseTTL string `json:"lease_ttl"`
		Timeout  string `json:"timeout"`
	}{s.cfg.Prefix, s.cfg.LeaseTTL.String(), s.cfg.Timeout.String()})
}

// String describes l without its owner token.
func (l *lease) String() string { return "redisstore.lease{}" }

// Format implements fmt.Formatter: every verb prints String.
func (l *lease) Format(f fmt.State, verb rune) { fmt.Fprint(f, l.String()) }
