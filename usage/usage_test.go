package usage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/audit"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/tariff"
)

var jakarta = func() *time.Location {
	l, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		panic(err)
	}
	return l
}()

const t0 = "2026-11-22T15:00:00+07:00"

func at(s string, d time.Duration) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.Add(d).In(jakarta).Format(time.RFC3339)
}

type fixture struct {
	t     *testing.T
	pool  *store.DB
	clock *clock.Fixed
	svc   *Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool, _ := lunastest.Pool(t)
	clk := clock.NewFixed(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC))
	return &fixture{t: t, pool: pool, clock: clk, svc: newService(pool, clk)}
}

func newService(pool *store.DB, clk clock.Clock) *Service {
	return New(Options{Pool: pool, Clock: clk, Prices: tariff.MustParse(tariff.Default), Location: jakarta,
		LowBalanceRatio: decimal.RequireFromString("0.4"), Logger: lunastest.Logger()})
}

// account creates an account and tops it up through a paid order, the way
// settlement does (ledger.TopUp), so the alert reference is set too.
func (f *fixture) account(id string, wa, muv int64) {
	f.t.Helper()
	ctx := context.Background()
	now := f.clock.Now()
	if _, err := f.pool.Exec(ctx, `WITH a AS (INSERT INTO accounts (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id)
		INSERT INTO balances (account_id, updated_at) SELECT id, $3 FROM a`, id, "Acme "+id, now); err != nil {
		f.t.Fatal(err)
	}
	if wa > 0 || muv > 0 {
		f.topUp(id, "sari@acme.example", wa, muv)
	}
}

