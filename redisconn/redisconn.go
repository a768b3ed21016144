// Package redisconn turns LUNAS_REDIS_URL into asynq's connection options.
//
// asynq.ParseRedisURI reads redis:// and rediss:// fully, but of a
// redis-sentinel:// URL it keeps only the sentinel addresses, the master
// name and a password for the sentinels: the database number is dropped
// (every deployment would share database 0) and the master is dialled
// without the password. lunas parses sentinel URLs itself:
//
//	redis-sentinel://[:password@]host:port[,host:port…][/db]?master=NAME[&sentinel_password=…]
//
// The password is the master's (and the sentinels', unless
// sentinel_password names theirs). cmd/lunas calls Parse once at start.
package redisconn

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
)

// Parse returns the connection options of a redis://, rediss:// or
// redis-sentinel:// URL.
func Parse(raw string) (asynq.RedisConnOpt, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("redisconn: %w", err)
	}
	if u.Scheme != "redis-sentinel" {
		return asynq.ParseRedisURI(raw)
	}
	q := u.Query()
	opt := asynq.RedisFailoverClientOpt{MasterName: q.Get("master")}
	if opt.MasterName == "" {
		return nil, fmt.Errorf("redisconn: a redis-sentinel URL needs ?master=NAME")
	}
	for _, a := range strings.Split(u.Host, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !strings.Contains(a, ":") {
			a += ":26379"
		}
		opt.SentinelAddrs = append(opt.SentinelAddrs, a)
	}
	if len(opt.SentinelAddrs) == 0 {
		return nil, fmt.Errorf("redisconn: a redis-sentinel URL needs at least one sentinel host:port")
	}
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
		opt.SentinelPassword = opt.Password
	}
	if q.Has("sentinel_password") {
		opt.SentinelPassword = q.Get("sentinel_password")
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("redisconn: database %q is not a number", db)
		}
		opt.DB = n
	}
	return opt, nil
}
