// Command subbench measures the subscription issuer (`make bench`, issue
// 14): N subscriptions due the same day, the service clock moved to their
// issue moment (00:00 on due − lead days), and the time until every
// invoice is issued, its UNPAID proforma rendered and its billing mail
// (PDF attached) accepted by the SMTP sink — with one serve and two work
// processes of bin/lunas on a fresh database. It prints what it measured.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/internal/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "subbench:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("invoices", 10000, "subscriptions due the same day")
	bin := flag.String("lunas", "bin/lunas", "the lunas binary")
	workers := flag.Int("workers", 2, "work processes")
	concurrency := flag.Int("concurrency", 10, "LUNAS_WORKER_CONCURRENCY of each work process")
	dbServer := flag.String("db", envOr("LUNAS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lunas?sslmode=disable"), "PostgreSQL server (a fresh database is made on it)")
	redisServer := flag.String("redis", envOr("LUNAS_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis server (database 15 is flushed and used)")
	pgb := flag.Duration("pgbench", 10*time.Second, "pgbench duration after the run, for the ratio (0 to skip)")
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lunas-subbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbName := fmt.Sprintf("lunas_subbench_%d", time.Now().Unix())
	redisURL := withDB(*redisServer, "15")
	if err := flushRedis(redisURL); err != nil {
		return err
	}
	st, err := harness.New(ctx, harness.Config{Bin: *bin, DatabaseURL: withDB(*dbServer, dbName), RedisURL: redisURL, Dir: dir,
		Extra: map[string]string{"LUNAS_ENV": "test", "LUNAS_WORKER_CONCURRENCY": strconv.Itoa(*concurrency), "LUNAS_SWEEP_INTERVAL": "1s"}})
	if err != nil {
		return err
	}
	defer dropDB(*dbServer, dbName)
	defer st.Close()
	if err := st.Start("serve", "serve"); err != nil {
		return err
	}
	for i := range *workers {
		if err := st.Start(fmt.Sprintf("work-%d", i+1), "work"); err != nil {
			return err
		}
	}
	if err := st.WaitHealthy(30 * time.Second); err != nil {
		return err
	}
	call := func(method, path, token string, body any) error {
		_, err := st.Call(ctx, method, path, token, body, nil)
		return err
	}
	if err := call("PUT", "/v1/test/clock", harness.FinanceToken, map[string]string{"now": "2026-12-01T09:00:00+07:00"}); err != nil {
		return err
	}
	if err := call("PUT", "/v1/accounts/isp", harness.AppToken, map[string]string{"name": "ISP"}); err != nil {
		return err
	}
	if err := call("PUT", "/v1/plans/home", harness.FinanceToken, map[string]any{"name": "Internet 20 Mbps", "amount": 250000, "vat": true, "lead_days": 5}); err != nil {
		return err
	}
	setup := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	errc := make(chan error, 1)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				err := call("POST", "/v1/subscriptions", harness.AppToken, map[string]any{"account_id": "isp", "plan_id": "home",
					"customer":       map[string]any{"name": fmt.Sprintf("Pelanggan %d", i), "email": fmt.Sprintf("p%d@rumah.example", i), "phone": fmt.Sprintf("0813%08d", i)},
					"first_due_date": "2027-01-20"})
				if err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range *n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	fmt.Printf("subbench: %d subscriptions due 2027-01-20 created in %s (not timed)\n", *n, time.Since(setup).Round(time.Millisecond))

	count := func(sql string) int {
		var c int
		if err := st.Pool.QueryRow(ctx, sql).Scan(&c); err != nil {
			return -1
		}
		return c
	}
	// The issue moment: 2027-01-15 00:00 WIB.
	start := time.Now()
	if err := call("PUT", "/v1/test/clock", harness.FinanceToken, map[string]string{"now": "2027-01-15T00:00:00+07:00"}); err != nil {
		return err
	}
	var issued, rendered, mailed time.Duration
	deadline := start.Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		if issued == 0 && count(`SELECT count(*) FROM orders WHERE subscription_id IS NOT NULL`) == *n {
			issued = time.Since(start)
		}
		if rendered == 0 && count(`SELECT count(*) FROM documents WHERE kind = 'unpaid'`) == *n {
			rendered = time.Since(start)
		}
		if mailed == 0 && len(st.Sink.Messages()) >= *n && count(`SELECT count(*) FROM mails WHERE kind = 'billing' AND status = 'sent'`) == *n {
			mailed = time.Since(start)
		}
		if issued > 0 && rendered > 0 && mailed > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if mailed == 0 {
		return fmt.Errorf("not done within 30 min: %d issued, %d rendered, %d mailed", count(`SELECT count(*) FROM orders`),
			count(`SELECT count(*) FROM documents`), count(`SELECT count(*) FROM mails WHERE status = 'sent'`))
	}
	dups := count(`SELECT count(*) FROM (SELECT subscription_id, period FROM orders WHERE subscription_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d`)
	fmt.Printf("subbench: %d invoices due the same day, serve + %d work (concurrency %d), from the clock reaching the issue moment:\n", *n, *workers, *concurrency)
	fmt.Printf("  all issued (orders, invoice numbers, outbox)   %8s  %6.0f invoices/s\n", issued.Round(time.Millisecond), float64(*n)/issued.Seconds())
	fmt.Printf("  all UNPAID proformas rendered                  %8s\n", rendered.Round(time.Millisecond))
	fmt.Printf("  all billing mails (PDF attached) sent          %8s  %6.0f mails/s\n", mailed.Round(time.Millisecond), float64(*n)/mailed.Seconds())
	fmt.Printf("  duplicate periods: %d\n", dups)
	if out, err := st.Run(ctx, "audit"); err != nil {
		return fmt.Errorf("lunas audit: %v\n%s", err, out)
	}
	fmt.Printf("  lunas audit: the books hold\n")
	if *pgb > 0 {
		tps, err := harness.PGBench(*dbServer, *pgb)
		if err != nil {
			return fmt.Errorf("pgbench: %w", err)
		}
		fmt.Printf("  pgbench single-row insert TPS (16 clients)      %6.0f\n", tps)
		fmt.Printf("  issued, rendered and mailed / pgbench           %6.3f\n", float64(*n)/mailed.Seconds()/tps)
	}
	return nil
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
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	if out, err := exec.Command("redis-cli", "-h", u.Hostname(), "-p", port, "-n", strings.TrimPrefix(u.Path, "/"), "FLUSHDB").CombinedOutput(); err != nil {
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
