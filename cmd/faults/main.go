// Command faults is lunas's fault suite (`make test-faults`). It starts its
// own PostgreSQL, Redis, SMTP sink and fake gateways, one `lunas serve` and
// two `lunas work` processes on loopback, drives a few hundred orders to
// payment with duplicated and out-of-order notifications, refunds,
// chargebacks, forged (relabelled) callbacks and orders paid twice, and
// meanwhile breaks things for real: SIGKILL of a worker mid-task, Redis
// killed for 10 s, the SMTP sink closed for 10 s, PostgreSQL restarted, the
// fake Midtrans answering 500 and timing out on charges and status checks.
// Then it checks that nothing was lost and nothing doubled, runs
// `lunas audit`, prints a table, and exits non-zero when an invariant
// fails.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"mime"
	"net/mail"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lunas-id/lunas/internal/harness"
	"github.com/lunas-id/lunas/internal/midtranstest"
	"github.com/lunas-id/lunas/task"
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
	planSettle     plan = iota // settlement, with duplicates and stale/late events around it
	planDeny                   // deny only: the attempt fails, the order stays payable, then expires
	planNone                   // nothing but forged callbacks: the order expires
	planRefund                 // settlement, then the whole payment refunded: order refunded, credit reversed
	planChargeback             // settlement, then half of it charged back: credit halved
	planDouble                 // two attempts both paid: one credit, the second flagged double_payment
)

// wantCredit is what an order of this plan leaves on the WhatsApp balance
// (every order tops up 1,000,000 for a total of 1,110,000).
func (p plan) wantCredit() int64 {
	switch p {
	case planSettle, planDouble:
		return 1_000_000
	case planChargeback:
		return 500_000
	}
	return 0
}

// settles reports whether the order gets paid (before anything is taken back).
func (p plan) settles() bool { return p != planDeny && p != planNone }

type order struct {
	harness.Order
	plan    plan
	account string
	second  string // planDouble: the second attempt
}

