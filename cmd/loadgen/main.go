// Command loadgen measures lunas the way a month-end peak loads it: it runs
// `lunas all` as a real process beside the fake Midtrans and an SMTP sink,
// creates N orders through the API, confirms them, opens VA attempts, then
// fires signed settlement notifications at /webhooks/midtrans at a chosen
// rate and concurrency (with a share of duplicates) and waits until every
// order is paid and every confirmation mail is accepted. It prints one table,
// including raw PostgreSQL insert TPS (pgbench, 16 clients) measured in the
// same run for the ratio. `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/internal/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type opts struct {
	orders       int
	rate         int
	concurrency  int
	dup          float64
	bin          string
	dbURL        string
	redisURL     string
	workers      int
	pools        string
	pgbench      time.Duration
	profile      string
	accounts     int
	split        bool
	setupClients int
}

func run() error {
	var o opts
	flag.IntVar(&o.orders, "orders", 2000, "orders to create and settle")
	flag.IntVar(&o.rate, "rate", 0, "notifications per second to aim for (0: as fast as the concurrency allows)")
	flag.IntVar(&o.concurrency, "concurrency", 64, "notifications in flight at once")
	flag.Float64Var(&o.dup, "dup", 0.2, "share of extra duplicate deliveries")
	flag.StringVar(&o.bin, "lunas", "bin/lunas", "the lunas binary")
	flag.StringVar(&o.dbURL, "db", envOr("LUNAS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lunas?sslmode=disable"), "PostgreSQL server (a fresh database is made on it)")
	flag.StringVar(&o.redisURL, "redis", envOr("LUNAS_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis server (database 13 is flushed and used)")
	flag.IntVar(&o.workers, "workers", 40, "LUNAS_WORKER_CONCURRENCY for the lunas process")
	flag.StringVar(&o.pools, "pools", "", "LUNAS_WORKER_POOLS for the lunas process (e.g. critical:30), sizing pools apart from -workers")
	flag.DurationVar(&o.pgbench, "pgbench", 10*time.Second, "pgbench duration (0 to skip)")
	flag.IntVar(&o.accounts, "accounts", 200, "accounts the orders are spread over")
	flag.BoolVar(&o.split, "split", false, "run `serve` alone while the notifications are fired and start `work` after, to measure ingest without the worker on the same cores")
	flag.IntVar(&o.setupClients, "setup-clients", 64, "clients creating, confirming and opening attempts at once in the set-up (the confirm burst)")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of lunas taken while the notifications are fired to this file")
	flag.Parse()
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "lunas-load-")
	if err != nil {
		return err
	}
	dbName := fmt.Sprintf("lunas_load_%d", time.Now().Unix())
	dbURL := withDB(o.dbURL, dbName)
	redisURL := withDB(o.redisURL, "13")
	if err := flushRedis(redisURL); err != nil {
		return err
	}
	extra := map[string]string{"LUNAS_WORKER_CONCURRENCY": strconv.Itoa(o.workers)}
	if o.pools != "" {
		extra["LUNAS_WORKER_POOLS"] = o.pools
	}
	pprofAddr := ""
	if o.profile != "" {
		port, err := harness.FreePort()
		if err != nil {
			return err
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
		extra["LUNAS_PPROF_ADDR"] = pprofAddr
	}
	st, err := harness.New(ctx, harness.Config{Bin: o.bin, DatabaseURL: dbURL, RedisURL: redisURL, Dir: dir, Extra: extra})
	if err != nil {
		return err
	}
	defer dropDB(o.dbURL, dbName)
	defer st.Close()
	main := "all"
	if o.split {
		main = "serve"
	}
	if err := st.Start("all", main); err != nil {
		return err
	}
	if o.split {
		// The worker is needed for set-up (billing mails, UNPAID renders); it is
		// stopped before the burst and started again after it.
		if err := st.Start("work", "work"); err != nil {
			return err
		}
	}
	if err := st.WaitHealthy(30 * time.Second); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loadgen: lunas pid %d, logs in %s\n", st.Proc("all").Pid(), dir)
	// A month-end peak is many customers paying at once, not one customer
	// paying thousands of times: orders are spread over -accounts accounts.
	for a := 0; a < o.accounts; a++ {
		if _, err := st.Call(ctx, "PUT", fmt.Sprintf("/v1/accounts/load-%d", a), harness.AppToken, map[string]string{"name": "Load Test"}, nil); err != nil {
			return err
		}
	}

	// Set-up: orders, invoices, VA attempts (not timed as webhook load), by
	// -setup-clients at once. The confirms are a burst of their own: many
	// customers buying at once, each confirm taking the year's next
	// invoice number.
	setupStart := time.Now()
	orders := make([]harness.Order, o.orders)
	var setupErr atomic.Value
	step := func(fn func(i int) error) error {
		parallel(o.setupClients, o.orders, func(i int) {
			if err := fn(i); err != nil {
				setupErr.Store(err)
			}
		})
		err, _ := setupErr.Load().(error)
		return err
	}
	if err := step(func(i int) (err error) {
		orders[i], err = st.DraftOrder(ctx, fmt.Sprintf("load-%d", i%o.accounts), i)
		return err
	}); err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	refusedBefore := st.Refused.Load()
	burstStart := time.Now()
	if err := step(func(i int) error { return st.Confirm(ctx, orders[i].ID) }); err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	burst := time.Since(burstStart)
	confirmRefused := st.Refused.Load() - refusedBefore
	if err := step(func(i int) (err error) {
		orders[i], err = st.OpenVA(ctx, orders[i])
		return err
	}); err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	setup := time.Since(setupStart)
	fmt.Fprintf(os.Stderr, "loadgen: %d orders confirmed with VA attempts in %s (%.0f orders/s through the API; confirms %.0f/s by %d clients, %d refused)\n",
		o.orders, setup.Round(time.Millisecond), float64(o.orders)/setup.Seconds(), float64(o.orders)/burst.Seconds(), o.setupClients, confirmRefused)
	// Let the set-up's own work drain (billing and instructions mails,
	// UNPAID renders) so it does not count against ingest and settlement:
	// waiting for as many mails as orders left the instructions mails and
	// the renders running during the burst.
	waitFor(10*time.Minute, func() bool { return setupDrained(st, o.orders) })

	// The notifications, each order once plus a share of duplicates, shuffled.
	type shot struct {
		order int
		body  []byte
	}
	var shots []shot
	for i, ord := range orders {
		body, err := st.Midtrans.Notification(ord.AttemptID, "settlement", "", nil)
		if err != nil {
			return err
		}
		shots = append(shots, shot{i, body})
		if rand.Float64() < o.dup {
			shots = append(shots, shot{i, body})
		}
	}
	rand.Shuffle(len(shots), func(i, j int) { shots[i], shots[j] = shots[j], shots[i] })
	if o.split {
		st.Proc("work").Stop()
	}

	firstSent := make([]time.Time, o.orders)
	var sentMu sync.Mutex
	latencies := make([]time.Duration, len(shots))
	var failed atomic.Int64
	var next atomic.Int64
	var ticker <-chan time.Time
	if o.rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(o.rate))
		defer t.Stop()
		ticker = t.C
	}
	fireStart := time.Now()
	var wg sync.WaitGroup
	if pprofAddr != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fetchProfile("http://"+pprofAddr+"/debug/pprof/profile?seconds=5", o.profile); err != nil {
				fmt.Fprintln(os.Stderr, "loadgen: profile:", err)
			}
		}()
	}
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(shots) {
					return
				}
				if ticker != nil {
					<-ticker
				}
				s := shots[i]
				start := time.Now()
				sentMu.Lock()
				if firstSent[s.order].IsZero() {
					firstSent[s.order] = start
				}
				sentMu.Unlock()
				code, err := st.Midtrans.Send(ctx, s.body)
				latencies[i] = time.Since(start)
				if err != nil || code != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fire := time.Since(fireStart)
	if o.split {
		if err := st.Start("work-after", "work"); err != nil {
			return err
		}
	}

	// Wait for every order paid and every confirmation accepted by the sink.
	waitFor(10*time.Minute, func() bool { return countPaid(st) >= o.orders && countConfirmations(st) >= o.orders })
	settledAt := time.Now()

	// Settlement lag: first event received → order paid (both in PostgreSQL).
	rows, err := st.Pool.Query(ctx, `SELECT extract(epoch FROM o.paid_at - min(e.received_at))
		FROM orders o JOIN gateway_events e ON e.order_id = o.id WHERE o.status = 'paid' GROUP BY o.id, o.paid_at`)
	if err != nil {
		return err
	}
	lags, err := pgx.CollectRows(rows, pgx.RowTo[float64])
	if err != nil {
		return err
	}
	settle := make([]time.Duration, len(lags))
	for i, l := range lags {
		settle[i] = time.Duration(l * float64(time.Second))
	}
	var span time.Duration
	_ = st.Pool.QueryRow(ctx, `SELECT make_interval(secs => extract(epoch FROM max(o.paid_at) - min(e.received_at)))
		FROM orders o JOIN gateway_events e ON e.order_id = o.id`).Scan(&span)

	// End to end: first notification sent → confirmation mail accepted.
	byMail := map[string]int{}
	for i, ord := range orders {
		byMail[ord.Email] = i
	}
	var e2e []time.Duration
	for _, m := range st.Sink.Messages() {
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil || !isConfirmation(msg.Header.Get("Subject")) {
			continue
		}
		if i, ok := byMail[m.To[0]]; ok && !firstSent[i].IsZero() {
			e2e = append(e2e, m.At.Sub(firstSent[i]))
		}
	}
	rss := st.Proc("all").PeakRSS()
	taskStats := scrapeTasks(st.Base + "/metrics")
	var credited int64
	_ = st.Pool.QueryRow(ctx, `SELECT sum(wa_balance) FROM balances WHERE account_id LIKE 'load-%'`).Scan(&credited)

	var tps float64
	if o.pgbench > 0 {
		if tps, err = harness.PGBench(o.dbURL, o.pgbench); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: pgbench:", err)
		}
	}
	accepted := float64(len(shots)-int(failed.Load())) / fire.Seconds()
	if o.split {
		fmt.Printf("\n(split: serve alone during the burst, work started after it; settlement and end-to-end lags include that wait)")
	}
	pools := ""
	if o.pools != "" {
		pools = " (pools " + o.pools + ")"
	}
	fmt.Printf("\nlunas load run: %d orders over %d accounts, %d notifications (%.0f%% duplicates), concurrency %d, rate %s, worker concurrency %d%s\n\n",
		o.orders, o.accounts, len(shots), 100*float64(len(shots)-o.orders)/float64(o.orders), o.concurrency, rateName(o.rate), o.workers, pools)
	fmt.Printf("| measure | value |\n|---|---|\n")
	fmt.Printf("| confirms/s in a burst of %d clients (refused 503) | %.0f (%d refused; %d set-up calls refused in all) |\n", o.setupClients, float64(o.orders)/burst.Seconds(), confirmRefused, st.Refused.Load())
	fmt.Printf("| webhooks accepted/s | %.0f (%d failed) |\n", accepted, failed.Load())
	fmt.Printf("| webhook latency p50 / p95 / p99 | %s / %s / %s |\n", pct(latencies, 50), pct(latencies, 95), pct(latencies, 99))
	fmt.Printf("| settlement lag (received → paid) p50 / p99 | %s / %s |\n", pct(settle, 50), pct(settle, 99))
	fmt.Printf("| end-to-end lag (sent → mail accepted) p50 / p99 | %s / %s |\n", pct(e2e, 50), pct(e2e, 99))
	fmt.Printf("| orders settled/s | %.0f (%d orders in %s) |\n", float64(len(lags))/span.Seconds(), len(lags), span.Round(time.Millisecond))
	fmt.Printf("| all paid and mailed after first webhook | %s |\n", settledAt.Sub(fireStart).Round(time.Millisecond))
	fmt.Printf("| lunas peak RSS | %.1f MB |\n", float64(rss)/(1<<20))
	fmt.Printf("| pgbench single-row insert TPS (16 clients) | %.0f |\n", tps)
	if tps > 0 {
		fmt.Printf("| confirm burst / pgbench ratio | %.3f |\n", float64(o.orders)/burst.Seconds()/tps)
		fmt.Printf("| webhook ingest / pgbench ratio | %.2f |\n", accepted/tps)
		fmt.Printf("| settlement / pgbench ratio | %.3f |\n", float64(len(lags))/span.Seconds()/tps)
	}
	fmt.Printf("| credited (check) | %d of %d expected |\n", credited, int64(o.orders)*1_000_000)
	books := "the books hold"
	out, auditErr := st.Run(ctx, "audit")
	if auditErr != nil {
		books = fmt.Sprintf("FAILED (%v): %s", auditErr, strings.TrimSpace(out))
	}
	fmt.Printf("| lunas audit | %s |\n", books)
	_, statusCalls, _ := st.Midtrans.Counts()
	fmt.Printf("| gateway status calls (each callback confirmed with Midtrans before it moves money) | %d |\n", statusCalls)
	fmt.Printf("\ntasks (from /metrics): %s\n", taskStats)
	if auditErr != nil {
		return fmt.Errorf("lunas audit after the load run: %v", auditErr)
	}
	return nil
}

