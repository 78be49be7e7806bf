package redisstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/storage"
	redisstore "github.com/tokenkeeper/tokenkeeper/storage/redis"
)

// lockingStore is what the benchmarks need of a store.
type lockingStore interface {
	storage.Store
	storage.Locker
}

// benchStores returns the Redis store on a loopback redis-server with
// persistence off (redis) and with AOF, appendfsync always (redis-aof),
// and the encrypted file store (file), under sub-benchmark names
// impl=... so that benchstat -col /impl compares them.
func benchStores(b *testing.B) map[string]lockingStore {
	r := startRedis(b, false)
	aof := startRedis(b, true)
	f, err := storage.NewFile(storage.FileConfig{Dir: filepath.Join(b.TempDir(), "s"), Key: testKey(b)})
	if err != nil {
		b.Fatal(err)
	}
	return map[string]lockingStore{"redis": newStore(b, r, redisstore.Config{}), "redis-aof": newStore(b, aof, redisstore.Config{}), "file": f}
}

func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	stores := benchStores(b)
	for _, impl := range []string{"redis", "redis-aof", "file"} {
		s := stores[impl]
		if err := s.Save(ctx, "acct", secretToken(1)); err != nil {
			b.Fatal(err)
		}
		b.Run("op=load/impl="+impl, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Load(ctx, "acct"); err != nil {
					b.Fatal(err)
				}
			}
		})
		v := uint64(1)
		b.Run("op=save/impl="+impl, func(b *testing.B) {
			for b.Loop() {
				v++
				if err := s.Save(ctx, "acct", secretToken(v)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("op=lock+load+save/impl="+impl, func(b *testing.B) {
			for b.Loop() {
				unlock, err := s.Lock(ctx, "acct")
				if err != nil {
					b.Fatal(err)
				}
				t, err := s.Load(ctx, "acct")
				if err != nil {
					b.Fatal(err)
				}
				v++
				t.Version = v
				if err := s.Save(ctx, "acct", t); err != nil {
					b.Fatal(err)
				}
				if err := unlock(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
