package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// Store is a [storage.Store], [storage.Locker] and [storage.LeaseLocker]
// on Redis; see the package documentation for its data layout and lock.
//
//   - Load returns ErrNotFound when there is no record, and ErrCorrupt when
//     the record's clear Version disagrees with the sealed one.
//   - Save is fenced in one script: it refuses a record whose Version is
//     not above the stored one ([storage.ErrStale]; Version 0 is always
//     accepted, and after Delete any Version is), and refuses to replace a
//     record sealed with another raw key ([storage.ErrWrongKey]; records
//     of passphrase keys are not compared, their key ids depend on a salt).
//   - Delete removes the record; [Store.DeleteIf] removes it only if it
//     still holds a given refresh token and Version.
//
// A Store is safe for concurrent use by multiple goroutines and by any
// number of processes sharing the Redis. No error, log line or printed
// form of a Store holds its key, a token or the Redis password. The zero
// Store is not usable: create one with [New].
type Store struct {
	cfg Config
}

var (
	_ storage.Store       = (*Store)(nil)
	_ storage.Locker      = (*Store)(nil)
	_ storage.LeaseLocker = (*Store)(nil)
)

// New returns a Store for cfg. It does not contact Redis.
func New(cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Store{cfg: cfg.withDefaults()}, nil
}

// keyTag returns the hash tag of account key: "{T}", see the package doc.
func (s *Store) keyTag(key string) string {
	var b strings.Builder
	b.WriteString(s.cfg.Prefix)
	b.WriteByte('{')
	n := 0
	for _, r := range key {
		if n >= 32 {
			break
		}
		n++
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("@._+-", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(key))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:16]))
	b.WriteByte('}')
	return b.String()
}

func (s *Store) recordKey(key string) string { return s.keyTag(key) + ":record" }
func (s *Store) lockKey(key string) string   { return s.keyTag(key) + ":lock" }

// call runs fn with a context bounded by Config.Timeout.
func (s *Store) call(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: %s: %w", what, err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	return wrapErr(ctx, what, fn(cctx))
}

