package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenkeeper/tokenkeeper/storage"
	redisstore "github.com/tokenkeeper/tokenkeeper/storage/redis"
	"github.com/tokenkeeper/tokenkeeper/storage/storagetest"
)

// TestCluster runs the contract through a redis.ClusterClient on a
// one-node cluster that serves every slot: every script names only keys
// of one hash slot, which Cluster requires.
func TestCluster(t *testing.T) {
	r := startRedisWith(t, false, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	ctx := context.Background()
	if err := r.client(t).Do(ctx, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{r.Addr()}, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for c.Set(ctx, "probe", "1", time.Second).Err() != nil { // the cluster state turns ok
		if time.Now().After(deadline) {
			t.Fatal("the one-node cluster did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n := 0
	storagetest.Contract(t, func(t *testing.T) storage.Store {
		n++
		s, err := redisstore.New(redisstore.Config{Client: c, Key: testKey(t), Prefix: fmt.Sprintf("cluster%d:", n)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	s, _ := redisstore.New(redisstore.Config{Client: c, Key: testKey(t)})
	l, err := s.LockLease(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Keep(ctx, 5*time.Second); err != nil {
		t.Errorf("Keep through the cluster client: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Errorf("Release through the cluster client: %v", err)
	}
}