var taskRe = regexp.MustCompile(`lunas_task_duration_seconds_(sum|count)\{outcome="([a-z]+)",type="([a-z:]+)"\} ([0-9.e+]+)`)

// scrapeTasks summarises task counts and mean durations by type.
func scrapeTasks(url string) string {
	res, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	sums, counts := map[string]float64{}, map[string]float64{}
	for _, m := range taskRe.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.ParseFloat(m[4], 64)
		key := m[3] + "/" + m[2]
		if m[1] == "sum" {
			sums[key] += v
		} else {
			counts[key] += v
		}
	}
	var parts []string
	for k, c := range counts {
		parts = append(parts, fmt.Sprintf("%s n=%.0f mean=%.1fms", k, c, 1000*sums[k]/c))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
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

func isConfirmation(subject string) bool {
	d, err := new(mimeDecoder).DecodeHeader(subject)
	if err != nil {
		d = subject
	}
	return strings.HasPrefix(d, "Pembayaran diterima") || strings.HasPrefix(d, "Payment received")
}

func rateName(r int) string {
	if r == 0 {
		return "unlimited"
	}
	return strconv.Itoa(r) + "/s"
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "n/a"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	d := s[i]
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(10 * time.Millisecond).String()
}

func parallel(n, total int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

func waitFor(timeout time.Duration, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && !cond() {
		time.Sleep(20 * time.Millisecond)
	}
}

func countPaid(st *harness.Stack) int {
	var n int
	_ = st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE status = 'paid'`).Scan(&n)
	return n
}

// countConfirmations counts the "payment received" mails the sink accepted.
func countConfirmations(st *harness.Stack) int {
	n := 0
	for _, m := range st.Sink.Messages() {
		if msg, err := mail.ReadMessage(strings.NewReader(string(m.Data))); err == nil && isConfirmation(msg.Header.Get("Subject")) {
			n++
		}
	}
	return n
}

// setupDrained reports whether the set-up's mails are all sent and its
// UNPAID proformas rendered.
func setupDrained(st *harness.Stack, orders int) bool {
	var queued, docs int
	err := st.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM mails WHERE status = 'queued'), (SELECT count(*) FROM documents WHERE kind = 'unpaid')`).Scan(&queued, &docs)
	return err == nil && queued == 0 && docs >= orders
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func withDB(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}

func flushRedis(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	args := []string{"-h", u.Hostname(), "-p", u.Port(), "-n", strings.TrimPrefix(u.Path, "/"), "FLUSHDB"}
	if u.Port() == "" {
		args[3] = "6379"
	}
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("redis-cli FLUSHDB: %v: %s", err, out)
	}
	return nil
}

func dropDB(server, name string) {
	conn, err := pgx.Connect(context.Background(), withDB(server, "postgres"))
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

type mimeDecoder = mime.WordDecoder
