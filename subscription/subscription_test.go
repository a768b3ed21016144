package subscription_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/subscription"
)

func ptr[T any](v T) *T { return &v }

func setup(t *testing.T) (*paytest.Env, *subscription.Service) {
	t.Helper()
	e := paytest.New(t)
	e.Account("isp")
	subs := subscription.New(e.Pool, e.Invoices, e.Clock, paytest.Jakarta, lunastest.Logger())
	if _, _, err := subs.PutPlan(e.Ctx, "home-20", subscription.PlanInput{Name: "Internet 20 Mbps", Amount: ptr[int64](250_000), VAT: ptr(true), LeadDays: ptr(5)}); err != nil {
		t.Fatal(err)
	}
	return e, subs
}

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04:05", s, paytest.Jakarta)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func create(t *testing.T, e *paytest.Env, subs *subscription.Service, first string) *subscription.Subscription {
	t.Helper()
	x, err := subs.Create(e.Ctx, subscription.CreateInput{AccountID: "isp", PlanID: "home-20", FirstDueDate: first,
		Customer: subscription.Customer{Name: "Budi", Email: "budi@rumah.example", Phone: ptr("0812-3456-7890")}})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// invoices lists a subscription's invoices as due dates, oldest first.
func invoices(t *testing.T, e *paytest.Env, subID string) []string {
	t.Helper()
	rows, err := e.Pool.Query(e.Ctx, `SELECT to_char(due_date, 'YYYY-MM-DD') FROM orders WHERE subscription_id = $1 ORDER BY due_date`, subID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		_ = rows.Scan(&d)
		out = append(out, d)
	}
	return out
}

