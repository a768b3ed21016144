package lunastest

import (
	"context"
	"net/url"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Live tests never share a Redis database: while one holds its claim, every
// other claim (in this process or another) gets another database, and the
// claim is in Redis for every process to see.
func TestRedisDatabasesAreNotShared(t *testing.T) {
	opt, err := redis.ParseURL(env("LUNAS_REDIS_URL", "redis://127.0.0.1:6379/0"))
	if err != nil {
		t.Fatal(err)
	}
	opt.DB = 0
	c := redis.NewClient(opt)
	defer c.Close()
	held := map[string]bool{}
	var claim func(t *testing.T, depth int)
	claim = func(t *testing.T, depth int) {
		u := RedisURL(t)
		if held[u] {
			t.Fatalf("%s handed out while another test holds it", u)
		}
		held[u] = true
		p, _ := url.Parse(u)
		if n, err := c.Exists(context.Background(), "lunas:test:claim:"+p.Path[1:]).Result(); err != nil || n != 1 {
			t.Errorf("no claim of %s in Redis while it is held (%v)", u, err)
		}
		if depth < 4 {
			t.Run("inner", func(t *testing.T) { claim(t, depth+1) })
		}
		delete(held, u)
	}
	claim(t, 0)
}
