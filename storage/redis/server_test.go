package redisstore_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenkeeper/tokenkeeper/storage"
	redisstore "github.com/tokenkeeper/tokenkeeper/storage/redis"
)

// redisServer is a redis-server process on a loopback port, in a
// directory of its own, stopped by PID at the test's end.
type redisServer struct {
	t     testing.TB
	bin   string
	dir   string
	port  int
	aof   bool
	extra []string // more redis-server arguments
	cmd   *exec.Cmd
}

// redisBinary finds redis-server: $REDIS_SERVER if set (only there),
// else on PATH or in /usr/sbin. A test that needs it fails when CI is set
// and skips otherwise.
func redisBinary(t testing.TB) string {
	t.Helper()
	candidates := []string{"/usr/sbin/redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server"}
	if p, err := exec.LookPath("redis-server"); err == nil {
		candidates = append([]string{p}, candidates...)
	}
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		candidates = []string{p}
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("redis-server not found on PATH or in /usr/sbin, and CI is set: apt-get install redis-server")
	}
	t.Skip("redis-server not found on PATH or in /usr/sbin; to run these tests: apt-get install redis-server")
	return ""
}

// startRedis starts a redis-server with persistence off, or with AOF
// (appendfsync always) when aof is set.
func startRedis(t testing.TB, aof bool) *redisServer {
	t.Helper()
	return startRedisWith(t, aof)
}

// startRedisWith is startRedis with more redis-server arguments.
func startRedisWith(t testing.TB, aof bool, extra ...string) *redisServer {
	t.Helper()
	r := &redisServer{t: t, bin: redisBinary(t), dir: t.TempDir(), port: freePort(t), aof: aof, extra: extra}
	r.start()
	t.Cleanup(r.Kill)
	return r
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (r *redisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisServer) start() {
	r.t.Helper()
	args := []string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--dir", r.dir,
		"--daemonize", "no", "--logfile", filepath.Join(r.dir, "redis.log")}
	if r.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, r.extra...)
	r.cmd = exec.Command(r.bin, args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ping(r.Addr()) == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	r.t.Fatalf("redis-server did not answer PING within 10s; its log:\n%s", log)
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Kill stops the server with SIGKILL and waits for it; idempotent.
func (r *redisServer) Kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGKILL)
	r.cmd.Wait()
	r.cmd = nil
}

// Restart kills the server and starts it again on the same port and
// directory.
func (r *redisServer) Restart() {
	r.Kill()
	r.start()
}

// client returns a go-redis client of r, closed at the test's end.
func (r *redisServer) client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// testKey returns a new random raw FileKey.
func testKey(t testing.TB) storage.FileKey {
	t.Helper()
	b := make([]byte, storage.KeySize)
	if _, err := cryptoRead(b); err != nil {
		t.Fatal(err)
	}
	k, err := storage.KeyFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newStore returns a Store on r with key and cfg's other fields.
func newStore(t testing.TB, r *redisServer, cfg redisstore.Config) *redisstore.Store {
	t.Helper()
	if cfg.Client == nil {
		cfg.Client = r.client(t)
	}
	if cfg.Key == (storage.FileKey{}) {
		cfg.Key = testKey(t)
	}
	s, err := redisstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