func run() error {
	n := flag.Int("orders", 240, "orders to drive")
	bin := flag.String("lunas", "bin/lunas", "the lunas binary")
	wait := flag.Duration("wait", 4*time.Minute, "how long to wait for lunas to finish the work after the faults (a broken build may never)")
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
	defer func() { _ = pg.Stop() }()
	rd, err := harness.StartRedis(dir)
	if err != nil {
		return err
	}
	defer func() { _ = rd.Stop() }()
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
	var clockSets []clockSet // every move of the test clock, for recordLag
	if cs, err := readClockSet(ctx, st); err == nil {
		clockSets = append(clockSets, cs)
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
			switch i % 10 {
			case 7:
				p = planDeny
			case 9:
				p = planNone
			case 3:
				p = planRefund
			case 5:
				p = planChargeback
			case 1:
				p = planDouble
			}
			ord := order{Order: o, plan: p, account: acct}
			if p == planDouble {
				var b struct {
					ID string `json:"id"`
				}
				if _, err := st.Call(ctx, "POST", "/v1/orders/"+o.ID+"/payments", harness.AppToken, map[string]string{"method": "bni_va"}, &b); err != nil {
					return err
				}
				ord.second = b.ID
			}
			orders[i] = ord
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

	// Notifications. The fake's transaction ends in the state the plan
	// gives it (lunas asks the fake, so that is the truth); every other
	// body is stale (taken without moving the fake) or forged (a signed
	// pending relabelled "settlement", which Midtrans's signature does not
	// cover). Delivered shuffled, with Midtrans-like retries.
	type shot struct {
		body []byte
	}
	var shots []shot
	var forged int
	sentSettle := map[string]bool{}
	for _, o := range orders {
		add := func(body []byte, err error, times int) {
			if err != nil {
				panic(err)
			}
			for k := 0; k < times; k++ {
				shots = append(shots, shot{body})
			}
		}
		stale := func(status string, times int) {
			body, err := st.Midtrans.Stale(o.AttemptID, status, "")
			add(body, err, times)
		}
		notify := func(attempt, status string, times int) {
			body, err := st.Midtrans.Notification(attempt, status, "", nil)
			add(body, err, times)
		}
		if o.plan.settles() {
			stale("pending", 1)
			notify(o.AttemptID, "settlement", 1+rand.IntN(3))
			stale("pending", 1) // out of order: after settlement
			stale("expire", 1)  // a stale expire: must not un-pay (flagged unconfirmed)
			sentSettle[o.ID] = true
		}
		switch o.plan {
		case planDeny:
			notify(o.AttemptID, "deny", 2)
		case planNone:
			body, err := st.Midtrans.Stale(o.AttemptID, "pending", "")
			add(relabel(body, "settlement"), err, 2)
			forged += 2
		case planRefund:
			body, err := st.Midtrans.Refund(o.AttemptID, 1_110_000, "refund")
			add(body, err, 1+rand.IntN(5))
		case planChargeback:
			body, err := st.Midtrans.Refund(o.AttemptID, 555_000, "chargeback")
			add(body, err, 1+rand.IntN(5))
		case planDouble:
			notify(o.second, "settlement", 1+rand.IntN(2))
		}
	}
	// Out of order within an order: the body for each status was taken in
	// plan order, and shuffling mixes them.
	rand.Shuffle(len(shots), func(i, j int) { shots[i], shots[j] = shots[j], shots[i] })
	var delivered, retried atomic.Int64
	// Every delivery's answer, to measure the PostgreSQL outage.
	var answersMu sync.Mutex
	var answers []answer
	var fireWG sync.WaitGroup
	fireWG.Add(1)
	go func() {
		defer fireWG.Done()
		// Spread over about 50 s, so every fault below lands while
		// notifications are arriving and being applied.
		pace := 50 * time.Second * 8 / time.Duration(len(shots))
		_ = parallel(8, 0, len(shots), func(i int) error {
			time.Sleep(pace)
			for {
				start := time.Now()
				code, err := st.Midtrans.Send(ctx, shots[i].body)
				answersMu.Lock()
				answers = append(answers, answer{at: start, took: time.Since(start), code: code})
				answersMu.Unlock()
				if err == nil && code == 200 {
					delivered.Add(1)
					return nil
				}
				retried.Add(1)
				time.Sleep(300 * time.Millisecond)
			}
		})
	}()

	// Redis first (its data is lost), so that what the SIGKILL below
	// leaves in asynq survives to be counted after the run.
	time.Sleep(2 * time.Second)
	_ = rd.Kill()
	fault("Redis killed (SIGKILL), port closed for 10 s")
	time.Sleep(10 * time.Second)
	if err := rd.Start(); err != nil {
		return err
	}
	logf("Redis back")
	time.Sleep(time.Second) // both workers reconnected
	// The SIGKILL is timed to land while tasks are running: wait (up to
	// 10 s) until asynq's active lists (real time, unlike a server's
	// heartbeat) show tasks in flight, then kill work-1 at once. Which of
	// them work-1 was running shows after the run: asynq recovers exactly
	// those, with "task lease expired".
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: fmt.Sprintf("127.0.0.1:%d", rd.Port)})
	defer func() { _ = insp.Close() }()
	inFlight := map[string]string{} // task id → queue, in flight at the kill
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && len(inFlight) == 0; time.Sleep(5 * time.Millisecond) {
		for _, q := range task.Queues() {
			active, err := insp.ListActiveTasks(q)
			if err != nil {
				continue
			}
			for _, t := range active {
				inFlight[t.ID] = q
			}
		}
	}
	killAt := time.Now()
	st.Kill("work-1")
	killDone := time.Now()           // work-1 has exited
	interrupted := map[string]bool{} // filled after the run
	fault(fmt.Sprintf("SIGKILL work-1 while %d tasks were in flight (on either worker)", len(inFlight)))
	time.Sleep(2 * time.Second)
	if err := st.Start("work-1b", "work"); err != nil {
		return err
	}
	st.Sink.Stop()
	fault("SMTP sink closed for 10 s")
	time.Sleep(10 * time.Second)
	if err := st.Sink.Restart(); err != nil {
		return err
	}
	logf("SMTP back")
	st.Sink.DropAfterData(true)
	fault("SMTP server drops the connection right after accepting each mail (250 to DATA), 8 s")
	time.Sleep(8 * time.Second)
	st.Sink.DropAfterData(false)
	st.Sink.Stall(true)
	fault("SMTP server accepts connections and never answers, 8 s")
	time.Sleep(8 * time.Second)
	st.Sink.Stall(false)
	outageStart := time.Now()
	if err := pg.Stop(); err != nil {
		return err
	}
	fault("PostgreSQL stopped (fast shutdown) and restarted")
	time.Sleep(3 * time.Second)
	if err := pg.Start(); err != nil {
		return err
	}
	outageEnd := time.Now()
	fireWG.Wait()
	logf("%d notifications delivered, %d deliveries retried", delivered.Load(), retried.Load())

	// Deadlines: the gateway's status checks fail while the unpaid orders expire.
	st.Midtrans.SetFaults(midtranstest.FaultNone, midtranstest.Fault500)
	fault("fake Midtrans answers 500 on status checks during expiry")
	if _, err := st.Call(ctx, "PUT", "/v1/test/clock", harness.FinanceToken, map[string]string{"now": "2026-11-23T23:59:30+07:00"}, nil); err != nil {
		return err
	}
	if cs, err := readClockSet(ctx, st); err == nil {
		clockSets = append(clockSets, cs)
	}
	time.Sleep(3 * time.Second)
	st.Midtrans.SetFaults(midtranstest.FaultNone, midtranstest.FaultTimeout)
	fault("fake Midtrans hangs on status checks during expiry")
	time.Sleep(2 * time.Second)
	st.Midtrans.SetFaults(midtranstest.FaultNone, midtranstest.FaultNone)

	logf("waiting for lunas to finish the work (asynq recovers the killed worker's tasks up to ~2 min after the SIGKILL)")
	quiet := waitQuiet(st, *wait)
	for id, q := range inFlight {
		if info, err := insp.GetTaskInfo(q, id); err == nil && strings.Contains(info.LastErr, asynq.ErrLeaseExpired.Error()) {
			interrupted[id] = true
		}
	}
	r := check(ctx, st, rd, orders, sentSettle)
	r.interrupted = len(interrupted)
	r.recordP50, r.recordMax = recordLag(ctx, st, clockSets)
	if r.interrupted == 0 {
		// Reported, not failed: which worker holds the tasks in flight is
		// asynq's scheduling (after the Redis fault, work-1 may still be
		// reconnecting), and CI must not fail on it.
		r.notes = append(r.notes, fmt.Sprintf("none of the %d tasks in flight at the SIGKILL was work-1's (asynq recovered none)", len(inFlight)))
	}
	// Mails accepted more than once: excused only when the SIGKILL fell
	// between the SMTP server's 250 and the record, which the sink shows
	// exactly: work-1 sent the mail once, first, before it died, and only
	// other processes sent it again (after its send lease ran out). Any
	// other repeat is a doubled mail.
	for id, d := range acceptedTwice(st) {
		n := d.extra
		if d.firstBy == "work-1" && d.byWork1 == 1 && d.first.Before(killDone) {
			r.killDoubled += n
		} else {
			r.doubledMails += n
			r.problems = append(r.problems, fmt.Sprintf("mail %s accepted %d extra times (first from %s at %s, SIGKILL at %s)",
				id, n, d.firstBy, d.first.Format("15:04:05.000"), killAt.Format("15:04:05.000")))
		}
	}
	// The PostgreSQL outage: answers to deliveries begun during it.
	var during []answer
	for _, a := range answers {
		if !a.at.Before(outageStart) && a.at.Before(outageEnd) {
			during = append(during, a)
		}
	}
	for _, a := range during {
		if a.code == 503 {
			r.outage503++
		}
		r.outageWorst = max(r.outageWorst, a.took)
	}
	r.outageAnswers = len(during)
	if len(during) == 0 {
		r.problems = append(r.problems, "no notification was delivered during the PostgreSQL outage: the fault did not bite")
	} else if r.outage503 == 0 {
		r.problems = append(r.problems, "no 503 during the PostgreSQL outage")
	}
	if r.outageWorst > 3*time.Second {
		r.problems = append(r.problems, fmt.Sprintf("a webhook took %s during the PostgreSQL outage (deadline 2 s)", r.outageWorst.Round(time.Millisecond)))
	}
	r.quiet = quiet
	r.faults = faults
	r.events, r.forged = len(shots), forged
	// The books, proved by lunas itself.
	out, err := st.Run(ctx, "audit")
	r.auditOK = err == nil
	if err != nil {
		r.problems = append(r.problems, "lunas audit: "+err.Error()+"\n"+out)
	}
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

