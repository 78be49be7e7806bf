package redisstore

import (
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// Defaults of the Config fields left zero.
const (
	DefaultPrefix   = "tokenkeeper:"
	DefaultLeaseTTL = 15 * time.Second
	DefaultTimeout  = 2 * time.Second
	DefaultMaxWait  = 100 * time.Millisecond
)

// Config configures a [Store]. New copies it; the zero value of each
// optional field selects its default.
type Config struct {
	// Client talks to Redis: a *redis.Client (one server, or Sentinel
	// from redis.NewFailoverClient) or a *redis.ClusterClient, e.g. from
	// redis.NewUniversalClient. Required. Its options must set
	// ContextTimeoutEnabled: without it go-redis ignores context
	// deadlines, so neither Timeout nor a caller's ctx could interrupt a
	// call to a stalled Redis; New refuses such a client. The Store does
	// not close it.
	Client redis.UniversalClient

	// Key encrypts every record, as for [storage.File]; every replica
	// needs the same key. Required: the zero FileKey is refused.
	Key storage.FileKey

	// Prefix starts every Redis key the Store uses; restrict a Redis ACL
	// user to it (~tokenkeeper:*). It must not contain "{" or "}".
	// "": DefaultPrefix.
	Prefix string

	// LeaseTTL is how long a lock lasts unless renewed: how long a
	// crashed holder blocks the others. 0: DefaultLeaseTTL. At least
	// 30 ms.
	LeaseTTL time.Duration

	// Timeout bounds every Redis call (the caller's ctx bounds it too).
	// 0: DefaultTimeout.
	Timeout time.Duration

	// MaxWait caps the pause between two attempts to take a held lock.
	// 0: DefaultMaxWait.
	MaxWait time.Duration
}

func (c *Config) validate() error {
	switch {
	case c.Client == nil:
		return errors.New("redisstore: Config.Client is nil")
	case !contextTimeouts(c.Client):
		return errors.New("redisstore: Config.Client does not honour context deadlines: set ContextTimeoutEnabled: true in its options")
	case c.Key == storage.FileKey{}:
		return errors.New("redisstore: Config.Key is the zero FileKey; use storage.KeyFromBytes, KeyFromFile, KeyFromEnv or KeyFromPassphrase")
	case strings.ContainsAny(c.Prefix, "{}"):
		return errors.New("redisstore: Config.Prefix contains { or }, which would break the keys' hash tag")
	case c.LeaseTTL < 0 || c.LeaseTTL > 0 && c.LeaseTTL < 30*time.Millisecond:
		return errors.New("redisstore: Config.LeaseTTL is below 30ms")
	case c.Timeout < 0 || c.MaxWait < 0:
		return errors.New("redisstore: Config.Timeout and Config.MaxWait must not be negative")
	}
	return nil
}

// withDefaults returns a copy of c with the defaults filled in.
func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	return c
}

// contextTimeouts reports whether client honours context deadlines, as
// far as its options tell; unknown client types are trusted.
func contextTimeouts(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}