func issue(t *testing.T, e *paytest.Env, subs *subscription.Service, now string) int {
	t.Helper()
	e.Clock.Set(at(t, now))
	n, err := subs.IssueDue(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIssuedAtMidnightOnDueDateMinusLeadDays(t *testing.T) {
	e, subs := setup(t)
	e.Clock.Set(at(t, "2026-11-22 10:00:00"))
	x := create(t, e, subs, "2026-12-20") // lead 5: issue 2026-12-15 00:00 WIB
	if x.NextIssueDate.Format(time.DateOnly) != "2026-12-15" || x.DueDay != 20 {
		t.Fatalf("next issue %s, due day %d", x.NextIssueDate, x.DueDay)
	}
	if n := issue(t, e, subs, "2026-12-14 23:59:59"); n != 0 {
		t.Fatalf("issued %d at 23:59:59 the day before", n)
	}
	if n := issue(t, e, subs, "2026-12-15 00:00:00"); n != 1 {
		t.Fatalf("issued %d at 00:00:00", n)
	}
	// The scheduler firing again and again issues nothing more.
	for range 3 {
		if n := issue(t, e, subs, "2026-12-15 00:00:01"); n != 0 {
			t.Fatalf("issued %d more", n)
		}
	}
	var id string
	if err := e.Pool.QueryRow(e.Ctx, `SELECT id FROM orders WHERE subscription_id = $1`, x.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	o := e.Order(id)
	if o.Status != order.StatusAwaitingPayment || o.InvoiceNumber == nil || o.ExpiresAt != nil || o.DueDate == nil || *o.DueDate != "2026-12-20" {
		t.Fatalf("order %+v", o)
	}
	if !o.IssuedAt.Equal(at(t, "2026-12-15 00:00:00")) {
		t.Errorf("issued at %s", o.IssuedAt.In(paytest.Jakarta))
	}
	if len(o.Items) != 1 || o.Items[0].Product != "subscription" || *o.Items[0].PlanID != "home-20" || *o.Items[0].Period != "2026-12" ||
		o.Items[0].Amount != 250_000 || o.Subtotal != 250_000 || o.VAT != 27_500 || o.Total != 277_500 {
		t.Errorf("items %+v totals %d %d %d", o.Items, o.Subtotal, o.VAT, o.Total)
	}
	if o.Requester.Email != "budi@rumah.example" {
		t.Errorf("requester %+v", o.Requester)
	}
	if n := e.Count(`SELECT count(*) FROM mails WHERE order_id = $1 AND kind = 'billing' AND to_addr = 'budi@rumah.example'`, id); n != 1 {
		t.Errorf("%d billing mails", n)
	}
	if n := e.Count(`SELECT count(*) FROM outbox WHERE id = $1`, "expire:"+id); n != 0 {
		t.Error("an expiry was scheduled for a subscription invoice")
	}
	got, _ := subs.Get(e.Ctx, x.ID)
	if got.NextDueDate.Format(time.DateOnly) != "2027-01-20" {
		t.Errorf("next due %s", got.NextDueDate)
	}
	// Long past its due date it is still payable: overdue, not expired.
	e.Clock.Set(at(t, "2027-01-05 10:00:00"))
	if _, err := e.Payments.Sweep(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if o := e.Order(id); o.Status != order.StatusAwaitingPayment {
		t.Errorf("status %s after the sweep", o.Status)
	}
}

func TestMonthEndClamping(t *testing.T) {
	e, subs := setup(t)
	e.Clock.Set(at(t, "2027-01-01 10:00:00"))
	x := create(t, e, subs, "2027-01-31")
	for _, day := range []string{"2027-01-26", "2027-02-23", "2027-03-26", "2027-04-25"} {
		issue(t, e, subs, day+" 00:00:00")
	}
	want := []string{"2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"}
	if got := invoices(t, e, x.ID); len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("due dates %v, want %v", got, want)
	}
	if subscription.NextDueDate(time.Date(2028, 1, 31, 0, 0, 0, 0, time.UTC), 31).Format(time.DateOnly) != "2028-02-29" {
		t.Error("leap February")
	}
}

func TestPauseAndEndStopIssuing(t *testing.T) {
	e, subs := setup(t)
	e.Clock.Set(at(t, "2026-11-22 10:00:00"))
	x := create(t, e, subs, "2026-12-20")
	if _, err := subs.Patch(e.Ctx, x.ID, subscription.PatchInput{Status: ptr[subscription.Status]("paused")}); err != nil {
		t.Fatal(err)
	}
	if n := issue(t, e, subs, "2026-12-15 00:00:00"); n != 0 {
		t.Fatalf("paused subscription issued %d", n)
	}
	// Resumed after its due date: December is not billed, January is.
	e.Clock.Set(at(t, "2026-12-21 09:00:00"))
	if _, err := subs.Patch(e.Ctx, x.ID, subscription.PatchInput{Status: ptr[subscription.Status]("active")}); err != nil {
		t.Fatal(err)
	}
	issue(t, e, subs, "2027-01-15 00:00:00")
	if _, err := subs.Patch(e.Ctx, x.ID, subscription.PatchInput{Status: ptr[subscription.Status]("ended")}); err != nil {
		t.Fatal(err)
	}
	issue(t, e, subs, "2027-02-15 00:00:00")
	issue(t, e, subs, "2027-03-15 00:00:00")
	if got := invoices(t, e, x.ID); len(got) != 1 || got[0] != "2027-01-20" {
		t.Errorf("invoices %v", got)
	}
	if _, err := subs.Patch(e.Ctx, x.ID, subscription.PatchInput{Status: ptr[subscription.Status]("active")}); err == nil {
		t.Error("an ended subscription was resumed")
	}
}

func TestLateSubscriptionInvoicedAtOnce(t *testing.T) {
	e, subs := setup(t)
	e.Clock.Set(at(t, "2026-12-17 14:00:00"))
	x := create(t, e, subs, "2026-12-20") // issue moment 2026-12-15 has passed
	if got := invoices(t, e, x.ID); len(got) != 1 || got[0] != "2026-12-20" {
		t.Fatalf("invoices at creation %v", got)
	}
	if x.NextDueDate.Format(time.DateOnly) != "2027-01-20" {
		t.Errorf("next due %s", x.NextDueDate)
	}
	if n := issue(t, e, subs, "2026-12-17 14:00:01"); n != 0 {
		t.Errorf("issued %d again", n)
	}
}

func TestConcurrentIssuersIssueOncePerPeriod(t *testing.T) {
	e, subs := setup(t)
	e.Clock.Set(at(t, "2026-11-22 10:00:00"))
	var ids []string
	for range 120 {
		ids = append(ids, create(t, e, subs, "2026-12-20").ID)
	}
	e.Clock.Set(at(t, "2026-12-15 00:00:00"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other := subscription.New(e.Pool, e.Invoices, e.Clock, paytest.Jakarta, lunastest.Logger())
			for range 3 {
				n, err := other.IssueDue(e.Ctx)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if total != 120 || e.Count(`SELECT count(*) FROM orders WHERE subscription_id IS NOT NULL`) != 120 ||
		e.Count(`SELECT count(DISTINCT number) FROM invoices`) != 120 {
		t.Errorf("issued %d", total)
	}
	// The due-day bulk move: all to the 5th; January's period stays billed.
	moved, err := subs.MoveDueDay(e.Ctx, ids[:3], 5)
	if err != nil {
		t.Fatal(err)
	}
	if moved[0].DueDay != 5 || moved[0].NextDueDate.Format(time.DateOnly) != "2027-01-05" || moved[0].NextIssueDate.Format(time.DateOnly) != "2026-12-31" {
		t.Errorf("moved %+v", moved[0])
	}
}

func TestPaidSubscriptionInvoiceCreditsNothing(t *testing.T) {
	e, subs := setup(t)
	e.Clock.Set(at(t, "2026-12-17 14:00:00"))
	x := create(t, e, subs, "2026-12-20")
	var id string
	if err := e.Pool.QueryRow(e.Ctx, `SELECT id FROM orders WHERE subscription_id = $1`, x.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	a := e.Pay(id, gateway.MethodBCAVA)
	if a.ExpiresAt == nil || !a.ExpiresAt.Equal(at(t, "2026-12-20 23:59:00")) {
		t.Errorf("VA expires %v, want the due date 23:59", a.ExpiresAt)
	}
	tx, _ := e.Midtrans.Tx(a.ID)
	if !tx.ExpiryTime.Equal(at(t, "2026-12-20 23:59:00")) {
		t.Errorf("gateway expiry %s", tx.ExpiryTime)
	}
	// Overdue: the next VA expires at 23:59 of the next day.
	e.Clock.Set(at(t, "2026-12-22 08:00:00"))
	b := e.Pay(id, gateway.MethodBNIVA)
	if !b.ExpiresAt.Equal(at(t, "2026-12-23 23:59:00")) {
		t.Errorf("overdue VA expires %v", b.ExpiresAt)
	}
	e.Deliver(b.ID, "settlement", "", nil)
	o := e.Order(id)
	if o.Status != order.StatusPaid {
		t.Fatalf("status %s", o.Status)
	}
	cached, derived := e.Balances("isp")
	if cached != derived || cached.WABalance != 0 || cached.MUV != 0 || cached.Outstanding != 0 {
		t.Errorf("balances %+v derived %+v", cached, derived)
	}
	if n := e.Count(`SELECT count(*) FROM ledger_postings WHERE order_id = $1`, id); n != 0 {
		t.Errorf("%d postings for a subscription invoice", n)
	}
	if n := e.Count(`SELECT count(*) FROM mails WHERE order_id = $1 AND kind = 'confirmation' AND to_addr = 'budi@rumah.example'`, id); n != 1 {
		t.Errorf("%d confirmations to the customer", n)
	}
}

// One subscription that cannot be issued does not hold back the others of
// its batch: the batch tried without savepoints is rolled back and issued
// again a savepoint each, the failing one skipped (and issued once it can
// be), the others issued once, with gap-free invoice numbers. The failure
// is PostgreSQL's own: a trigger refuses that subscription's order.
func TestOneFailingSubscriptionDoesNotHoldBackItsBatch(t *testing.T) {
	e, subs := setup(t)
	e.Clock.Set(at(t, "2026-11-22 10:00:00"))
	var ids []string
	for range 5 {
		ids = append(ids, create(t, e, subs, "2026-12-20").ID)
	}
	bad := ids[2]
	refuse(t, e, bad)
	if n := issue(t, e, subs, "2026-12-15 00:00:00"); n != 4 {
		t.Fatalf("issued %d, want the 4 that can be", n)
	}
	for _, id := range ids {
		want := 1
		if id == bad {
			want = 0
		}
		if got := len(invoices(t, e, id)); got != want {
			t.Errorf("subscription %s: %d invoices, want %d", id, got, want)
		}
	}
	if _, err := e.Pool.Exec(e.Ctx, `DELETE FROM refused`); err != nil {
		t.Fatal(err)
	}
	if n := issue(t, e, subs, "2026-12-15 00:05:00"); n != 1 {
		t.Fatalf("once it can be: issued %d, want 1", n)
	}
	var n, maxSeq int
	if err := e.Pool.QueryRow(e.Ctx, `SELECT count(*), max(right(number, 6)::int) FROM invoices i JOIN orders o ON o.id = i.order_id
		WHERE o.subscription_id IS NOT NULL`).Scan(&n, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if n != 5 || maxSeq != 5 {
		t.Errorf("%d invoices numbered up to %d, want 5 and 5 (no gap from the rolled-back try)", n, maxSeq)
	}
}

// More failing subscriptions than a batch holds do not keep the issuer
// going round: a subscription that failed is not claimed again in the same
// run, so the ones behind them are issued and the run ends.
func TestFailingSubscriptionsDoNotFillEveryBatch(t *testing.T) {
	e, subs := setup(t)
	e.Clock.Set(at(t, "2026-11-22 10:00:00"))
	var ids []string
	for range 55 {
		ids = append(ids, create(t, e, subs, "2026-12-20").ID)
	}
	// The 52 first in the issuer's order (due date, then id) fail.
	sorted := append([]string(nil), ids...)
	slices.Sort(sorted)
	refuse(t, e, sorted[:52]...)
	e.Clock.Set(at(t, "2026-12-15 00:00:00"))
	ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
	defer cancel()
	n, err := subs.IssueDue(ctx)
	if err != nil || n != 3 {
		t.Fatalf("issued %d (err %v), want the 3 behind the 52 that fail, and the run to end", n, err)
	}
}

// refuse makes PostgreSQL itself refuse the orders of subscriptions ids (a
// trigger reading the table refused; delete its rows to let them through).
func refuse(t *testing.T, e *paytest.Env, ids ...string) {
	t.Helper()
	if _, err := e.Pool.Exec(e.Ctx, `CREATE TABLE refused (id text PRIMARY KEY);
		CREATE FUNCTION refuse_order() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF EXISTS (SELECT 1 FROM refused WHERE id = NEW.subscription_id) THEN RAISE EXCEPTION 'refused by the test'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_order BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION refuse_order();`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Pool.Exec(e.Ctx, `INSERT INTO refused SELECT unnest($1::text[])`, ids); err != nil {
		t.Fatal(err)
	}
}
