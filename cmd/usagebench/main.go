// Command usagebench measures usage billing (issue 13) the way a messaging
// platform loads it: `lunas serve` processes as real processes on a fresh
// database, the app's usage reports fired at POST /v1/accounts/{id}/usage
// in batches, and three runs printed as one table:
//
//   - sustained: batches of 500 events over 50 accounts (sends, re-sends
//     inside an open window, inbound messages and replies), as fast as
//     -concurrency requests in flight allow; events/s and p50/p99 batch
//     latency;
//   - hot row: a 100,000-message broadcast to ONE account whose balance
//     covers 80 % of it, in batches of 500 — every batch of the account
//     serialises on its row lock; at the end Σ charges ≤ the funds and the
//     balance ≥ 0 are checked against the ledger;
//   - the hot row again with two serve processes sharing the requests.
//
// It also samples CPU time (lunas process vs the whole machine) so the
// note can say what bounds the figure; -profile writes a CPU profile of the
// serve process taken during the sustained run. `make bench` runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/lunas-id/lunas/internal/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "usagebench:", err)
		os.Exit(1)
	}
}

type opts struct {
	bin, dbURL, redisURL, profile string
	events, accounts, batch       int
	hotEvents, concurrency        int
}

func run() error {
	var o opts
	flag.StringVar(&o.bin, "lunas", "bin/lunas", "the lunas binary")
	flag.StringVar(&o.dbURL, "db", envOr("LUNAS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lunas?sslmode=disable"), "PostgreSQL server (a fresh database is made on it)")
	flag.StringVar(&o.redisURL, "redis", envOr("LUNAS_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis server (database 14 is flushed and used)")
	flag.IntVar(&o.events, "events", 300_000, "events in the sustained run")
	flag.IntVar(&o.accounts, "accounts", 50, "accounts in the sustained run")
	flag.IntVar(&o.batch, "batch", 500, "events per request")
	flag.IntVar(&o.hotEvents, "hot", 100_000, "messages in the hot-row broadcast")
	flag.IntVar(&o.concurrency, "concurrency", 8, "requests in flight at once")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of the serve process during the sustained run to this file")
	flag.Parse()
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "lunas-usagebench-")
	if err != nil {
		return err
	}
	dbName := fmt.Sprintf("lunas_usagebench_%d", time.Now().Unix())
	redisURL := withDB(o.redisURL, "14")
	if err := flushRedis(ctx, redisURL); err != nil {
		return err
	}
	// The bench funds its accounts by hand (finance adjustments) far
	// above the four-eyes threshold: one operator, no second approver.
	st, err := harness.New(ctx, harness.Config{Bin: o.bin, DatabaseURL: withDB(o.dbURL, dbName), RedisURL: redisURL, Dir: dir,
		Extra: map[string]string{"LUNAS_APPROVAL_THRESHOLD": "1000000000000000"}})
	if err != nil {
		return err
	}
	defer dropDB(o.dbURL, dbName)
	defer st.Close()
	pprofPort, err := harness.FreePort()
	if err != nil {
		return err
	}
	pprofAddr := fmt.Sprintf("127.0.0.1:%d", pprofPort)
	base1, err := st.StartAt("serve-1", "serve", map[string]string{"LUNAS_PPROF_ADDR": pprofAddr})
	if err != nil {
		return err
	}
	base2, err := st.StartAt("serve-2", "serve", nil)
	if err != nil {
		return err
	}
	for _, b := range []string{base1, base2} {
		if err := waitHealthy(st.Client, b, 30*time.Second); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "usagebench: logs in %s\n", dir)
	b := &bench{st: st, client: st.Client}

	// Sustained: 50 accounts, funded far beyond what the run spends.
	accts := make([]string, o.accounts)
	for i := range accts {
		accts[i] = fmt.Sprintf("acct-%03d", i)
		if err := b.fund(base1, accts[i], 1_000_000_000); err != nil {
			return err
		}
	}
	var profDone chan error
	if o.profile != "" {
		profDone = make(chan error, 1)
		go func() { profDone <- fetchProfile("http://"+pprofAddr+"/debug/pprof/profile?seconds=15", o.profile) }()
	}
	cpu0 := sample(st.Proc("serve-1").Pid())
	sus := b.runBatches([]string{base1}, o.events/o.batch, o.concurrency, func(i int) (string, []map[string]string) {
		a := accts[i%len(accts)]
		return a, mixedBatch(i/len(accts), o.batch)
	})
	cpu1 := sample(st.Proc("serve-1").Pid())
	if profDone != nil {
		if err := <-profDone; err != nil {
			fmt.Fprintln(os.Stderr, "usagebench: profile:", err)
		}
	}

	// Hot row: one account, funds for 80 % of the broadcast.
	const price = 600
	funds := int64(o.hotEvents) * price * 8 / 10
	hot := func(name string, bases []string) (result, error) {
		if err := b.fund(base1, name, funds); err != nil {
			return result{}, err
		}
		cpuA := sample(st.Proc("serve-1").Pid())
		r := b.runBatches(bases, o.hotEvents/o.batch, o.concurrency, func(i int) (string, []map[string]string) {
			return name, broadcastBatch(i, o.batch)
		})
		r.cpu = sample(st.Proc("serve-1").Pid()).since(cpuA)
		return r, b.checkBooks(ctx, name, funds, &r)
	}
	hot1, err := hot("hot-one", []string{base1})
	if err != nil {
		return err
	}
	hot2, err := hot("hot-two", []string{base1, base2})
	if err != nil {
		return err
	}
	sus.cpu = cpu1.since(cpu0)

	fmt.Printf("\nusage billing on %d cores (PostgreSQL on the same machine), batches of %d, %d requests in flight\n", cores(), o.batch, o.concurrency)
	fmt.Printf("%-34s %9s %10s %9s %9s %8s  %s\n", "run", "events", "events/s", "p50", "p99", "errors", "books")
	for _, r := range []struct {
		name string
		r    result
	}{
		{fmt.Sprintf("sustained, %d accounts, 1 serve", o.accounts), sus},
		{"hot row, 1 account, 1 serve", hot1},
		{"hot row, 1 account, 2 serves", hot2},
	} {
		fmt.Printf("%-34s %9d %10.0f %9s %9s %8d  %s\n", r.name, r.r.events, r.r.rate(), pct(r.r.lat, 50), pct(r.r.lat, 99), r.r.errors, r.r.books)
	}
	fmt.Printf("\nCPU during the sustained run: lunas serve %.0f%% of one core, the whole machine %.0f%% of %d cores (the rest is PostgreSQL and this load generator)\n",
		sus.cpu.procShare()*100, sus.cpu.machineShare()*100, cores())
	fmt.Printf("CPU during the hot row (1 serve): lunas serve %.0f%% of one core, the whole machine %.0f%% of %d cores\n",
		hot1.cpu.procShare()*100, hot1.cpu.machineShare()*100, cores())
	return nil
}

