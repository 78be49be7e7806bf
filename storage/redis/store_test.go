package redisstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenkeeper/tokenkeeper/storage"
	redisstore "github.com/tokenkeeper/tokenkeeper/storage/redis"
	"github.com/tokenkeeper/tokenkeeper/storage/storagetest"
)

func cryptoRead(b []byte) (int, error) { return rand.Read(b) }

func TestContract(t *testing.T) {
	r := startRedis(t, false)
	c := r.client(t)
	n := 0
	storagetest.Contract(t, func(t *testing.T) storage.Store {
		n++
		return newStore(t, r, redisstore.Config{Client: c, Prefix: fmt.Sprintf("contract%d:", n)})
	})
}

// secretToken is a record whose tokens are easy to look for.
func secretToken(v uint64) *storage.Token {
	return &storage.Token{AccessToken: fmt.Sprintf("SECRET-ACCESS-%d", v), RefreshToken: fmt.Sprintf("SECRET-REFRESH-%d", v),
		IDToken: "SECRET-ID", TokenType: "Bearer", Scope: "openid", Expiry: time.Now().Add(time.Hour).Round(0), Version: v}
}

func TestEncryptedAtRestAndLayout(t *testing.T) {
	r := startRedis(t, false)
	s := newStore(t, r, redisstore.Config{Prefix: "tk:"})
	ctx := context.Background()
	if err := s.Save(ctx, "user{1}@example.com", secretToken(3)); err != nil {
		t.Fatal(err)
	}
	lease, err := s.LockLease(ctx, "user{1}@example.com")
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	c := r.client(t)
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys: got %q, want a record and a lock", keys)
	}
	tags := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, "tk:{") {
			t.Errorf("key %q: want the prefix tk: then a hash tag", k)
		}
		tag := k[strings.IndexByte(k, '{') : strings.IndexByte(k, '}')+1]
		tags[tag] = true
		dump, err := c.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(dump, "SECRET") {
			t.Errorf("the dump of %s holds a token in clear", k)
		}
	}
	if len(tags) != 1 {
		t.Errorf("the record and lock keys have hash tags %v, want one (one cluster slot)", tags)
	}
	v, err := c.HGet(ctx, keys[0][:strings.IndexByte(keys[0], '}')+1]+":record", "v").Result()
	if err != nil || v != "3" {
		t.Errorf("field v: got %q, %v, want \"3\"", v, err)
	}
}

func TestLoadChecksVersionField(t *testing.T) {
	r := startRedis(t, false)
	s := newStore(t, r, redisstore.Config{Prefix: "p:"})
	ctx := context.Background()
	if err := s.Save(ctx, "acct", secretToken(5)); err != nil {
		t.Fatal(err)
	}
	c := r.client(t)
	key := onlyKey(t, c, "p:*:record")
	c.HSet(ctx, key, "v", "9") // a version raised to let an old record win the fence
	if _, err := s.Load(ctx, "acct"); !errors.Is(err, storage.ErrCorrupt) {
		t.Errorf("Load with v=9 over a sealed version 5: got %v, want ErrCorrupt", err)
	}
	c.HDel(ctx, key, "v")
	if _, err := s.Load(ctx, "acct"); !errors.Is(err, storage.ErrCorrupt) {
		t.Errorf("Load without v: got %v, want ErrCorrupt", err)
	}
	c.HSet(ctx, key, "v", "5", "d", "garbage")
	_, err := s.Load(ctx, "acct")
	if !errors.Is(err, storage.ErrCorrupt) {
		t.Errorf("Load of garbage: got %v, want ErrCorrupt", err)
	}
}

func onlyKey(t *testing.T, c *redis.Client, pattern string) string {
	t.Helper()
	keys, err := c.Keys(context.Background(), pattern).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %s: got %q, %v, want one", pattern, keys, err)
	}
	return keys[0]
}

