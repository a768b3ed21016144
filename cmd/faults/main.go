// Command faults is lunas's fault suite (`make test-faults`). It starts its
// own PostgreSQL, Redis, SMTP sink and fake gateways, one `lunas serve` and
// two `lunas work` processes on loopback, drives a few hundred orders to
// payment with duplicated and out-of-order notifications, and meanwhile
// breaks things for real: SIGKILL of a worker mid-task, Redis killed for
// 10 s, the SMTP sink closed for 10 s, PostgreSQL restarted, the fake
// Midtrans answering 500 and timing out on charges and status checks. Then
// it checks that nothing was lost and nothing doubled, prints a table, and
// exits non-zero when an invariant fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"mime"
	"net/mail"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lunas-id/lunas/gateway/midtrans/midtranstest"
	"github.com/lunas-id/lunas/harness"
	"github.com/lunas-id/lunas/outbox"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
}

// plan is what the suite does to one order.
type plan int

const (
	planSettle plan = iota // settlement, with duplicates and stale/late events around it
	planDeny               // deny only: the attempt fails, the order stays payable, then expires
	planNone               // nothing: the order expires
)

type order struct {
	harness.Order
	plan    plan
	account string
}

func run() error {
	n := flag.Int("orders", 240, "orders to drive")
	bin := flag.String("lunas", "bin/lunas", "the lunas binary")
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lunas-faults-")
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(dir)
		}
	}()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "faults %s: %s\n", time.Now().Format("15:04:05.0"), fmt.Sprintf(format, args...))
	}

	pg, err := harness.StartPostgres(dir)
	if err != nil {
		return err
	}
	defer pg.Stop()
	rd, err := harness.StartRedis(dir)
	if err != nil {
		return err
	}
	defer rd.Stop()
	st, err := harness.New(ctx, harness.Config{Bin: *bin, DatabaseURL: pg.URL("lunas"), RedisURL: rd.URL(), Dir: dir,
		Extra: map[string]string{"LUNAS_ENV": "test", "LUNAS_OUTBOX_REQUEUE_AFTER": "10s", "LUNAS_SWEEP_INTERVAL": "1s", "LUNAS_LOG_LEVEL": "INFO"}})
	if err != nil {
		return err
	}
	defer st.Close()
	for _, p := range [][2]string{{"serve", "serve"}, {"work-1", "work"}, {"work-2", "work"}} {
		if err := st.Start(p[0], p[1]); err != nil {
			return err
		}
	}
	if err := st.WaitHealthy(30 * time.Second); err != nil {
		return err
	}
	logf("stack up: PostgreSQL :%d, Redis :%d, serve + 2 work; logs in %s", pg.Port, rd.Port, dir)
	if _, err := st.Call(ctx, "PUT", "/v1/test/clock", harness.FinanceToken, map[string]string{"now": "2026-11-22T10:00:00+07:00"}, nil); err != nil {
		return err
	}
	for a := 0; a < 20; a++ {
		if _, err := st.Call(ctx, "PUT", fmt.Sprintf("/v1/accounts/acct-%d", a), harness.AppToken, map[string]string{"name": "Fault"}, nil); err != nil {
			return err
		}
	}

	var faults []string
	fault := func(what string) { faults = append(faults, what); logf("FAULT: %s", what) }

	// Orders. The last fifth are opened while the fake Midtrans refuses
	// charges (500) or hangs on them: those attempts fail with 502 and the
	// order is paid through a second attempt once the gateway is back.
	orders := make([]order, *n)
	var gatewayRefusals atomic.Int64
	mk := func(i int) error {
		acct := fmt.Sprintf("acct-%d", i%20)
		o, err := st.PayableOrder(ctx, acct, i)
		if err == nil {
			p := planSettle
			switch {
			case i%10 == 7:
				p = planDeny
			case i%10 == 9:
				p = planNone
			}
			orders[i] = order{Order: o, plan: p, account: acct}
			return nil
		}
		if !strings.Contains(err.Error(), "502") {
			return err
		}
		gatewayRefusals.Add(1)
		// Refused by the gateway: pay the same order through a new attempt
		// once the gateway answers again.
		var a struct {
			ID string `json:"id"`
		}
		for {
			time.Sleep(500 * time.Millisecond)
			if _, err := st.Call(ctx, "POST", "/v1/orders/"+o.ID+"/payments", harness.AppToken, map[string]string{"method": "bri_va"}, &a); err == nil {
				break
			}
			gatewayRefusals.Add(1)
		}
		o.AttemptID = a.ID
		orders[i] = order{Order: o, plan: planSettle, account: acct}
		return nil
	}
	first := *n * 4 / 5
	if err := parallel(16, 0, first, mk); err != nil {
		return err
	}
	st.Midtrans.SetFaults(midtranstest.Fault500, midtranstest.FaultNone)
	fault("fake Midtrans answers 500 on charges")
	var lateErr error
	var lateWG sync.WaitGroup
	lateWG.Add(1)
	go func() {
		defer lateWG.Done()
		lateErr = parallel(8, first, *n, mk)
	}()
	time.Sleep(2 * time.Second)
	st.Midtrans.SetFaults(midtranstest.FaultTimeout, midtranstest.FaultNone)
	fault("fake Midtrans hangs on charges (client timeout)")
	time.Sleep(3 * time.Second)
	st.Midtrans.SetFaults(midtranstest.FaultNone, midtranstest.FaultNone)
	lateWG.Wait()
	if lateErr != nil {
		return lateErr
	}
	logf("%d orders payable (%d gateway refusals on the way)", *n, gatewayRefusals.Load())

	// Notifications: settlement plus duplicates, a stale pending after it, an
	// expire after it; deny for deny-plan orders. Shuffled, delivered with
	// Midtrans-like retries (a non-2xx answer is delivered again).
	type shot struct {
		body []byte
	}
	var shots []shot
	sentSettle := map[string]bool{}
	for _, o := range orders {
		add := func(status string, times int) {
			body, err := st.Midtrans.Notification(o.AttemptID, status, "", nil)
			if err != nil {
				panic(err)
			}
			for k := 0; k < times; k++ {
				shots = append(shots, shot{body})
			}
		}
		switch o.plan {
		case planSettle:
			add("pending", 1)
			add("settlement", 1+rand.IntN(3))
			add("pending", 1) // out of order: after settlement
			add("expire", 1)  // late expire: must not un-pay
			sentSettle[o.ID] = true
		case planDeny:
			add("deny", 2)
		}
	}
	// Out of order within an order: the body for each status was taken in
	// plan order, and shuffling mixes them.
	rand.Shuffle(len(shots), func(i, j int) { shots[i], shots[j] = shots[j], shots[i] })
	var delivered, retried atomic.Int64
	var fireWG sync.WaitGroup
	fireWG.Add(1)
	go func() {
		defer fireWG.Done()
		// Spread over about 35 s, so every fault below lands while
		// notifications are arriving and being applied.
		pace := 35 * time.Second * 8 / time.Duration(len(shots))
		_ = parallel(8, 0, len(shots), func(i int) error {
			time.Sleep(pace)
			for {
				code, err := st.Midtrans.Send(ctx, shots[i].body)
				if err == nil && code == 200 {
					delivered.Add(1)
					return nil
				}
				retried.Add(1)
				time.Sleep(300 * time.Millisecond)
			}
		})
	}()

	time.Sleep(2 * time.Second)
	st.Kill("work-1")
	fault("SIGKILL work-1 mid-task")
	time.Sleep(2 * time.Second)
	if err := st.Start("work-1b", "work"); err != nil {
		return err
	}
	time.Sleep(time.Second)
	_ = rd.Kill()
	fault("Redis killed (SIGKILL), port closed for 10 s")
	time.Sleep(10 * time.Second)
	if err := rd.Start(); err != nil {
		return err
	}
	logf("Redis back")
	st.Sink.Stop()
	fault("SMTP sink closed for 10 s")
	time.Sleep(10 * time.Second)
	if err := st.Sink.Restart(); err != nil {
		return err
	}
	logf("SMTP back")
	if err := pg.Stop(); err != nil {
		return err
	}
	fault("PostgreSQL stopped (fast shutdown) and restarted")
	time.Sleep(3 * time.Second)
	if err := pg.Start(); err != nil {
		return err
	}
	fireWG.Wait()
	logf("%d notifications delivered, %d deliveries retried", delivered.Load(), retried.Load())

	// Deadlines: the gateway's status checks fail while the unpaid orders expire.
	st.Midtrans.SetFaults(midtranstest.FaultNone, midtranstest.Fault500)
	fault("fake Midtrans answers 500 on status checks during expiry")
	if _, err := st.Call(ctx, "PUT", "/v1/test/clock", harness.FinanceToken, map[string]string{"now": "2026-11-23T23:59:30+07:00"}, nil); err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	st.Midtrans.SetFaults(midtranstest.FaultNone, midtranstest.FaultTimeout)
	fault("fake Midtrans hangs on status checks during expiry")
	time.Sleep(2 * time.Second)
	st.Midtrans.SetFaults(midtranstest.FaultNone, midtranstest.FaultNone)

	logf("waiting for lunas to finish the work (worker leases expire in up to ~90 s after the SIGKILL)")
	quiet := waitQuiet(st, 4*time.Minute)
	r := check(ctx, st, rd, orders, sentSettle)
	r.quiet = quiet
	r.faults = faults
	r.events = len(shots)
	r.print()
	if !r.ok() {
		keep = true
		return fmt.Errorf("invariants broken; logs kept in %s", dir)
	}
	return nil
}

