package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

// startRedis starts a real redis-server on a free loopback port, stopped
// when the test ends. Without one it fails in CI and skips elsewhere.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found (apt-get install redis-server)")
		}
		t.Skip("redis-server not found: apt-get install redis-server to run this test")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	opts, _ := redis.ParseURL(url)
	c := redis.NewClient(opts)
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer PING")
		}
	}
	return url
}

// TestServiceReplicasShareRedis: one device login, then two replicas of
// the service on the same Redis (-redis) call the API while the provider
// rotates refresh tokens every 2 s and revokes the family on reuse: both
// stay healthy through several rotations (one refresh at a time, cluster
// wide), and Redis holds no token in clear.
func TestServiceReplicasShareRedis(t *testing.T) {
	url := startRedis(t)
	op, err := oidctest.Start(oidctest.Options{AccessTokenLifetime: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	var raw [32]byte
	rand.Read(raw[:])
	for k, v := range map[string]string{
		"SERVICE_ISSUER": op.Issuer(), "SERVICE_CLIENT_ID": op.DeviceClient(), "SERVICE_API_URL": op.Endpoints().Resource,
		"SERVICE_TOKEN_DIR": filepath.Join(t.TempDir(), "unused"), "SERVICE_TOKEN_KEY": hex.EncodeToString(raw[:]),
		"SERVICE_INTERVAL": "250ms", "SERVICE_LISTEN": "127.0.0.1:0",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	logs, done := start(ctx, "-login", "-redis", url)
	code := logs.waitFor(t, `"user_code":"([^"]+)"`)[1]
	if err := op.ApproveDevice(ctx, code, oidctest.DefaultUsername, oidctest.DefaultPassword); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, done); code != 0 {
		t.Fatalf("-login: exit %d; log:\n%s", code, logs)
	}

	var addrs []string
	var all []*logBuffer
	var dones []<-chan int
	for range 2 {
		logs, done := start(ctx, "-redis", url)
		addrs = append(addrs, logs.waitFor(t, `"msg":"listening","addr":"([^"]+)"`)[1])
		all, dones = append(all, logs), append(dones, done)
	}
	// Four access-token lifetimes: the replicas refresh (one of them, under
	// the lease) or adopt what the other saved, and never fail a call.
	var reps [2]report
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		for i, addr := range addrs {
			status, rep := getHealth(t, addr)
			if status != 200 || rep.Status != "ok" {
				t.Fatalf("replica %d /healthz: %d %+v, want 200 ok; log:\n%s", i, status, rep, all[i])
			}
			reps[i] = rep
		}
	}
	if r := reps[0].Rotations + reps[1].Rotations; r < 3 {
		t.Errorf("got %d rotations in 8 s of 2 s tokens, want at least 3: %+v", r, reps)
	}
	for i, rep := range reps {
		if rep.APICalls < 10 || rep.APIFailures != 0 {
			t.Errorf("replica %d: %+v, want API calls and no failure", i, rep)
		}
	}

	opts, _ := redis.ParseURL(url)
	rc := redis.NewClient(opts)
	defer rc.Close()
	keys, err := rc.Keys(ctx, "service:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("Redis keys: %v, %v; want the account's record", keys, err)
	}
	for _, k := range keys {
		dump, _ := rc.Dump(ctx, k).Result()
		if strings.Contains(dump, "eyJ") {
			t.Errorf("Redis key %s holds something that looks like a JWT in clear", k)
		}
	}
	cancel()
	for i, done := range dones {
		if code := exitCode(t, done); code != 0 {
			t.Errorf("replica %d: exit %d", i, code)
		}
	}
}