type bench struct {
	st     *harness.Stack
	client *http.Client
}

func (b *bench) fund(base, account string, amount int64) error {
	if err := call(b.client, "PUT", base+"/v1/accounts/"+account, harness.AppToken, map[string]string{"name": "Bench " + account}, nil); err != nil {
		return err
	}
	return call(b.client, "POST", base+"/v1/accounts/"+account+"/adjustments", harness.FinanceToken,
		map[string]any{"product": "wa_balance", "kind": "refund", "amount": amount, "reason": "bench funding"}, nil)
}

type result struct {
	events, errors int
	wall           time.Duration
	lat            []time.Duration
	books          string
	cpu            cpuDelta
}

func (r result) rate() float64 { return float64(r.events) / r.wall.Seconds() }

// runBatches sends n batches, concurrency at a time, spread over bases.
func (b *bench) runBatches(bases []string, n, concurrency int, gen func(i int) (string, []map[string]string)) result {
	// Bodies are built before the clock starts: the load generator's JSON
	// encoding is not lunas's time.
	type req struct {
		account string
		body    []byte
		events  int
	}
	reqs := make([]req, n)
	for i := range reqs {
		a, evs := gen(i)
		body, _ := json.Marshal(map[string]any{"events": evs})
		reqs[i] = req{a, body, len(evs)}
	}
	var next atomic.Int64
	var mu sync.Mutex
	res := result{lat: make([]time.Duration, 0, n)}
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				r := reqs[i]
				t := time.Now()
				err := post(b.client, bases[i%len(bases)]+"/v1/accounts/"+r.account+"/usage", r.body)
				d := time.Since(t)
				mu.Lock()
				if err != nil {
					res.errors++
					if res.errors <= 3 {
						fmt.Fprintln(os.Stderr, "usagebench:", err)
					}
				} else {
					res.events += r.events
					res.lat = append(res.lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.wall = time.Since(start)
	return res
}

// checkBooks compares the hot account's end with its funds: Σ charges ≤
// funds, balance ≥ 0, balance = funds − Σ charges = Σ postings.
func (b *bench) checkBooks(ctx context.Context, account string, funds int64, r *result) error {
	var charges, balance, sumPostings, charged int64
	err := b.st.Pool.QueryRow(ctx, `
		SELECT (SELECT coalesce(-sum(amount), 0) FROM ledger_postings WHERE account_id = $1 AND kind = 'usage'),
		       (SELECT wa_balance FROM balances WHERE account_id = $1),
		       (SELECT coalesce(sum(amount), 0) FROM ledger_postings WHERE account_id = $1 AND balance = 'wa_balance'),
		       (SELECT count(*) FROM usage_events WHERE account_id = $1 AND outcome = 'charged')`, account).
		Scan(&charges, &balance, &sumPostings, &charged)
	if err != nil {
		return err
	}
	ok := charges <= funds && balance >= 0 && balance == funds-charges && balance == sumPostings
	verdict := "ok"
	if !ok {
		verdict = "BROKEN"
	}
	r.books = fmt.Sprintf("funds %d, Σ charges %d (%d charged), balance %d = Σ postings %d: %s", funds, charges, charged, balance, sumPostings, verdict)
	if !ok {
		return fmt.Errorf("books do not hold for %s: %s", account, r.books)
	}
	return nil
}

const at = "2026-11-22T15:00:00+07:00"

// mixedBatch is the k-th batch of one account: of every 10 events, one
// inbound message and a reply to it, one re-send to a recipient of the
// previous batch (inside its open window: free) and seven sends to new
// recipients.
func mixedBatch(k, size int) []map[string]string {
	evs := make([]map[string]string, 0, size)
	for i := 0; i < size; i++ {
		n := k*size + i
		rcpt := fmt.Sprintf("+62812%08d", n)
		id := "wamid." + strconv.Itoa(n)
		switch i % 10 {
		case 0:
			evs = append(evs, map[string]string{"id": id, "kind": "inbound", "recipient": rcpt, "at": at})
		case 1:
			prev := fmt.Sprintf("+62812%08d", n-1)
			evs = append(evs, map[string]string{"id": id, "kind": "reply", "recipient": prev, "at": at})
		case 2:
			prev := fmt.Sprintf("+62812%08d", max(n-size, 3))
			evs = append(evs, map[string]string{"id": id, "kind": "send", "recipient": prev, "category": "marketing", "at": at})
		default:
			evs = append(evs, map[string]string{"id": id, "kind": "send", "recipient": rcpt, "category": "marketing", "at": at})
		}
	}
	return evs
}

// broadcastBatch is the k-th batch of a broadcast: marketing sends to
// distinct recipients.
func broadcastBatch(k, size int) []map[string]string {
	evs := make([]map[string]string, size)
	for i := range evs {
		n := k*size + i
		evs[i] = map[string]string{"id": "bc." + strconv.Itoa(n), "kind": "send", "recipient": fmt.Sprintf("+62813%08d", n), "category": "marketing", "at": at}
	}
	return evs
}

func post(c *http.Client, url string, body []byte) error {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+harness.AppToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return fmt.Errorf("POST %s: %d %.300s", url, res.StatusCode, raw)
	}
	return nil
}

func call(c *http.Client, method, url, token string, body, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func waitHealthy(c *http.Client, base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if res, err := c.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not healthy within %s", base, timeout)
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)].Round(100 * time.Microsecond).String()
}