// answer is one delivery of a notification: when it was sent, how long the
// answer took, and its status.
type answer struct {
	at   time.Time
	took time.Duration
	code int
}

// accepted is a mail the SMTP sink accepted more than once.
type accepted struct {
	extra   int       // acceptances beyond the first
	first   time.Time // the first acceptance
	firstBy string    // the process that sent it first (its SMTP login)
	byWork1 int       // acceptances from work-1, the process SIGKILLed
}

// acceptedTwice finds, per mail id, the mails the SMTP sink accepted more
// than once (by Message-ID, which lunas fixes when it records the mail:
// <mail_id.unix@lunas.billing>), with the process behind each acceptance
// (each process logs in to the sink as its own name).
func acceptedTwice(st *harness.Stack) map[string]accepted {
	seen := map[string]accepted{}
	for _, m := range st.Sink.Messages() {
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			continue
		}
		id := strings.Trim(msg.Header.Get("Message-Id"), "<>")
		if i := strings.IndexByte(id, '.'); i > 0 {
			id = id[:i]
		}
		a, ok := seen[id]
		if !ok {
			a = accepted{extra: -1, first: m.At, firstBy: m.User}
		}
		a.extra++
		if m.At.Before(a.first) {
			a.first, a.firstBy = m.At, m.User
		}
		if m.User == "work-1" {
			a.byWork1++
		}
		seen[id] = a
	}
	out := map[string]accepted{}
	for id, a := range seen {
		if a.extra > 0 {
			out[id] = a
		}
	}
	return out
}

