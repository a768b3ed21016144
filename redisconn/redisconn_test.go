package redisconn

import (
	"testing"

	"github.com/hibiken/asynq"
)

func TestSentinelURL(t *testing.T) {
	t.Parallel()
	opt, err := Parse("redis-sentinel://:s3cret@10.0.0.1:26379,10.0.0.2,10.0.0.3:26380/4?master=lunas")
	if err != nil {
		t.Fatal(err)
	}
	f, ok := opt.(asynq.RedisFailoverClientOpt)
	if !ok {
		t.Fatalf("%T", opt)
	}
	if f.MasterName != "lunas" || f.DB != 4 || f.Password != "s3cret" || f.SentinelPassword != "s3cret" ||
		len(f.SentinelAddrs) != 3 || f.SentinelAddrs[1] != "10.0.0.2:26379" {
		t.Errorf("%+v", f)
	}
	opt, _ = Parse("redis-sentinel://:m@h:1?master=x&sentinel_password=s")
	if f := opt.(asynq.RedisFailoverClientOpt); f.Password != "m" || f.SentinelPassword != "s" || f.DB != 0 {
		t.Errorf("%+v", f)
	}
	for _, bad := range []string{"redis-sentinel://h:1/0", "redis-sentinel:///0?master=x", "redis-sentinel://h:1/x?master=m"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if opt, err := Parse("redis://127.0.0.1:6379/2"); err != nil || opt.(asynq.RedisClientOpt).DB != 2 {
		t.Errorf("redis:// %+v %v", opt, err)
	}
}