// Load implements [storage.Store].
func (s *Store) Load(ctx context.Context, key string) (*storage.Token, error) {
	if key == "" {
		return nil, errors.New("redisstore: load: empty key")
	}
	var vals []any
	err := s.call(ctx, "load", func(ctx context.Context) (err error) {
		vals, err = s.cfg.Client.HMGet(ctx, s.recordKey(key), "v", "d").Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	v, okV := vals[0].(string)
	d, okD := vals[1].(string)
	if !okV && !okD {
		return nil, fmt.Errorf("redisstore: load: %w", storage.ErrNotFound)
	}
	if !okV || !okD {
		return nil, fmt.Errorf("redisstore: load: %w: the record hash lacks a field", storage.ErrCorrupt)
	}
	t, err := storage.OpenRecord(s.cfg.Key, key, []byte(d))
	if err != nil {
		return nil, fmt.Errorf("redisstore: load: %w", err)
	}
	if strconv.FormatUint(t.Version, 10) != v {
		return nil, fmt.Errorf("redisstore: load: %w: the record's version field disagrees with its sealed version %d", storage.ErrCorrupt, t.Version)
	}
	return t, nil
}

// saveScript stores ARGV[1] (the version, decimal) and ARGV[2] (the sealed
// record) in KEYS[1] unless the stored version is at or above it (ARGV[1]
// "0" is never refused), or the stored record's header names another raw
// key (ARGV[3] "1" asks for that check). Versions are compared as decimal
// strings: Lua numbers lose uint64 precision.
var saveScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'v', 'd')
if cur[2] and ARGV[3] == '1' then
  local old, new = cur[2], ARGV[2]
  if string.byte(old, 16) == 0 and string.sub(old, 1, 8) == string.sub(new, 1, 8) and string.sub(old, 17, 24) ~= string.sub(new, 17, 24) then
    return {'wrongkey', ''}
  end
end
local v = ARGV[1]
if cur[1] and v ~= '0' then
  local s = cur[1]
  if #s > #v or (#s == #v and s >= v) then
    return {'stale', s}
  end
end
redis.call('HSET', KEYS[1], 'v', v, 'd', ARGV[2])
return {'ok', ''}
`)

// Save implements [storage.Store]; see [Store] for what it refuses.
func (s *Store) Save(ctx context.Context, key string, t *storage.Token) error {
	if key == "" {
		return errors.New("redisstore: save: empty key")
	}
	if t == nil {
		return errors.New("redisstore: save: nil token")
	}
	sealed, err := storage.SealRecord(s.cfg.Key, key, t)
	if err != nil {
		return fmt.Errorf("redisstore: save: %w", err)
	}
	checkKey := "0"
	if len(sealed) > 15 && sealed[15] == 0 { // sealed with a raw key
		checkKey = "1"
	}
	var res []any
	err = s.call(ctx, "save", func(ctx context.Context) (err error) {
		res, err = saveScript.Run(ctx, s.cfg.Client, []string{s.recordKey(key)},
			strconv.FormatUint(t.Version, 10), sealed, checkKey).Slice()
		return err
	})
	if err != nil {
		return err
	}
	switch status, _ := res[0].(string); status {
	case "ok":
		return nil
	case "stale":
		return fmt.Errorf("redisstore: save: %w: the stored record has version %v, this one %d; Load the stored record and use it instead",
			storage.ErrStale, res[1], t.Version)
	case "wrongkey":
		return fmt.Errorf("redisstore: save: %w: the stored record was sealed with another key (not overwritten: Delete the key to replace it)", storage.ErrWrongKey)
	default:
		return fmt.Errorf("redisstore: save: unexpected script answer %q", status)
	}
}

// Delete implements [storage.Store]. It removes the record, not a lease.
func (s *Store) Delete(ctx context.Context, key string) error {
	if key == "" {
		return errors.New("redisstore: delete: empty key")
	}
	return s.call(ctx, "delete", func(ctx context.Context) error {
		return s.cfg.Client.Del(ctx, s.recordKey(key)).Err()
	})
}

// deleteIfScript deletes KEYS[1] if its version is ARGV[1] and its sealed
// record is ARGV[2].
var deleteIfScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'v', 'd')
if cur[1] == ARGV[1] and cur[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// DeleteIf removes key's record only if it still holds refreshToken at
// version, in one step even without the lock: a newer record a peer saved
// in between is never removed. It reports whether it removed the record;
// (false, nil) when the record is absent or another one. It costs a Load
// and one script. Package tokensource gets the same effect with Load,
// compare and Delete under the lock; DeleteIf is for callers without it.
func (s *Store) DeleteIf(ctx context.Context, key, refreshToken string, version uint64) (bool, error) {
	if key == "" {
		return false, errors.New("redisstore: delete: empty key")
	}
	var vals []any
	err := s.call(ctx, "delete", func(ctx context.Context) (err error) {
		vals, err = s.cfg.Client.HMGet(ctx, s.recordKey(key), "v", "d").Result()
		return err
	})
	if err != nil {
		return false, err
	}
	v, _ := vals[0].(string)
	d, ok := vals[1].(string)
	if !ok || v != strconv.FormatUint(version, 10) {
		return false, nil
	}
	t, err := storage.OpenRecord(s.cfg.Key, key, []byte(d))
	if err != nil {
		return false, fmt.Errorf("redisstore: delete: %w", err)
	}
	if t.RefreshToken != refreshToken || t.Version != version {
		return false, nil
	}
	var n int64
	err = s.call(ctx, "delete", func(ctx context.Context) (err error) {
		n, err = deleteIfScript.Run(ctx, s.cfg.Client, []string{s.recordKey(key)}, v, d).Int64()
		return err
	})
	return n == 1, err
}
