// Command wabench measures WhatsApp billing by message (issue 23) the way
// Meta loads it: a `lunas serve` process on a fresh database takes Meta's
// status webhooks (signed envelopes of 1,000 statuses, three statuses —
// sent, delivered, read — per message, as a busy number produces them) and
// the worker's rating code (usage.RateInbox, what the wa:rate task runs)
// rates the recorded bodies. It prints, in one table:
//
//   - the webhook: latency of a 1,000-status batch (p50, p99, max) from the
//     request to the 200, against API.md's 100 ms webhook deadline;
//   - rating: statuses per second sustained, -workers bodies rated at once
//     (the worker's pool), against the 10,000 statuses/s target;
//   - pgbench's single-row insert TPS on the same server in the same run,
//     and the rating rate's ratio to it;
//   - the books: lunas audit after the run.
//
// `make bench` runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas/audit"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/harness"
	"github.com/lunas-id/lunas/internal/metatest"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/tariff"
	"github.com/lunas-id/lunas/usage"
	"github.com/lunas-id/lunas/whatsapp"
)

// signingKey is the Meta app secret of the bench stack (a fixed test value).
const signingKey = "wabench-meta-app-key"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wabench:", err)
		os.Exit(1)
	}
}

func run() error {
	var bin, dbURL, redisURL string
	var batches, batch, accounts, workers int
	var pgb time.Duration
	flag.StringVar(&bin, "lunas", "bin/lunas", "the lunas binary")
	flag.StringVar(&dbURL, "db", envOr("LUNAS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lunas?sslmode=disable"), "PostgreSQL server (a fresh database is made on it)")
	flag.StringVar(&redisURL, "redis", envOr("LUNAS_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis server (database 14 is flushed and used)")
	flag.IntVar(&batches, "batches", 100, "webhook bodies to send")
	flag.IntVar(&batch, "batch", 1000, "statuses per webhook body (Meta sends up to 1,000)")
	flag.IntVar(&accounts, "accounts", 20, "accounts, each with its own Meta phone number")
	flag.IntVar(&workers, "workers", 4, "bodies rated at once")
	flag.DurationVar(&pgb, "pgbench", 10*time.Second, "pgbench duration (0 to skip)")
	flag.Parse()
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "lunas-wabench-")
	if err != nil {
		return err
	}
	dbName := fmt.Sprintf("lunas_wabench_%d", time.Now().Unix())
	rURL := withDB(redisURL, "14")
	if err := flushRedis(ctx, rURL); err != nil {
		return err
	}
	st, err := harness.New(ctx, harness.Config{Bin: bin, DatabaseURL: withDB(dbURL, dbName), RedisURL: rURL, Dir: dir,
		Extra: map[string]string{"LUNAS_WA_APP_SECRET": signingKey, "LUNAS_WA_VERIFY_TOKEN": "wabench",
			// Funded by hand far above the four-eyes threshold: one operator.
			"LUNAS_APPROVAL_THRESHOLD": "1000000000000000"}})
	if err != nil {
		return err
	}
	defer dropDB(dbURL, dbName)
	defer st.Close()
	// serve only: the bodies wait in the inbox for the timed rating below
	// (the relay queues their wa:rate tasks; no worker takes them).
	base, err := st.StartAt("serve", "serve", nil)
	if err != nil {
		return err
	}
	if err := waitHealthy(st.Client, base, 30*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wabench: logs in %s\n", dir)
	c := st.Client

	card := map[string]any{"price_list": "bench", "effective_from": "2025-07-01T00:00:00+07:00", "model": "message",
		"rates": []map[string]any{
			{"market": "62", "category": "marketing", "price": 586},
			{"market": "62", "category": "utility", "price": 356, "tiers": []map[string]int64{{"from": 1, "price": 356}, {"from": 10_001, "price": 320}}},
			{"market": "62", "category": "authentication", "price": 356},
			{"market": "62", "category": "service", "price": 0},
			{"market": "*", "category": "marketing", "price": 1100}}}
	if err := call(c, "PUT", base+"/v1/wa-rate-cards/bench-2025-07", harness.FinanceToken, card, nil); err != nil {
		return err
	}
	phones := make([]string, accounts)
	for i := range phones {
		phones[i] = fmt.Sprintf("1065403522%05d", i)
		a := fmt.Sprintf("wa-%03d", i)
		if err := call(c, "PUT", base+"/v1/accounts/"+a, harness.AppToken,
			map[string]any{"name": "Bench " + a, "wa_price_list": "bench", "whatsapp_phone_number_ids": []string{phones[i]}}, nil); err != nil {
			return err
		}
		if err := call(c, "POST", base+"/v1/accounts/"+a+"/adjustments", harness.FinanceToken,
			map[string]any{"product": "wa_balance", "kind": "refund", "amount": 1_000_000_000, "reason": "bench funding"}, nil); err != nil {
			return err
		}
	}

	// Bodies as Meta sends them, built before the clock starts: per
	// message sent + delivered (both priced) + read, one number per body.
	meta := metatest.New([]byte(signingKey))
	at := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	cats := []tariff.Category{"marketing", "utility", "utility", "authentication", "marketing"}
	bodies := make([][]byte, batches)
	for b := range bodies {
		sts := make([]whatsapp.Status, 0, batch)
		for m := 0; len(sts) < batch; m++ {
			id := fmt.Sprintf("wamid.B%05dM%04d", b, m)
			rcpt := fmt.Sprintf("+62812%08d", (b*batch+m)%100_000_000)
			typ := whatsapp.Regular
			if m%10 == 0 {
				typ = whatsapp.FreeCustomerService
			}
			cat := cats[m%len(cats)]
			sent := metatest.Sent(id, rcpt, at)
			sent.Pricing = metatest.Priced(typ, cat)
			sts = append(sts, sent, metatest.Delivered(id, rcpt, at.Add(time.Second), typ, cat), metatest.Read(id, rcpt, at.Add(time.Minute)))
		}
		sts = sts[:batch]
		for i := range sts {
			sts[i].PhoneNumberID = phones[b%len(phones)]
		}
		bodies[b] = metatest.Envelope(sts...)
	}

	// The webhook: one body at a time, as one number's deliveries come.
	lat := make([]time.Duration, 0, batches)
	for _, body := range bodies {
		t := time.Now()
		code, err := meta.Send(ctx, base+"/webhooks/whatsapp", body)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("webhook: %d %v", code, err)
		}
		lat = append(lat, time.Since(t))
	}

	// Rating: the worker's code on the recorded bodies.
	pool, err := store.Open(ctx, withDB(dbURL, dbName), int32(workers+2))
	if err != nil {
		return err
	}
	defer pool.Close()
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	svc := usage.New(usage.Options{Pool: pool, Clock: clock.Wall{}, Prices: tariff.MustParse(tariff.Default), Location: jkt,
		LowBalanceRatio: decimal.RequireFromString("0.4"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rows, err := pool.Query(ctx, `SELECT id FROM wa_status_inbox WHERE processed_at IS NULL ORDER BY id`)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var rateErr error
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				if err := svc.RateInbox(ctx, ids[i], ""); err != nil {
					mu.Lock()
					rateErr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if rateErr != nil {
		return rateErr
	}
	statuses := batches * batch
	rate := float64(statuses) / wall.Seconds()
	var rated, messages int64
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT message_id) FROM wa_statuses`).Scan(&rated, &messages); err != nil {
		return err
	}
	var charged int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM usage_events WHERE kind = 'status'`).Scan(&charged); err != nil {
		return err
	}
	rep, err := audit.Run(ctx, pool)
	if err != nil {
		return err
	}
	books := "audit: the books hold"
	if !rep.OK() {
		books = fmt.Sprintf("audit: %d discrepancies", len(rep.Discrepancies))
	}
	var tps float64
	if pgb > 0 {
		if tps, err = harness.PGBench(dbURL, pgb); err != nil {
			fmt.Fprintln(os.Stderr, "wabench: pgbench:", err)
		}
	}

	fmt.Printf("\nWhatsApp status webhooks on %d cores (PostgreSQL on the same machine): %d bodies of %d statuses, %d accounts\n",
		cores(), batches, batch, accounts)
	fmt.Printf("| measure | value |\n|---|---|\n")
	fmt.Printf("| webhook, %d-status batch: p50 / p99 / max | %s / %s / %s (deadline 100 ms) |\n", batch, pct(lat, 50), pct(lat, 99), pct(lat, 100))
	fmt.Printf("| rating, %d workers: statuses/s | %.0f (target 10,000) |\n", workers, rate)
	fmt.Printf("| rated | %d statuses kept, %d messages, %d settled by Meta's pricing |\n", rated, messages, charged)
	if tps > 0 {
		fmt.Printf("| pgbench single-row insert TPS (16 clients) | %.0f |\n", tps)
		fmt.Printf("| rating statuses/s / pgbench TPS | %.2f |\n", rate/tps)
	}
	fmt.Printf("| books | %s |\n", books)
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
	for {
		res, err := c.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %s", base, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)].Round(100 * time.Microsecond).String()
}

func cores() int {
	raw, _ := os.ReadFile("/proc/cpuinfo")
	n := strings.Count(string(raw), "\nprocessor")
	if strings.HasPrefix(string(raw), "processor") {
		n++
	}
	return max(1, n)
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