func (f *fixture) topUp(id, requester string, wa, muv int64) {
	f.t.Helper()
	ctx := context.Background()
	now := f.clock.Now()
	oid := store.NewID("ord")
	err := store.InTx(ctx, f.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO orders (id, account_id, status, requester_name, requester_email, locale, subtotal, vat, total, paid_at, created_at, updated_at, tax_base, vat_rate)
			VALUES ($1, $2, 'paid', 'Sari', $3, 'en', $4, 0, $4, $5, $5, $5, $4, 0.11)`, oid, id, requester, wa+muv, now); err != nil {
			return err
		}
		return ledger.TopUp(ctx, tx, now, id, oid, wa, muv)
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) record(acct string, aon bool, evs ...EventInput) Batch {
	f.t.Helper()
	b, err := f.svc.Record(context.Background(), acct, Input{Events: evs, AllOrNothing: aon})
	if err != nil {
		f.t.Fatalf("record: %v", err)
	}
	return b
}

func (f *fixture) balances(acct string) ledger.Balances {
	f.t.Helper()
	var b ledger.Balances
	if err := f.pool.QueryRow(context.Background(), `SELECT wa_balance, muv, outstanding FROM balances WHERE account_id = $1`, acct).
		Scan(&b.WABalance, &b.MUV, &b.Outstanding); err != nil {
		f.t.Fatal(err)
	}
	d, err := ledger.Derived(context.Background(), f.pool, acct)
	if err != nil {
		f.t.Fatal(err)
	}
	if d != b {
		f.t.Fatalf("cached balances %+v differ from the sum of postings %+v", b, d)
	}
	return b
}

func (f *fixture) count(sql string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func send(id, rcpt, cat, when string) EventInput {
	return EventInput{ID: id, Kind: KindSend, Recipient: rcpt, Category: cat, At: when}
}

func expect(t *testing.T, r Result, outcome string, amount int64) {
	t.Helper()
	if r.Outcome != outcome || r.Amount != amount {
		t.Errorf("%s %s: outcome %s amount %d (reason %q); want %s %d", r.ID, r.Kind, r.Outcome, r.Amount, r.Reason, outcome, amount)
	}
}

func TestWindowOfTwentyFourHours(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.account("acme", 1_000_000, 0)
	const rcpt = "+6281234567890"
	b := f.record("acme", false,
		send("m1", rcpt, "marketing", t0),
		send("m2", rcpt, "marketing", at(t0, 24*time.Hour-time.Second)),
		send("u1", rcpt, "utility", at(t0, time.Minute)),
	)
	expect(t, b.Results[0], Charged, 600)
	expect(t, b.Results[1], Free, 0)
	expect(t, b.Results[2], Charged, 300)
	if want := at(t0, 24*time.Hour); b.Results[1].WindowEndsAt == nil || b.Results[1].WindowEndsAt.In(jakarta).Format(time.RFC3339) != want {
		t.Errorf("window_ends_at of the free send = %v, want %s", b.Results[1].WindowEndsAt, want)
	}
	// A separate batch sees the window too; at 24 h + 1 s it has closed.
	b = f.record("acme", false,
		send("m3", rcpt, "marketing", at(t0, 23*time.Hour)),
		send("m4", rcpt, "marketing", at(t0, 24*time.Hour+time.Second)),
		send("m5", rcpt, "marketing", at(t0, 30*time.Hour)),
		send("x1", "+6289999999999", "marketing", t0),
	)
	expect(t, b.Results[0], Free, 0)
	expect(t, b.Results[1], Charged, 600)
	expect(t, b.Results[2], Free, 0) // inside m4's window
	expect(t, b.Results[3], Charged, 600)
	if got := f.balances("acme"); got.WABalance != 1_000_000-600-300-600-600 || b.Balances != got {
		t.Errorf("balances %+v (answer %+v)", got, b.Balances)
	}
	// Every debit is a posting tied to its usage event.
	if n := f.count(`SELECT count(*) FROM ledger_postings p JOIN usage_events e ON e.seq = p.usage_event_id
		WHERE p.kind = 'usage' AND p.amount = -e.amount AND e.outcome = 'charged'`); n != 4 {
		t.Errorf("%d usage postings tied to their events, want 4", n)
	}
}

func TestFailedSendRefundedOrNot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.account("acme", 1_000_000, 0)
	a, b := "+6281111111111", "+6282222222222"
	res := f.record("acme", false,
		send("a1", a, "marketing", t0),
		send("b1", b, "marketing", t0),
		send("b2", b, "marketing", at(t0, time.Hour)), // rides on b1's window
	)
	expect(t, res.Results[0], Charged, 600)
	expect(t, res.Results[1], Charged, 600)
	expect(t, res.Results[2], Free, 0)
	res = f.record("acme", false,
		EventInput{ID: "a1", Kind: KindFailed, At: at(t0, time.Minute)},
		EventInput{ID: "b1", Kind: KindFailed, At: at(t0, time.Minute)},
		EventInput{ID: "zz", Kind: KindFailed, At: at(t0, time.Minute)},
	)
	expect(t, res.Results[0], Refunded, 600)
	expect(t, res.Results[1], Free, 0)
	expect(t, res.Results[2], Rejected, 0)
	if res.Results[1].Reason == "" || res.Results[2].Reason == "" {
		t.Errorf("reasons missing: %+v", res.Results)
	}
	if got := f.balances("acme").WABalance; got != 1_000_000-600 {
		t.Errorf("wa_balance %d after one refund", got)
	}
	// a1's window is closed: the next send to a is charged again.
	res = f.record("acme", false, send("a2", a, "marketing", at(t0, 2*time.Hour)),
		EventInput{ID: "a1", Kind: KindFailed, At: at(t0, time.Minute)})
	expect(t, res.Results[0], Charged, 600)
	if !res.Results[1].Replayed || res.Results[1].Outcome != Refunded {
		t.Errorf("failed replay: %+v", res.Results[1])
	}
	// A send and its failure in one batch.
	res = f.record("acme", false, send("c1", "+6283333333333", "utility", t0), EventInput{ID: "c1", Kind: KindFailed, At: t0})
	expect(t, res.Results[0], Charged, 300)
	expect(t, res.Results[1], Refunded, 300)
	if n := f.count(`SELECT count(*) FROM ledger_postings p JOIN usage_events e ON e.seq = p.usage_event_id
		WHERE p.kind = 'usage_refund' AND e.kind = 'failed' AND e.outcome = 'refunded' AND p.amount = e.amount`); n != 2 {
		t.Errorf("%d refund postings tied to failed events, want 2", n)
	}
	f.balances("acme")
}

func TestReplyNeedsInboundAndIsChargedOncePerWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.account("acme", 1_000_000, 0)
	r := "+6281234567890"
	reply := func(id string, d time.Duration) EventInput {
		return EventInput{ID: id, Kind: KindReply, Recipient: r, At: at(t0, d)}
	}
	res := f.record("acme", false,
		reply("r0", 0),
		EventInput{ID: "in1", Kind: KindInbound, Recipient: r, At: t0},
		reply("r1", time.Hour),
		reply("r2", 2*time.Hour),
		reply("r3", 24*time.Hour+time.Second), // the inbound is older than 24 h
		EventInput{ID: "in2", Kind: KindInbound, Recipient: r, At: at(t0, 30*time.Hour)},
		reply("r4", 30*time.Hour+time.Minute), // r1's service charge window (to 25 h) is over
	)
	expect(t, res.Results[0], Rejected, 0)
	expect(t, res.Results[1], Free, 0)
	expect(t, res.Results[2], Charged, 275)
	expect(t, res.Results[3], Free, 0)
	expect(t, res.Results[4], Rejected, 0)
	expect(t, res.Results[5], Free, 0)
	expect(t, res.Results[6], Charged, 275)
	// A rejected event is not kept: once the inbound is known it counts.
	res = f.record("acme", false, reply("r9", -time.Hour))
	if res.Results[0].Outcome != Rejected || res.Results[0].Replayed {
		t.Errorf("r9: %+v", res.Results[0])
	}
	res = f.record("acme", false, EventInput{ID: "in0", Kind: KindInbound, Recipient: r, At: at(t0, -2*time.Hour)}, reply("r9", -time.Hour))
	expect(t, res.Results[1], Charged, 275)
	if got := f.balances("acme").WABalance; got != 1_000_000-275*3 {
		t.Errorf("wa_balance %d", got)
	}
}

func TestVisitorOncePerCalendarMonth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.account("acme", 0, 3)
	v := func(id, who, when string) EventInput {
		return EventInput{ID: id, Kind: KindVisitor, Visitor: who, At: when}
	}
	res := f.record("acme", false,
		v("v1", "cookie-1", "2026-11-30T23:00:00+07:00"),
		v("v2", "cookie-1", "2026-11-30T23:30:00+07:00"),
		v("v3", "cookie-1", "2026-12-01T00:10:00+07:00"), // 30 Nov 17:10 UTC, but December in Jakarta
		v("v4", "cookie-2", "2026-11-15T10:00:00+07:00"),
		v("v5", "cookie-3", "2026-11-15T10:00:00+07:00"), // the quota is spent
	)
	expect(t, res.Results[0], Charged, 1)
	expect(t, res.Results[1], Free, 0)
	expect(t, res.Results[2], Charged, 1)
	expect(t, res.Results[3], Charged, 1)
	expect(t, res.Results[4], Blocked, 0)
	// Another batch in the same months.
	res = f.record("acme", false, v("v6", "cookie-1", "2026-12-20T10:00:00+07:00"), v("v7", "cookie-2", "2026-11-01T00:00:00+07:00"))
	expect(t, res.Results[0], Free, 0)
	expect(t, res.Results[1], Free, 0)
	if b := f.balances("acme"); b.MUV != 0 {
		t.Errorf("muv %d", b.MUV)
	}
	sum, err := f.svc.Summary(context.Background(), "acme", mustTime("2026-11-01T00:00:00+07:00"), mustTime("2026-12-01T00:00:00+07:00"))
	if err != nil || sum.Visitors != 2 {
		t.Errorf("November visitors %d, %v", sum.Visitors, err)
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestBlockedAndAllOrNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.account("acme", 1000, 0)
	broadcast := []EventInput{
		send("b1", "+6281000000001", "marketing", t0),
		send("b2", "+6281000000002", "marketing", t0),
		send("b3", "+6281000000003", "marketing", t0),
	}
	_, err := f.svc.Record(context.Background(), "acme", Input{Events: broadcast, AllOrNothing: true})
	var ie *InsufficientError
	if !errors.As(err, &ie) || ie.Required != 1800 || ie.Available != 1000 || ie.Balance != ledger.BalanceWA {
		t.Fatalf("all_or_nothing: %v %+v", err, ie)
	}
	if n := f.count(`SELECT count(*) FROM usage_events`); n != 0 || f.balances("acme").WABalance != 1000 {
		t.Errorf("the refused broadcast left %d events, balance %d", n, f.balances("acme").WABalance)
	}
	res := f.record("acme", false, append(broadcast, send("u1", "+6281000000004", "utility", t0))...)
	expect(t, res.Results[0], Charged, 600)
	expect(t, res.Results[1], Blocked, 0)
	expect(t, res.Results[2], Blocked, 0)
	expect(t, res.Results[3], Charged, 300)
	if res.Balances.WABalance != 100 {
		t.Errorf("balance %d", res.Balances.WABalance)
	}
	// Blocked events are not kept: after a top-up the same events charge.
	f.topUp("acme", "sari@acme.example", 1_000_000, 0)
	res = f.record("acme", true, broadcast...)
	if res.Results[0].Replayed != true || res.Results[1].Outcome != Charged || res.Results[1].Replayed || res.Results[2].Outcome != Charged {
		t.Errorf("after top-up: %+v", res.Results)
	}
	f.balances("acme")
}

func TestReplaysMoveNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.account("acme", 1_000_000, 5)
	batch := []EventInput{
		send("s1", "+6281234567890", "authentication", t0),
		EventInput{ID: "i1", Kind: KindInbound, Recipient: "+6281234567891", At: t0},
		EventInput{ID: "r1", Kind: KindReply, Recipient: "+6281234567891", At: at(t0, time.Minute)},
		EventInput{ID: "v1", Kind: KindVisitor, Visitor: "cookie", At: t0},
		send("s1", "+6281234567890", "authentication", t0), // the same event twice in one batch
	}
	first := f.record("acme", false, batch...)
	expect(t, first.Results[0], Charged, 440)
	expect(t, first.Results[2], Charged, 275)
	expect(t, first.Results[3], Charged, 1)
	if !first.Results[4].Replayed || first.Results[4].Outcome != Charged || first.Results[4].Amount != 440 {
		t.Errorf("duplicate in batch: %+v", first.Results[4])
	}
	bal := f.balances("acme")
	postings := f.count(`SELECT count(*) FROM ledger_postings`)
	again := f.record("acme", false, batch...)
	for i, r := range again.Results {
		if !r.Replayed || r.Outcome != first.Results[i].Outcome || r.Amount != first.Results[i].Amount {
			t.Errorf("replay %d: %+v, first %+v", i, r, first.Results[i])
		}
	}
	if f.balances("acme") != bal || f.count(`SELECT count(*) FROM ledger_postings`) != postings {
		t.Error("a replay moved money")
	}
}

func TestMalformedEventFailsTheBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.account("acme", 1_000_000, 0)
	_, err := f.svc.Record(context.Background(), "acme", Input{Events: []EventInput{
		send("ok", "+6281234567890", "marketing", t0),
		{ID: "k", Kind: "sent", Recipient: "+6281234567890", At: t0},
		send("e", "081234567890", "marketing", t0),
		send("a", "+6281234567890", "marketing", ""),
		send("c", "+6281234567890", "promo", t0),
		{ID: "v", Kind: KindVisitor, At: t0},
	}})
	var ve *lunas.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	want := map[string]bool{"events[1].kind": true, "events[2].recipient": true, "events[3].at": true, "events[4].category": true, "events[5].visitor": true}
	for _, fe := range ve.Fields {
		delete(want, fe.Field)
	}
	if len(want) != 0 {
		t.Errorf("fields not named: %v (got %+v)", want, ve.Fields)
	}
	if n := f.count(`SELECT count(*) FROM usage_events`); n != 0 || f.balances("acme").WABalance != 1_000_000 {
		t.Error("a malformed batch applied something")
	}
	if _, err := f.svc.Record(context.Background(), "nobody", Input{Events: []EventInput{send("x", "+6281234567890", "marketing", t0)}}); lunas.KindOf(err) != lunas.KindNotFound {
		t.Errorf("unknown account: %v", err)
	}
}

// TestConcurrentSendsNeverOversell is acceptance 1's 1,000 concurrent sends
// on a balance for 300, through two services with pools of their own (two
// serve processes), and acceptance 3's balances = Σ postings afterwards.
func TestConcurrentSendsNeverOversell(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.account("acme", 300*600, 0)
	other, err := store.Open(context.Background(), poolURL(t, f.pool), 20)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	svcs := []*Service{f.svc, newService(other, f.clock)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := svcs[i%2].Record(context.Background(), "acme", Input{Events: []EventInput{
				send(fmt.Sprintf("wamid.%d", i), fmt.Sprintf("+62812%08d", i), "marketing", t0)}})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				outcomes["error: "+err.Error()]++
				return
			}
			outcomes[b.Results[0].Outcome]++
		}()
	}
	wg.Wait()
	if outcomes[Charged] != 300 || outcomes[Blocked] != 700 || len(outcomes) != 2 {
		t.Errorf("outcomes %v, want 300 charged and 700 blocked", outcomes)
	}
	b := f.balances("acme") // also checks balances = Σ postings
	if b.WABalance != 0 {
		t.Errorf("wa_balance %d, want 0", b.WABalance)
	}
	if n := f.count(`SELECT count(*) FROM ledger_postings WHERE kind = 'usage' AND amount = -600`); n != 300 {
		t.Errorf("%d debits, want 300", n)
	}
	// lunas audit's rules on these books: balances = Σ postings, and every
	// posting names a usage event that exists. (The fixture's top-up order
	// is made by hand, without items or an attempt, so the order rules
	// are not asked here; the end-to-end test audits everything.)
	rep, err := audit.Run(context.Background(), f.pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if (c.Name == "balances" || c.Name == "postings_have_a_source") && (c.Failed != 0 || c.Checked == 0) {
			var b strings.Builder
			rep.Print(&b)
			t.Errorf("audit %s: %d of %d failed\n%s", c.Name, c.Failed, c.Checked, b.String())
		}
	}
}

func poolURL(t *testing.T, p *store.DB) string {
	t.Helper()
	return p.Config().ConnString()
}

func TestReconciliation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.account("acme", 1_000_000, 0)
	f.record("acme", false,
		send("n1", "+6281000000001", "marketing", "2026-11-10T10:00:00+07:00"),
		send("n2", "+6281000000002", "utility", "2026-11-30T23:59:00+07:00"),
		send("n3", "+6281000000003", "marketing", "2026-11-12T10:00:00+07:00"),
		EventInput{ID: "n3", Kind: KindFailed, At: "2026-11-12T10:01:00+07:00"},
		send("d1", "+6281000000004", "marketing", "2026-12-01T00:00:00+07:00"), // December in Jakarta
	)
	ctx := context.Background()
	billed := func(n int64) *int64 { return &n }
	if _, _, err := f.svc.Reconcile(ctx, "acme", "finance:x", ReconcileInput{Period: "2026-11", Billed: billed(1000)}); lunas.KindOf(err) != lunas.KindInvalid {
		t.Errorf("a month not yet over: %v", err)
	}
	f.clock.Set(time.Date(2027, 1, 5, 3, 0, 0, 0, time.UTC))
	before := f.balances("acme").WABalance
	rec, created, err := f.svc.Reconcile(ctx, "acme", "finance:x", ReconcileInput{Period: "2026-11", Billed: billed(1000), Reference: "META-2026-11"})
	if err != nil || !created {
		t.Fatal(err, created)
	}
	if rec.Charged != 900 || rec.Difference != 100 || rec.Adjustment == nil || rec.Adjustment.Kind != "charge" || rec.Adjustment.Amount != 100 {
		t.Errorf("charge reconciliation: %+v %+v", rec, rec.Adjustment)
	}
	if got := f.balances("acme").WABalance; got != before-100 {
		t.Errorf("balance %d after a charge of 100 from %d", got, before)
	}
	if n := f.count(`SELECT count(*) FROM ledger_postings WHERE reconciliation_id = $1 AND adjustment_id = $2`, rec.ID, rec.Adjustment.ID); n != 1 {
		t.Errorf("%d postings tied to the reconciliation", n)
	}
	again, created, err := f.svc.Reconcile(ctx, "acme", "finance:x", ReconcileInput{Period: "2026-11", Billed: billed(1000), Reference: "META-2026-11"})
	if err != nil || created || again.ID != rec.ID || again.Difference != 100 || again.Adjustment.ID != rec.Adjustment.ID {
		t.Errorf("repeat: %+v created %v err %v", again, created, err)
	}
	if _, _, err := f.svc.Reconcile(ctx, "acme", "finance:x", ReconcileInput{Period: "2026-11", Billed: billed(999), Reference: "META-2026-11"}); lunas.KindOf(err) != lunas.KindConflict {
		t.Errorf("another body: %v", err)
	}
	if got := f.balances("acme").WABalance; got != before-100 {
		t.Errorf("balance moved on a repeat: %d", got)
	}
	rec, _, err = f.svc.Reconcile(ctx, "acme", "finance:x", ReconcileInput{Period: "2026-12", Billed: billed(500)})
	if err != nil || rec.Charged != 600 || rec.Difference != -100 || rec.Adjustment.Kind != "refund" || rec.Adjustment.Amount != 100 {
		t.Errorf("refund reconciliation: %+v %v", rec, err)
	}
	rec, _, err = f.svc.Reconcile(ctx, "acme", "finance:x", ReconcileInput{Period: "2026-10", Billed: billed(0)})
	if err != nil || rec.Difference != 0 || rec.Adjustment != nil {
		t.Errorf("nothing to reconcile: %+v %v", rec, err)
	}
	if got := f.balances("acme").WABalance; got != before {
		t.Errorf("balance %d, want %d after +100 and -100", got, before)
	}
}

func TestLowBalanceAlertOncePerCrossing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.account("acme", 10_000, 0) // reference 10,000: threshold 4,000
	var alerted []string
	f.svc.Alerted = func(b string) { alerted = append(alerted, b) }
	if _, err := f.pool.Exec(context.Background(), `UPDATE accounts SET billing_email = 'billing@acme.example' WHERE id = 'acme'`); err != nil {
		t.Fatal(err)
	}
	spend := func(from, n int) {
		evs := make([]EventInput, n)
		for i := range evs {
			evs[i] = send(fmt.Sprintf("s%d", from+i), fmt.Sprintf("+62813%08d", from+i), "marketing", t0)
		}
		f.record("acme", false, evs...)
	}
	spend(0, 10) // 10,000 → 4,000: not below
	if n := f.count(`SELECT count(*) FROM mails`); n != 0 {
		t.Fatalf("%d mails at the threshold", n)
	}
	spend(10, 1) // 3,400: crossed
	spend(11, 2) // further spending: no second mail
	var to, kind string
	if err := f.pool.QueryRow(context.Background(), `SELECT to_addr, kind FROM mails`).Scan(&to, &kind); err != nil || to != "billing@acme.example" || kind != "low_balance" {
		t.Fatalf("alert mail: %s %s %v", to, kind, err)
	}
	al, _ := f.svc.Alerts(context.Background(), "acme")
	if a := al[ledger.BalanceWA]; a.Threshold == nil || *a.Threshold != 4000 || a.AlertedAt == nil {
		t.Errorf("alerts %+v", al)
	}
	// The next top-up re-arms it (reference 2,200 + 10,000: threshold 4,880).
	f.topUp("acme", "sari@acme.example", 10_000, 0)
	if al, _ := f.svc.Alerts(context.Background(), "acme"); al[ledger.BalanceWA].AlertedAt != nil || *al[ledger.BalanceWA].Threshold != 4880 {
		t.Errorf("after top-up: %+v", al)
	}
	spend(13, 13) // 12,200 → 4,400
	if n := f.count(`SELECT count(*) FROM mails`); n != 2 || len(alerted) != 2 {
		t.Errorf("%d mails, %d alerts counted; want 2", n, len(alerted))
	}
	if n := f.count(`SELECT count(*) FROM outbox WHERE task_type = 'mail:send'`); n != 2 {
		t.Errorf("%d mail tasks", n)
	}
}