// clockSet is one move of the test clock: from set (the database's time
// of the move) on, the service clock runs offset ahead of the wall clock.
type clockSet struct {
	set    time.Time
	offset time.Duration
}

// readClockSet reads the test clock's last move, exactly as lunas reads it.
func readClockSet(ctx context.Context, st *harness.Stack) (clockSet, error) {
	var cs clockSet
	var off int64
	err := st.Pool.QueryRow(ctx, `SELECT set_at, offset_ns FROM test_clock WHERE id = 1`).Scan(&cs.set, &off)
	cs.offset = time.Duration(off)
	return cs, err
}

// recordLag measures the window in which a crash sends a mail twice: from
// the SMTP server's 250 (the sink's clock, as it keeps the message) to the
// record of the mail as sent (mails.sent_at, the service clock's now when
// the server's 250 came, on the same machine), over every mail sent once.
// sent_at is on the test clock the suite moves, so each is taken back to
// the wall clock with the offset in force when the mail was accepted;
// mails accepted within 2 s of a move (either offset may apply) are left
// out.
func recordLag(ctx context.Context, st *harness.Stack, sets []clockSet) (p50, longest time.Duration) {
	first := map[string]time.Time{}
	times := map[string]int{}
	for _, m := range st.Sink.Messages() {
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			continue
		}
		id := msg.Header.Get("Message-Id")
		times[id]++
		if t, ok := first[id]; !ok || m.At.Before(t) {
			first[id] = m.At
		}
	}
	rows, err := st.Pool.Query(ctx, `SELECT message_id, sent_at FROM mails WHERE status = 'sent'`)
	if err != nil {
		return 0, 0
	}
	defer rows.Close()
	var lags []time.Duration
	for rows.Next() {
		var id string
		var sent time.Time
		if rows.Scan(&id, &sent) == nil {
			if at, ok := first[id]; ok && times[id] == 1 {
				if off, ok := offsetAt(sets, at); ok {
					lags = append(lags, sent.Add(-off).Sub(at))
				}
			}
		}
	}
	if len(lags) == 0 {
		return 0, 0
	}
	slices.Sort(lags)
	return lags[len(lags)/2], lags[len(lags)-1]
}

