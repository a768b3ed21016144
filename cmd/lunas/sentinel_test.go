package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lunas-id/lunas/internal/harness"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/redisconn"
	"github.com/lunas-id/lunas/task"
)

// sentinelSet is a Redis master, one replica and three sentinels (quorum
// 2), real redis-server and redis-sentinel processes on private ports.
type sentinelSet struct {
	master, replica *harness.Redis
	sentinels       []*harness.Redis
}

const sentinelMaster = "lunas"

func startSentinelSet(t *testing.T) *sentinelSet {
	t.Helper()
	if _, err := exec.LookPath("redis-sentinel"); err != nil {
		t.Fatal("redis-sentinel is not installed: apt-get install -y redis-sentinel (.ci/run installs it)")
	}
	dir := t.TempDir()
	port := func() int {
		p, err := harness.FreePortIn(20000, 20999)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	set := &sentinelSet{}
	var err error
	if set.master, err = harness.StartRedisOn(dir, port()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.master.Kill() })
	if set.replica, err = harness.StartRedisOn(dir, port(), "--replicaof", "127.0.0.1", fmt.Sprint(set.master.Port)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.replica.Kill() })
	for i := 0; i < 3; i++ {
		s, err := harness.StartSentinel(dir, port(), sentinelMaster, set.master.Addr(), 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Kill() })
		set.sentinels = append(set.sentinels, s)
	}
	// Every sentinel knows the replica and the other two sentinels, and the
	// replica is in sync: only then can a failover succeed.
	ctx := context.Background()
	lunastest.Eventually(t, 60*time.Second, "sentinels to know the replica and each other", func() bool {
		for _, s := range set.sentinels {
			c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr()})
			replicas, err1 := c.Replicas(ctx, sentinelMaster).Result()
			others, err2 := c.Sentinels(ctx, sentinelMaster).Result()
			c.Close()
			if err1 != nil || err2 != nil || len(replicas) < 1 || len(others) < 2 {
				return false
			}
		}
		rc := redis.NewClient(&redis.Options{Addr: set.replica.Addr()})
		defer rc.Close()
		info, _ := rc.Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	})
	return set
}

// URL is LUNAS_REDIS_URL for the set.
func (s *sentinelSet) URL() string {
	addrs := make([]string, len(s.sentinels))
	for i, x := range s.sentinels {
		addrs[i] = x.Addr()
	}
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/0?master=" + sentinelMaster
}

// masterAddr is the master the first sentinel that answers names.
func (s *sentinelSet) masterAddr() string {
	for _, x := range s.sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: x.Addr()})
		a, err := c.GetMasterAddrByName(context.Background(), sentinelMaster).Result()
		c.Close()
		if err == nil && len(a) == 2 {
			return a[0] + ":" + a[1]
		}
	}
	return ""
}

// The README promises Redis Sentinel failover. A master SIGKILLed in the
// middle of 300 settlements: the sentinels promote the replica, lunas
// follows, and every order is paid once, every mail sent once, nothing is
// lost (what the dead master had not yet replicated, the outbox relays again).
func TestRedisSentinelFailover(t *testing.T) {
	t.Parallel()
	set := startSentinelSet(t)
	s := startStack(t, stackOptions{redisURL: set.URL(), workers: 2})
	s.setClock("2026-11-22T10:00:00+07:00")
	const accounts, n = 10, 300
	for a := 0; a < accounts; a++ {
		s.account(fmt.Sprintf("acme-%d", a))
	}
	orders, attempts := make([]string, n), make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := atomic.Int64{}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				o, a, err := s.payableQuiet(fmt.Sprintf("acme-%d", i%accounts), i)
				if err != nil {
					errs <- err
					return
				}
				orders[i], attempts[i] = o, a
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	before := set.masterAddr()

	// The burst: 300 settlement notifications from 16 senders; the master
	// is SIGKILLed once a third of them are in.
	start := time.Now()
	sent := atomic.Int64{}
	killed := make(chan time.Time, 1)
	next.Store(0)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := s.midtrans.Notify(context.Background(), attempts[i], "settlement", "", 1); err != nil {
					t.Errorf("notify %s: %v", attempts[i], err)
				}
				if sent.Add(1) == n/3 {
					_ = set.master.Kill()
					killed <- time.Now()
				}
			}
		}()
	}
	wg.Wait()
	killedAt := <-killed
	lunastest.Eventually(t, 60*time.Second, "the sentinels to promote the replica", func() bool {
		return set.masterAddr() == set.replica.Addr()
	})
	promoted := time.Since(killedAt)
	lunastest.Eventually(t, 180*time.Second, "every order paid", func() bool {
		return s.count(`SELECT count(*) FROM orders WHERE id = ANY($1) AND status = 'paid'`, orders) == n
	})
	paid := time.Since(start)
	s.settled(180 * time.Second)

	if got := s.count(`SELECT count(*) FROM ledger_postings WHERE order_id = ANY($1)`, orders); got != n {
		t.Errorf("%d postings for %d orders, want one credit each", got, n)
	}
	if got := s.count(`SELECT count(DISTINCT order_id) FROM ledger_postings WHERE order_id = ANY($1)`, orders); got != n {
		t.Errorf("%d orders credited, want %d", got, n)
	}
	per := s.acceptedPerMessageID()
	doubled := 0
	for _, c := range per {
		if c != 1 {
			doubled++
		}
	}
	if len(per) != 3*n || doubled != 0 {
		t.Errorf("%d distinct mails accepted (want %d: billing, VA instructions, confirmation per order), %d of them more than once", len(per), 3*n, doubled)
	}
	opt, err := redisconn.Parse(set.URL())
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	archived := 0
	for _, q := range task.Queues() {
		if info, err := insp.GetQueueInfo(q); err == nil {
			archived += info.Archived
		}
	}
	if archived != 0 {
		t.Errorf("%d tasks archived", archived)
	}
	t.Logf("sentinel failover: master %s SIGKILLed after %d of %d notifications; replica %s promoted %s later; all %d orders paid %s after the burst began, one credit each; %d mails, each accepted once; %d tasks archived",
		before, n/3, n, set.replica.Addr(), promoted.Round(time.Millisecond), n, paid.Round(time.Millisecond), len(per), archived)
}

// payableQuiet is payable for goroutines: it returns errors instead of
// failing the test, and retries what was answered 503.
func (s *stack) payableQuiet(accountID string, i int) (string, string, error) {
	var o struct {
		ID string `json:"id"`
	}
	body := map[string]any{"account_id": accountID, "requester": map[string]string{"name": "Sari Dewi", "email": fmt.Sprintf("req-%d@acme.example", i)},
		"items": []map[string]any{{"product": "wa_balance", "quantity": 1_000_000}}}
	if code, _ := s.callRetrying("POST", "/v1/orders", appToken, body, &o); code != 201 {
		return "", "", fmt.Errorf("create order %d: %d", i, code)
	}
	if err := s.confirmRetrying(o.ID); err != nil {
		return "", "", err
	}
	var a struct {
		ID string `json:"id"`
	}
	if code, _ := s.callRetrying("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "bca_va"}, &a); code != 201 {
		return "", "", fmt.Errorf("payment %d: %d", i, code)
	}
	return o.ID, a.ID, nil
}
