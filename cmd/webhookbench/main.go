// Command webhookbench measures the outbound webhook path (issue 18): a
// fresh database, three endpoints on loopback receivers, N events
// committed as fast as one writer can (each in its own transaction, as a
// domain change would), and the sender of one `work` process posting them
// while they are written. It prints deliveries per second and the lag
// from an event's commit to its arrival at the receiver (p50, p99, max).
// `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "webhookbench:", err)
		os.Exit(1)
	}
}

func run() error {
	dbURL := flag.String("db", envOr("LUNAS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lunas?sslmode=disable"), "PostgreSQL server (a fresh database is made on it)")
	events := flag.Int("events", 10_000, "events to send")
	endpoints := flag.Int("endpoints", 3, "endpoints, each receiving every event")
	concurrency := flag.Int("concurrency", 16, "LUNAS_WEBHOOK_CONCURRENCY")
	perEndpoint := flag.Int("per-endpoint", 4, "LUNAS_WEBHOOK_ENDPOINT_CONCURRENCY")
	profile := flag.String("profile", "", "write a CPU profile of the run (writer, sender and receivers: this process) to this file")
	flag.Parse()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	u, err := url.Parse(*dbURL)
	if err != nil {
		return err
	}
	name := "lunas_webhookbench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	u.Path = "/" + name
	if err := store.Migrate(ctx, u.String(), log); err != nil {
		return err
	}
	defer func() {
		admin := *u
		admin.Path = "/postgres"
		if c, err := pgx.Connect(ctx, admin.String()); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			c.Close(ctx)
		}
	}()
	pool, err := store.Open(ctx, u.String(), 40)
	if err != nil {
		return err
	}
	defer pool.Close()

	// Receivers: record the arrival of each (event, endpoint).
	var mu sync.Mutex
	committed := map[string]time.Time{} // subject → commit time
	var lags []time.Duration
	var received atomic.Int64
	sealer, _ := webhook.NewSealer("bench signing key")
	svc := webhook.NewService(pool, clock.Wall{}, sealer, webhook.Policy{}, log)
	for i := 0; i < *endpoints; i++ {
		ln, err := listen()
		if err != nil {
			return err
		}
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			now := time.Now()
			mu.Lock()
			if at, ok := committed[r.Header.Get("webhook-id")]; ok {
				lags = append(lags, now.Sub(at))
			}
			mu.Unlock()
			received.Add(1)
			w.WriteHeader(204)
		})}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		if _, err := svc.Create(ctx, webhook.EndpointInput{URL: "http://" + ln.Addr().String() + "/hook", Events: []string{"*"}}); err != nil {
			return err
		}
	}
	sender := webhook.NewSender(webhook.SenderOptions{Pool: pool, Clock: clock.Wall{}, Sealer: sealer, Location: time.UTC, Logger: log,
		Concurrency: *concurrency, PerEndpoint: *perEndpoint})
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	go func() { sender.Run(sctx); close(done) }()

	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	want := int64(*events * *endpoints)
	start := time.Now()
	for i := 0; i < *events; i++ {
		var id string
		err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
			if err := webhook.EmitJSON(ctx, tx, webhook.BalanceLow, "e"+strconv.Itoa(i), map[string]any{"i": i, "balance": "wa_balance"}, time.Now()); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT id FROM webhook_events WHERE subject = $1`, "e"+strconv.Itoa(i)).Scan(&id)
		})
		if err != nil {
			return err
		}
		mu.Lock()
		committed[id] = time.Now()
		mu.Unlock()
	}
	emitted := time.Since(start)
	deadline := time.Now().Add(10 * time.Minute)
	for received.Load() < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	stop()
	<-done
	var delivered int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'`).Scan(&delivered); err != nil {
		return err
	}
	mu.Lock()
	slices.Sort(lags)
	q := func(p float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(p*float64(len(lags))))].Round(time.Millisecond)
	}
	fmt.Printf("\nwebhookbench: %d events × %d endpoints, sender concurrency %d (%d per endpoint), one process, receivers on loopback\n",
		*events, *endpoints, *concurrency, *perEndpoint)
	fmt.Printf("| events committed/s | deliveries/s | delivered | lag p50 / p99 / max (commit → received) |\n|---|---|---|---|\n")
	fmt.Printf("| %.0f | %.0f | %d of %d | %s / %s / %s |\n", float64(*events)/emitted.Seconds(), float64(received.Load())/elapsed.Seconds(),
		delivered, want, q(0.50), q(0.99), q(1))
	mu.Unlock()
	if int64(delivered) != want {
		return fmt.Errorf("%d of %d deliveries delivered", delivered, want)
	}
	return nil
}

func listen() (net.Listener, error) {
	base := 23000 + int(time.Now().UnixNano()%1000)
	for i := 0; i < 1000; i++ {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 23000+(base-23000+i)%1000)); err == nil {
			return ln, nil
		}
	}
	return nil, fmt.Errorf("no free port in 23000–23999")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