// offsetAt is the test clock's offset in force at wall time at; false when
// at is before the first move or within 2 s of one.
func offsetAt(sets []clockSet, at time.Time) (time.Duration, bool) {
	var off time.Duration
	found := false
	for _, cs := range sets {
		if d := at.Sub(cs.set); d > -2*time.Second && d < 2*time.Second {
			return 0, false
		}
		if !cs.set.After(at) {
			off, found = cs.offset, true
		}
	}
	return off, found
}

// relabel rewrites a notification's transaction_status, keeping its
// signature: the forgery Midtrans's signature does not prevent.
func relabel(body []byte, status string) []byte {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return body
	}
	m["transaction_status"] = status
	out, _ := json.Marshal(m)
	return out
}

// count runs a counting query; -1 when it fails (waitQuiet's loop only).
func count(st *harness.Stack, sql string, args ...any) int {
	var n int
	if err := st.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

// count runs a counting query for the report; a failed query is a problem
// that fails the run, never a number that could cancel another.
func (r *report) count(st *harness.Stack, sql string, args ...any) int {
	var n int
	if err := st.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		r.problems = append(r.problems, "query failed: "+err.Error())
		r.queryErrors++
		return 0
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
	faults                                                                         []string
	events, forged                                                                 int
	quiet, auditOK                                                                 bool
	queryErrors                                                                    int
	refunded, lostReversals, doubledReversals, lostRefundMails, doubledRefundMails int
	forgedCredited, doubleNotFlagged                                               int
	paid, expired, other                                                           int
	lostPayments, doubledPayments                                                  int
	lostCredits, doubledCredits                                                    int
	lostMails, doubledMails, strayMails                                            int
	wrongState, balanceMismatch, orphanPost                                        int
	undoneOutbox, undoneEvents, unsentMails                                        int
	archived                                                                       int
	interrupted, killDoubled                                                       int
	denyAfterExpiry                                                                int
	recordP50, recordMax                                                           time.Duration
	outageAnswers, outage503                                                       int
	outageWorst                                                                    time.Duration
	problems, notes                                                                []string
}

func (r *report) ok() bool {
	return r.quiet && r.auditOK && r.outageAnswers > 0 && r.outage503 > 0 && r.outageWorst <= 3*time.Second && r.queryErrors+r.lostReversals+r.doubledReversals+r.lostRefundMails+r.doubledRefundMails+
		r.forgedCredited+r.doubleNotFlagged == 0 && r.lostPayments+r.doubledPayments+r.lostCredits+r.doubledCredits+r.lostMails+r.doubledMails+r.strayMails+
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
		{"notifications sent (duplicates, out-of-order, refunds, chargebacks, forgeries included)", r.events},
		{"forged (relabelled) callbacks among them", r.forged},
		{"orders paid", r.paid}, {"orders refunded", r.refunded}, {"orders expired", r.expired}, {"orders in another state", r.other},
		{"reversals lost", r.lostReversals}, {"reversals doubled", r.doubledReversals},
		{"refund notices lost", r.lostRefundMails}, {"refund notices doubled", r.doubledRefundMails},
		{"orders credited by a forged callback", r.forgedCredited}, {"second payments not flagged double_payment", r.doubleNotFlagged},
		{"report queries that failed", r.queryErrors},
		{"denies confirmed only after their order expired (attempt left expired: forward-only)", r.denyAfterExpiry},
		{"tasks work-1 was inside when SIGKILLed (recovered by asynq: lease expired)", r.interrupted},
		{"mails accepted twice because the SIGKILL fell between the SMTP server's 250 and the record (goal 0)", r.killDoubled},
		{"that window (the SMTP server's 250 to the mail's record), median µs", int(r.recordP50.Microseconds())},
		{"that window, longest µs", int(r.recordMax.Microseconds())},
		{"webhooks answered during the PostgreSQL outage", r.outageAnswers},
		{"of which 503 (the gateway retries)", r.outage503},
		{"slowest webhook answer during the outage, ms", int(r.outageWorst.Milliseconds())},
		{"payments lost", r.lostPayments}, {"payments doubled", r.doubledPayments},
		{"credits lost", r.lostCredits}, {"credits doubled", r.doubledCredits},
		{"confirmation mails lost", r.lostMails}, {"confirmation mails doubled", r.doubledMails}, {"mails to anyone but the requester", r.strayMails},
		{"orders not in the state their events imply", r.wrongState}, {"accounts whose balances differ from their postings", r.balanceMismatch},
		{"postings without a settling event", r.orphanPost}, {"outbox rows undone", r.undoneOutbox}, {"inbox events unprocessed", r.undoneEvents},
		{"mails not sent", r.unsentMails}, {"tasks in the asynq archive", r.archived},
		{"work still undone when the suite stopped waiting (1 = yes)", boolInt(!r.quiet)},
		{"lunas audit failed (1 = yes)", boolInt(!r.auditOK)},
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
	fmt.Printf("\nlunas audit: %s\n", map[bool]string{true: "the books hold (exit 0)", false: "FAILED"}[r.auditOK])
	for _, p := range r.problems {
		fmt.Println("  problem:", p)
	}
	for _, n := range r.notes {
		fmt.Println("  note:", n)
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
	refundMails := map[string]int{}
	seenIDs := map[string]bool{}
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
		// Counted by Message-ID: a mail accepted twice is one mail here and
		// is counted, with its excuse or not, by acceptedTwice.
		if id := msg.Header.Get("Message-Id"); seenIDs[id] {
			continue
		} else {
			seenIDs[id] = true
		}
		subj, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
		if strings.HasPrefix(subj, "Pembayaran diterima") {
			confirmations[m.To[0]]++
		}
		if strings.HasPrefix(subj, "Pembayaran dikembalikan") {
			refundMails[m.To[0]]++
		}
	}
	for _, o := range orders {
		var status string
		if err := st.Pool.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1`, o.ID).Scan(&status); err != nil {
			r.problems = append(r.problems, "read order: "+err.Error())
			r.queryErrors++
		}
		switch status {
		case "paid":
			r.paid++
		case "refunded":
			r.refunded++
		case "expired":
			r.expired++
		default:
			r.other++
		}
		credits := r.count(st, `SELECT count(*) FROM ledger_postings WHERE order_id = $1 AND kind = 'topup' AND balance = 'wa_balance'`, o.ID)
		succeeded := r.count(st, `SELECT count(*) FROM payment_attempts WHERE order_id = $1 AND status = 'succeeded'`, o.ID)
		reversals := r.count(st, `SELECT count(*) FROM reversals WHERE order_id = $1`, o.ID)
		credit := int64(r.count(st, `SELECT coalesce(sum(amount) FILTER (WHERE balance = 'wa_balance'), 0) - coalesce(sum(amount) FILTER (WHERE balance = 'outstanding'), 0)
			FROM ledger_postings WHERE order_id = $1`, o.ID))
		wantStatus, wantSucceeded, wantReversals := "paid", 1, 0
		switch o.plan {
		case planRefund:
			wantStatus, wantReversals = "refunded", 1
		case planChargeback:
			wantReversals = 1
		case planDouble:
			wantSucceeded = 2
		}
		if settled[o.ID] {
			if status != wantStatus {
				r.lostPayments++
				r.problems = append(r.problems, fmt.Sprintf("order %s (plan %d) got a settlement but is %s, want %s", o.ID, o.plan, status, wantStatus))
			}
			if succeeded > wantSucceeded {
				r.doubledPayments++
			}
			switch {
			case credits == 0:
				r.lostCredits++
			case credits > 1:
				r.doubledCredits++
			}
			if credit != o.plan.wantCredit() {
				r.problems = append(r.problems, fmt.Sprintf("order %s (plan %d) left %d on the balance, want %d", o.ID, o.plan, credit, o.plan.wantCredit()))
				r.wrongState++
			}
			switch {
			case reversals < wantReversals:
				r.lostReversals++
			case reversals > wantReversals:
				r.doubledReversals++
			}
			switch c := refundMails[o.Email]; {
			case c < wantReversals:
				r.lostRefundMails++
			case c > wantReversals:
				r.doubledRefundMails++
			}
			switch c := confirmations[o.Email]; {
			case c == 0:
				r.lostMails++
			case c > 1:
				r.doubledMails++
			}
			if o.plan == planDouble && r.count(st, `SELECT count(*) FROM gateway_events WHERE attempt_id = ANY($1) AND flag = 'double_payment'`, []string{o.AttemptID, o.second}) != 1 {
				r.doubleNotFlagged++
				r.problems = append(r.problems, fmt.Sprintf("order %s: the second payment is not flagged double_payment once", o.ID))
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
				if o.plan == planNone {
					r.forgedCredited++
				}
			}
			if o.plan == planNone && r.count(st, `SELECT count(*) FROM gateway_events WHERE attempt_id = $1 AND flag = 'unconfirmed'`, o.AttemptID) != 1 {
				r.wrongState++
				r.problems = append(r.problems, fmt.Sprintf("order %s: the forged callback is not flagged unconfirmed", o.ID))
			}
			if o.plan == planDeny {
				// The deny fails the attempt; but a deny confirmed only after the
				// deadline (its apply task delayed by the faults, the status
				// check at the deadline failing) finds the attempt expired and,
				// states being forward-only, leaves it so, recording the
				// gateway's word on the event. Either is right; anything else
				// (a deny lost, or taken for money) is not.
				failed := r.count(st, `SELECT count(*) FROM payment_attempts WHERE order_id = $1 AND status = 'failed' AND failure_code = 'deny'`, o.ID)
				late := r.count(st, `SELECT count(*) FROM payment_attempts a JOIN gateway_events e ON e.attempt_id = a.id
					WHERE a.order_id = $1 AND a.status = 'expired' AND e.confirmed_status = 'deny' AND e.outcome LIKE 'deny after expired%'`, o.ID)
				switch {
				case failed == 1:
				case failed == 0 && late > 0:
					r.denyAfterExpiry++
				default:
					r.wrongState++
					r.problems = append(r.problems, fmt.Sprintf("order %s: denied attempt not recorded as failed/deny", o.ID))
				}
			}
		}
	}
	r.balanceMismatch = r.count(st, `SELECT count(*) FROM balances a LEFT JOIN LATERAL (
		SELECT coalesce(sum(amount) FILTER (WHERE balance = 'wa_balance'), 0) AS wa, coalesce(sum(amount) FILTER (WHERE balance = 'muv'), 0) AS muv,
		       coalesce(sum(amount) FILTER (WHERE balance = 'outstanding'), 0) AS outstanding FROM ledger_postings p WHERE p.account_id = a.account_id) d ON true
		WHERE a.wa_balance <> d.wa OR a.muv <> d.muv OR a.outstanding <> d.outstanding`)
	r.orphanPost = r.count(st, `SELECT count(*) FROM ledger_postings p WHERE p.order_id IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM gateway_events e WHERE e.order_id = p.order_id AND (e.outcome LIKE 'settled%' OR e.flag = 'reversed'))`)
	r.undoneOutbox = r.count(st, `SELECT count(*) FROM outbox WHERE done_at IS NULL`)
	r.undoneEvents = r.count(st, `SELECT count(*) FROM gateway_events WHERE processed_at IS NULL`)
	r.unsentMails = r.count(st, `SELECT count(*) FROM mails WHERE status <> 'sent'`)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: fmt.Sprintf("127.0.0.1:%d", rd.Port)})
	defer func() { _ = insp.Close() }()
	for _, q := range task.Queues() {
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