func TestSaveRefusesAnotherKeysRecord(t *testing.T) {
	r := startRedis(t, false)
	c := r.client(t)
	a := newStore(t, r, redisstore.Config{Client: c})
	b := newStore(t, r, redisstore.Config{Client: c})
	ctx := context.Background()
	if err := a.Save(ctx, "acct", secretToken(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(ctx, "acct"); !errors.Is(err, storage.ErrWrongKey) {
		t.Errorf("Load with another key: got %v, want ErrWrongKey", err)
	}
	err := b.Save(ctx, "acct", secretToken(2))
	if !errors.Is(err, storage.ErrWrongKey) {
		t.Errorf("Save over another key's record: got %v, want ErrWrongKey", err)
	}
	if got, err := a.Load(ctx, "acct"); err != nil || got.Version != 1 {
		t.Errorf("after the refused save: got %v, %v, want version 1 intact", got, err)
	}
	if err := b.Delete(ctx, "acct"); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, "acct", secretToken(2)); err != nil {
		t.Errorf("Save after Delete: %v", err)
	}
}

// TestFenceBeyondFloatPrecision: versions are compared exactly, not as
// Lua doubles, which cannot tell 2^53 from 2^53+1.
func TestFenceBeyondFloatPrecision(t *testing.T) {
	r := startRedis(t, false)
	s := newStore(t, r, redisstore.Config{})
	ctx := context.Background()
	const big = 1 << 53
	for _, c := range []struct {
		v     uint64
		stale bool
	}{{big + 1, false}, {big, true}, {big + 2, false}, {^uint64(0) - 1, false}, {^uint64(0), false}, {^uint64(0), true}} {
		err := s.Save(ctx, "acct", secretToken(c.v))
		if errors.Is(err, storage.ErrStale) != c.stale || err != nil && !c.stale {
			t.Errorf("Save version %d: got %v, want stale %v", c.v, err, c.stale)
		}
	}
	if got, err := s.Load(ctx, "acct"); err != nil || got.Version != ^uint64(0) {
		t.Errorf("stored: got %v, %v", got, err)
	}
}

func TestDeleteIf(t *testing.T) {
	r := startRedis(t, false)
	s := newStore(t, r, redisstore.Config{})
	ctx := context.Background()
	if err := s.Save(ctx, "acct", secretToken(4)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rt string
		v  uint64
	}{{"SECRET-REFRESH-3", 4}, {"SECRET-REFRESH-4", 3}, {"", 4}} {
		if ok, err := s.DeleteIf(ctx, "acct", c.rt, c.v); ok || err != nil {
			t.Errorf("DeleteIf(%q, %d) of version 4: got %v, %v, want false, nil", c.rt, c.v, ok, err)
		}
	}
	if ok, err := s.DeleteIf(ctx, "acct", "SECRET-REFRESH-4", 4); !ok || err != nil {
		t.Errorf("DeleteIf of the stored record: got %v, %v, want true", ok, err)
	}
	if _, err := s.Load(ctx, "acct"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after DeleteIf: got %v, want ErrNotFound", err)
	}
	if ok, err := s.DeleteIf(ctx, "acct", "SECRET-REFRESH-4", 4); ok || err != nil {
		t.Errorf("DeleteIf of an absent record: got %v, %v", ok, err)
	}
}

// stallListener accepts connections and never answers.
func stallListener(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestTimeoutsAndUnavailable(t *testing.T) {
	dead := freePort(t) // nothing listens there
	for name, addr := range map[string]string{"stalled": stallListener(t), "refused": fmt.Sprintf("127.0.0.1:%d", dead)} {
		t.Run(name, func(t *testing.T) {
			c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: -1, WriteTimeout: -1, DialTimeout: 10 * time.Second, ContextTimeoutEnabled: true})
			defer c.Close()
			s, err := redisstore.New(redisstore.Config{Client: c, Key: testKey(t), Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			calls := map[string]func() error{
				"load":   func() error { _, err := s.Load(ctx, "acct"); return err },
				"save":   func() error { return s.Save(ctx, "acct", secretToken(1)) },
				"delete": func() error { return s.Delete(ctx, "acct") },
				"lock": func() error {
					ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
					defer cancel()
					_, err := s.LockLease(ctx, "acct")
					return err
				},
			}
			for what, call := range calls {
				start := time.Now()
				err := call()
				took := time.Since(start)
				if !errors.Is(err, redisstore.ErrUnavailable) {
					t.Errorf("%s: got %v, want ErrUnavailable", what, err)
				}
				if took > 2*time.Second {
					t.Errorf("%s took %v, want about the 200ms Timeout", what, took)
				}
				if strings.Contains(err.Error(), "SECRET") {
					t.Errorf("%s: the error holds a token: %v", what, err)
				}
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := s.Load(cctx, "acct"); !errors.Is(err, context.Canceled) || errors.Is(err, redisstore.ErrUnavailable) {
				t.Errorf("Load with a cancelled ctx: got %v, want context.Canceled only", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer c.Close()
	plain := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer plain.Close()
	k := testKey(t)
	for name, cfg := range map[string]redisstore.Config{
		"no context timeouts": {Client: plain, Key: k},
		"no client":           {Key: k},
		"no key":              {Client: c},
		"brace prefix":        {Client: c, Key: k, Prefix: "a{b"},
		"tiny lease":          {Client: c, Key: k, LeaseTTL: time.Millisecond},
		"negative":            {Client: c, Key: k, Timeout: -1},
		"negative lease":      {Client: c, Key: k, LeaseTTL: -time.Second},
	} {
		if _, err := redisstore.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := redisstore.New(redisstore.Config{Client: c, Key: k}); err != nil {
		t.Errorf("zero optional fields: %v", err)
	}
}

func TestPrintsNoSecret(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, storage.KeySize)
	k, _ := storage.KeyFromBytes(raw)
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", Password: "REDIS-PASSWORD", ContextTimeoutEnabled: true})
	defer c.Close()
	s, err := redisstore.New(redisstore.Config{Client: c, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		fmt.Fprintf(&out, verb+"\n", s)
		fmt.Fprintf(&out, verb+"\n", *s)
	}
	slog.New(slog.NewJSONHandler(&out, nil)).Info("m", "store", s, "nested", struct{ S *redisstore.Store }{s})
	slog.New(slog.NewTextHandler(&out, nil)).Info("m", "store", s)
	j, _ := json.Marshal(struct{ S *redisstore.Store }{s})
	out.Write(j)
	r := startRedis(t, false)
	ls := newStore(t, r, redisstore.Config{})
	lease, err := ls.LockLease(context.Background(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	owner := r.client(t).Get(context.Background(), redisstore.LockKeyForTest(ls, "acct")).Val()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		if p := fmt.Sprintf(verb, lease); strings.Contains(p, owner) || strings.Contains(p, fmt.Sprintf("%x", owner)) {
			t.Errorf("%s of a lease reveals its owner token: %s", verb, p)
		}
	}
	for _, secret := range []string{"REDIS-PASSWORD", "abababab", "ABABABAB", "q6urq6ur", "127.0.0.1:1"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("printed store reveals %q:\n%s", secret, out.String())
		}
	}
}
