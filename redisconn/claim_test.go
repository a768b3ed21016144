package redisconn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/redisconn"
)

// A Redis database serves one deployment: the first claim wins, the same
// deployment claims again freely, another is refused — and a running
// process whose Redis lost its claim to another deployment (a restart
// without persistence) stops at its next check.
func TestClaimAndGuard(t *testing.T) {
	t.Parallel()
	opt, err := redis.ParseURL(lunastest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	ctx := context.Background()
	if err := redisconn.Claim(ctx, rc, "dep_a", "db-a:5432/lunas"); err != nil {
		t.Fatal(err)
	}
	if err := redisconn.Claim(ctx, rc, "dep_a", "db-a:5432/lunas"); err != nil {
		t.Errorf("the same deployment again: %v", err)
	}
	// Same URL, another database (two machines' localhost): refused.
	err = redisconn.Claim(ctx, rc, "dep_b", "db-a:5432/lunas")
	if !errors.Is(err, redisconn.ErrClaimed) {
		t.Fatalf("another deployment: %v, want ErrClaimed", err)
	}
	t.Log(err)

	done := make(chan error, 1)
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { done <- redisconn.Guard(gctx, rc, "dep_a", "db-a:5432/lunas", 50*time.Millisecond) }()
	// Redis restarted empty and deployment b claimed it first.
	if err := rc.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := redisconn.Claim(ctx, rc, "dep_b", "db-b:5432/lunas"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, redisconn.ErrClaimed) {
			t.Errorf("guard: %v, want ErrClaimed", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the guard did not notice the Redis database now serves another deployment")
	}
}
