package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisClient returns a client for TEST_REDIS_ADDR (under the gate), checked
// with a PING and closed when t ends, and a fresh key prefix (ending in ':')
// whose keys are deleted when t ends. Every test that touches the shared
// Redis puts its keys under its prefix, so parallel tests never collide.
func RedisClient(t testing.TB) (*redis.Client, string) {
	t.Helper()
	addr := Redis(t)
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	if err := c.Ping(t.Context()).Err(); err != nil {
		_ = c.Close()
		t.Fatalf("testenv: ping %s=%s: %v", RedisAddr, addr, err)
	}
	prefix := Name("tk") + ":"
	t.Cleanup(func() {
		deleteRedisPrefix(c, prefix)
		_ = c.Close()
	})
	return c, prefix
}

// RedisClusterClient returns a cluster client for TEST_REDIS_CLUSTER_ADDRS
// (under the gate), checked with a PING on every master and closed when t
// ends, and a fresh key prefix whose keys are deleted from every master when t
// ends.
func RedisClusterClient(t testing.TB) (*redis.ClusterClient, string) {
	t.Helper()
	addrs := RedisCluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	err := c.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error {
		return m.Ping(ctx).Err()
	})
	if err != nil {
		_ = c.Close()
		t.Fatalf("testenv: ping the masters of %s=%v: %v", RedisClusterAddrs, addrs, err)
	}
	prefix := Name("tk") + ":"
	t.Cleanup(func() {
		_ = c.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
			deleteRedisPrefix(m, prefix)
			return nil
		})
		_ = c.Close()
	})
	return c, prefix
}

// deleteRedisPrefix deletes every key under prefix on one node. The prefix is
// a fresh name without glob characters, so MATCH prefix* is exact.
func deleteRedisPrefix(c *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		_ = c.Del(ctx, iter.Val()).Err()
	}
}

// RedisProcess is a redis-server the test owns, on a spare loopback port, so a
// test can stop and restart Redis under a running client. It keeps nothing on
// disk. Its methods are safe for concurrent use.
type RedisProcess struct {
	t    testing.TB
	addr string
	port int
	dir  string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartRedis starts redis-server (found on PATH) on a free 127.0.0.1 port and
// stops it when t ends. A missing redis-server binary skips the test, or fails
// it when CI is set.
func StartRedis(t testing.TB) *RedisProcess {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("testenv: redis-server is not on PATH, and CI is set: %v", err)
		}
		t.Skipf("testenv: redis-server is not on PATH: skipping: %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("testenv: find a free port: %v", err)
	}
	p := &RedisProcess{t: t, port: port, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: t.TempDir()}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Addr is the host:port the server listens on; it is the same across restarts.
func (p *RedisProcess) Addr() string { return p.addr }

// Start starts the server if it is not running and waits until it answers
// PING. The data set starts empty (nothing is persisted).
func (p *RedisProcess) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", p.dir,
		"--loglevel", "warning", "--logfile", "")
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("testenv: start redis-server on %s: %v", p.addr, err)
	}
	p.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("testenv: redis-server on %s did not answer PING: %v", p.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server and waits for it to exit; clients see connection
// errors until Start. Stopping a stopped server does nothing.
func (p *RedisProcess) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("unexpected listener address %v", l.Addr())
	}
	return addr.Port, nil
}
