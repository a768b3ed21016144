// Package lunastest gives tests real services: a fresh PostgreSQL database
// per test (migrated, dropped afterwards) on the server LUNAS_DATABASE_URL
// names, a Redis database of their own on LUNAS_REDIS_URL's server, and a
// private redis-server process that a test may kill and restart.
//
// `make test` makes sure both servers answer (scripts/services.sh).
package lunastest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/lunas-id/lunas/store"
)

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Logger discards logs unless LUNAS_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("LUNAS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// DatabaseURL creates a migrated database for t and returns its URL.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	base := env("LUNAS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lunas?sslmode=disable")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("LUNAS_DATABASE_URL: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "lunas_test_" + hex.EncodeToString(b)
	u.Path = "/" + name
	dsn := u.String()
	ctx := context.Background()
	if err := store.Migrate(ctx, dsn, Logger()); err != nil {
		t.Fatalf("migrate test database: %v (is PostgreSQL up? run tests with `make test`)", err)
	}
	t.Cleanup(func() {
		admin := *u
		admin.Path = "/postgres"
		conn, err := pgx.Connect(context.Background(), admin.String())
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return dsn
}

// Pool opens a pool on a fresh database and closes it after the test.
func Pool(t testing.TB) (*store.DB, string) {
	t.Helper()
	dsn := DatabaseURL(t)
	pool, err := store.Open(context.Background(), dsn, 30)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, dsn
}

// RedisURL returns a redis:// URL of a Redis database (1–12) that no
// other test uses while t runs, in this process or any other, flushed.
// Database 0 is the default deployment's, 13–15 the benchmarks' and the
// walkthrough's. The database is claimed with a key in database 0
// (lunas:test:claim:<n>, SET NX with an expiry) that the test renews while
// it runs and deletes when it ends: two live stacks never share one, and a
// test process that dies frees its claims within claimTTL. When all twelve
// are taken, RedisURL waits for one.
func RedisURL(t testing.TB) string {
	t.Helper()
	base := env("LUNAS_REDIS_URL", "redis://127.0.0.1:6379/0")
	opt, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("LUNAS_REDIS_URL: %v", err)
	}
	claims := *opt
	claims.DB = 0
	c := redis.NewClient(&claims)
	ctx := context.Background()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	db, deadline := 0, time.Now().Add(10*time.Minute)
	for db == 0 {
		for n := 1; n <= redisTestDatabases; n++ {
			ok, err := c.SetNX(ctx, claimKey(n), token, claimTTL).Result()
			if err != nil {
				_ = c.Close()
				t.Fatalf("redis: %v (is Redis up? run tests with `make test`)", err)
			}
			if ok {
				db = n
				break
			}
		}
		if db == 0 {
			if time.Now().After(deadline) {
				_ = c.Close()
				t.Fatalf("redis: all %d test databases stayed claimed for 10 min", redisTestDatabases)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Renew the claim while the test runs; give it back when it ends. Only
	// its holder (its token) may do either.
	renewClaim := redis.NewScript(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`)
	releaseClaim := redis.NewScript(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(claimTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = renewClaim.Run(ctx, c, []string{claimKey(db)}, token, claimTTL.Milliseconds()).Err()
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-stopped
		_ = releaseClaim.Run(ctx, c, []string{claimKey(db)}, token).Err()
		_ = c.Close()
	})
	opt.DB = db
	c2 := redis.NewClient(opt)
	defer func() { _ = c2.Close() }()
	if err := c2.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	u.Path = "/" + strconv.Itoa(db)
	return u.String()
}

const (
	redisTestDatabases = 12
	claimTTL           = 30 * time.Second
)

func claimKey(db int) string { return "lunas:test:claim:" + strconv.Itoa(db) }

// FreeAddr returns a loopback address with a port nothing listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// RedisServer is a private redis-server process that a test can kill.
type RedisServer struct {
	Addr string
	dir  string
	cmd  *exec.Cmd
	t    testing.TB
}

// StartRedis starts a private redis-server on a free port.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	r := &RedisServer{Addr: FreeAddr(t), dir: t.TempDir(), t: t}
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

// URL is the server's redis:// URL.
func (r *RedisServer) URL() string { return "redis://" + r.Addr + "/0" }

// Start (re)starts the server on its address.
func (r *RedisServer) Start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	r.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", r.dir, "--save", "",
		"--appendonly", "no", "--maxmemory-policy", "noeviction", "--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", r.Addr); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("redis-server did not start on %s", r.Addr)
}

// Kill stops the server at once (SIGKILL): its data is gone, as after a crash
// of a Redis without persistence.
func (r *RedisServer) Kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_, _ = r.cmd.Process.Wait()
		r.cmd = nil
	}
}

// Eventually polls cond every 20 ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// PDFText is pdftotext -layout of pdf (poppler-utils; `make test` installs it).
func PDFText(t testing.TB, pdf []byte) string {
	t.Helper()
	cmd := exec.Command("pdftotext", "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext (apt-get install poppler-utils): %v", err)
	}
	return string(out)
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (logs of several goroutines).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