func parallel(workers, from, to int, fn func(i int) error) error {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= to {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func count(st *harness.Stack, sql string, args ...any) int {
	var n int
	if err := st.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

func waitQuiet(st *harness.Stack, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		left := count(st, `SELECT (SELECT count(*) FROM outbox WHERE done_at IS NULL)
			+ (SELECT count(*) FROM mails WHERE status <> 'sent') + (SELECT count(*) FROM gateway_events WHERE processed_at IS NULL)
			+ (SELECT count(*) FROM orders WHERE status = 'awaiting_payment')`)
		if left == 0 {
			return true
		}
		time.Sleep(500 * time.Millisecond)
	}
	return false
}

type report struct {
	faults                                  []string
	events                                  int
	quiet                                   bool
	paid, expired, other                    int
	lostPayments, doubledPayments           int
	lostCredits, doubledCredits             int
	lostMails, doubledMails, strayMails     int
	wrongState, balanceMismatch, orphanPost int
	undoneOutbox, undoneEvents, unsentMails int
	archived                                int
	problems                                []string
}

func (r *report) ok() bool {
	return r.quiet && r.lostPayments+r.doubledPayments+r.lostCredits+r.doubledCredits+r.lostMails+r.doubledMails+r.strayMails+
		r.wrongState+r.balanceMismatch+r.orphanPost+r.undoneOutbox+r.undoneEvents+r.unsentMails+r.archived == 0
}

func (r *report) print() {
	fmt.Printf("\nlunas fault suite\n\nfaults injected:\n")
	for _, f := range r.faults {
		fmt.Printf("  - %s\n", f)
	}
	fmt.Printf("\n| measure | count |\n|---|---|\n")
	rows := []struct {
		k string
		v int
	}{
		{"notifications sent (duplicates and out-of-order included)", r.events},
		{"orders paid", r.paid}, {"orders expired", r.expired}, {"orders in another state", r.other},
		{"payments lost", r.lostPayments}, {"payments doubled", r.doubledPayments},
		{"credits lost", r.lostCredits}, {"credits doubled", r.doubledCredits},
		{"confirmation mails lost", r.lostMails}, {"confirmation mails doubled", r.doubledMails}, {"mails to anyone but the requester", r.strayMails},
		{"orders not in the state their events imply", r.wrongState}, {"accounts whose balances differ from their postings", r.balanceMismatch},
		{"postings without a settling event", r.orphanPost}, {"outbox rows undone", r.undoneOutbox}, {"inbox events unprocessed", r.undoneEvents},
		{"mails not sent", r.unsentMails}, {"tasks in the asynq archive", r.archived},
	}
	for _, row := range rows {
		fmt.Printf("| %s | %d |\n", row.k, row.v)
	}
	verdict := "PASS"
	if !r.ok() {
		verdict = "FAIL"
	}
	if !r.quiet {
		fmt.Println("\nwork was still left undone when the suite stopped waiting")
	}
	for _, p := range r.problems {
		fmt.Println("  problem:", p)
	}
	fmt.Printf("\nfaults: %d passed, %d failed\n", boolInt(r.ok()), boolInt(!r.ok()))
	fmt.Println("verdict:", verdict)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func check(ctx context.Context, st *harness.Stack, rd *harness.Redis, orders []order, settled map[string]bool) *report {
	r := &report{}
	// Mails the sink accepted, by requester and kind.
	confirmations := map[string]int{}
	byEmail := map[string]bool{}
	for _, o := range orders {
		byEmail[o.Email] = true
	}
	dec := new(mime.WordDecoder)
	for _, m := range st.Sink.Messages() {
		if len(m.To) != 1 || !byEmail[m.To[0]] {
			r.strayMails++
			continue
		}
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			continue
		}
		subj, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
		if strings.HasPrefix(subj, "Pembayaran diterima") {
			confirmations[m.To[0]]++
		}
	}
	for _, o := range orders {
		var status string
		_ = st.Pool.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1`, o.ID).Scan(&status)
		switch status {
		case "paid":
			r.paid++
		case "expired":
			r.expired++
		default:
			r.other++
		}
		credits := count(st, `SELECT count(*) FROM ledger_postings WHERE order_id = $1 AND balance = 'wa_balance'`, o.ID)
		succeeded := count(st, `SELECT count(*) FROM payment_attempts WHERE order_id = $1 AND status = 'succeeded'`, o.ID)
		if settled[o.ID] {
			if status != "paid" {
				r.lostPayments++
				r.problems = append(r.problems, fmt.Sprintf("order %s got a settlement but is %s", o.ID, status))
			}
			if succeeded > 1 {
				r.doubledPayments++
			}
			switch {
			case credits == 0:
				r.lostCredits++
			case credits > 1:
				r.doubledCredits++
			}
			switch c := confirmations[o.Email]; {
			case c == 0:
				r.lostMails++
			case c > 1:
				r.doubledMails++
			}
		} else {
			if status != "expired" {
				r.wrongState++
				r.problems = append(r.problems, fmt.Sprintf("order %s (no settlement) is %s, want expired", o.ID, status))
			}
			if credits > 0 || succeeded > 0 || confirmations[o.Email] > 0 {
				r.doubledCredits += credits
				r.doubledMails += confirmations[o.Email]
				r.problems = append(r.problems, fmt.Sprintf("order %s was credited or confirmed without a settlement", o.ID))
			}
			if o.plan == planDeny && count(st, `SELECT count(*) FROM payment_attempts WHERE order_id = $1 AND status = 'failed' AND failure_code = 'deny'`, o.ID) != 1 {
				r.wrongState++
				r.problems = append(r.problems, fmt.Sprintf("order %s: denied attempt not recorded as failed/deny", o.ID))
			}
		}
	}
	r.balanceMismatch = count(st, `SELECT count(*) FROM accounts a LEFT JOIN LATERAL (
		SELECT coalesce(sum(amount) FILTER (WHERE balance = 'wa_balance'), 0) AS wa, coalesce(sum(amount) FILTER (WHERE balance = 'muv'), 0) AS muv,
		       coalesce(sum(amount) FILTER (WHERE balance = 'outstanding'), 0) AS outstanding FROM ledger_postings p WHERE p.account_id = a.id) d ON true
		WHERE a.wa_balance <> d.wa OR a.muv <> d.muv OR a.outstanding <> d.outstanding`)
	r.orphanPost = count(st, `SELECT count(*) FROM ledger_postings p WHERE p.order_id IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM gateway_events e WHERE e.order_id = p.order_id AND e.outcome LIKE 'settled%')`)
	r.undoneOutbox = count(st, `SELECT count(*) FROM outbox WHERE done_at IS NULL`)
	r.undoneEvents = count(st, `SELECT count(*) FROM gateway_events WHERE processed_at IS NULL`)
	r.unsentMails = count(st, `SELECT count(*) FROM mails WHERE status <> 'sent'`)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: fmt.Sprintf("127.0.0.1:%d", rd.Port)})
	defer insp.Close()
	for _, q := range []string{outbox.Queue, outbox.QueueCritical} {
		info, err := insp.GetQueueInfo(q)
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			r.problems = append(r.problems, "inspect queue "+q+": "+err.Error())
			continue
		}
		if info != nil {
			r.archived += info.Archived
		}
	}
	return r
}