// cpuSample is a process's and the machine's CPU time at one instant.
type cpuSample struct {
	at          time.Time
	proc        float64 // seconds
	busy, total float64 // machine jiffies
}

type cpuDelta struct {
	wall, proc  float64
	busy, total float64
}

func (d cpuDelta) procShare() float64 { return d.proc / max(d.wall, 1e-9) }
func (d cpuDelta) machineShare() float64 {
	return d.busy / max(d.total, 1e-9)
}

func sample(pid int) cpuSample {
	s := cpuSample{at: time.Now()}
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		if len(f) > 12 {
			u, _ := strconv.ParseFloat(f[11], 64)
			k, _ := strconv.ParseFloat(f[12], 64)
			s.proc = (u + k) / 100 // USER_HZ
		}
	}
	if raw, err := os.ReadFile("/proc/stat"); err == nil {
		f := strings.Fields(strings.SplitN(string(raw), "\n", 2)[0])[1:]
		for i, v := range f {
			n, _ := strconv.ParseFloat(v, 64)
			s.total += n
			if i != 3 && i != 4 { // idle, iowait
				s.busy += n
			}
		}
	}
	return s
}

func (s cpuSample) since(o cpuSample) cpuDelta {
	return cpuDelta{wall: s.at.Sub(o.at).Seconds(), proc: s.proc - o.proc, busy: s.busy - o.busy, total: s.total - o.total}
}

func cores() int {
	raw, _ := os.ReadFile("/proc/cpuinfo")
	return max(1, strings.Count(string(raw), "\nprocessor")+boolInt(strings.HasPrefix(string(raw), "processor")))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fetchProfile(url, path string) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, res.Body)
	return err
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func withDB(raw, db string) string {
	i := strings.LastIndexByte(raw, '/')
	q := ""
	if j := strings.IndexByte(raw[i:], '?'); j >= 0 {
		q = raw[i+j:]
	}
	return raw[:i+1] + db + q
}

// flushRedis empties the Redis database the run uses (its owner mark is
// another database's after an earlier run).
func flushRedis(ctx context.Context, raw string) error {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return err
	}
	c := redis.NewClient(opt)
	defer func() { _ = c.Close() }()
	return c.FlushDB(ctx).Err()
}

func dropDB(server, name string) {
	conn, err := pgx.Connect(context.Background(), withDB(server, "postgres"))
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}
