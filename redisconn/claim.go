package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClaimKey is where a Redis database records the deployment it serves.
const ClaimKey = "lunas:deployment"

// ErrClaimed is a Redis database that serves another deployment.
var ErrClaimed = errors.New("this Redis database serves another lunas deployment")

// Claim records in the Redis database that it serves deployment id (the
// id store.DeploymentID keeps in PostgreSQL), and refuses — ErrClaimed,
// naming both — when it already serves another: two deployments on one
// Redis database would run each other's tasks against the wrong rows and
// fail them as "not found". label says what the deployment is for a human
// (its database's host:port/name). Redis not answering is not an error
// here: lunas starts and catches up when it is back, and Guard claims it
// then.
func Claim(ctx context.Context, rc redis.UniversalClient, id, label string) error {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rc.SetNX(cctx, ClaimKey, id+" "+label, 0).Err(); err != nil {
		return nil
	}
	got, err := rc.Get(cctx, ClaimKey).Result()
	if err != nil {
		return nil
	}
	if gotID, gotWhere, _ := strings.Cut(got, " "); gotID != id {
		return fmt.Errorf("LUNAS_REDIS_URL: %w (%s on %s), not this one (%s on %s); give each deployment its own Redis database (or DEL %s if that deployment is gone)",
			ErrClaimed, gotID, gotWhere, id, label, ClaimKey)
	}
	return nil
}

// Guard claims the Redis database again every interval until ctx ends,
// and returns the first ErrClaimed: a Redis that lost its data (restarted
// without persistence) may be claimed by another deployment meanwhile,
// and the process must then stop rather than take its tasks.
func Guard(ctx context.Context, rc redis.UniversalClient, id, label string, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := Claim(ctx, rc, id, label); err != nil {
				return err
			}
		}
	}
}
