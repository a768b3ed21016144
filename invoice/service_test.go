package invoice_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/order"
)

func TestConfirmIssuesGapFreeNumbersAndDeadline(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	var got []string
	for i := 0; i < 3; i++ {
		o := e.Confirmed("acme", paytest.WA(999_000), paytest.MUV(700))
		got = append(got, *o.InvoiceNumber)
		if want := time.Date(2026, 11, 23, 23, 59, 0, 0, paytest.Jakarta); !o.ExpiresAt.Equal(want) {
			t.Errorf("expires_at = %s, want %s", o.ExpiresAt.In(paytest.Jakarta), want)
		}
		if o.Status != order.StatusAwaitingPayment || o.Total != 1_776_000 {
			t.Errorf("order = %s %d", o.Status, o.Total)
		}
	}
	if fmt.Sprint(got) != "[INV-2026-000001 INV-2026-000002 INV-2026-000003]" {
		t.Errorf("numbers = %v", got)
	}
	_, err := e.Invoices.Confirm(e.Ctx, e.Order(mustLast(t, e)).ID)
	if lunas.KindOf(err) != lunas.KindConflict {
		t.Errorf("second confirm: %v, want conflict", err)
	}
	// Billing mail to the requester, UNPAID render and expiry queued, once per order.
	if n := e.Count(`SELECT count(*) FROM mails WHERE kind = 'billing' AND to_addr = 'sari@acme.example'`); n != 3 {
		t.Errorf("billing mails = %d", n)
	}
	if n := e.Count(`SELECT count(*) FROM outbox WHERE task_type = 'invoice:expire' AND process_at IS NOT NULL`); n != 3 {
		t.Errorf("expiry jobs = %d", n)
	}
}

func mustLast(t *testing.T, e *paytest.Env) string {
	var id string
	if err := e.Pool.QueryRow(e.Ctx, `SELECT id FROM orders ORDER BY created_at DESC, id DESC LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestConcurrentConfirmsAllSucceedWithConsecutiveNumbers is the burst of
// many customers buying at once: 64 confirms at the same moment all
// succeed, and the year's numbers are exactly 1…63, each once (one confirm
// fails and takes no number with it). The rule is that the n-th confirm
// to commit in a year gets number n: a reader looking at the invoices
// during the burst never sees a gap, only 1…k.
func TestConcurrentConfirmsAllSucceedWithConsecutiveNumbers(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	const n = 64
	ids := make([]string, n)
	for i := range ids {
		o, err := e.Invoices.CreateOrder(e.Ctx, invoice.CreateInput{AccountID: "acme",
			Requester: order.Requester{Name: "Sari", Email: fmt.Sprintf("sari-%d@acme.example", i)}, Items: []order.ItemRequest{paytest.WA(1_000_000)}})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = o.ID
	}
	// One of them is cancelled first: its confirm fails (409).
	if _, err := e.Invoices.Cancel(e.Ctx, ids[n/2]); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	var looks, gaps atomic.Int64
	observer := make(chan struct{})
	go func() {
		defer close(observer)
		for !done.Load() {
			var count, top int64
			if err := e.Pool.QueryRow(e.Ctx, `SELECT count(*), coalesce(max(substr(number, 10)::bigint), 0) FROM invoices`).Scan(&count, &top); err != nil {
				t.Error(err)
				return
			}
			looks.Add(1)
			if count != top {
				gaps.Add(1)
			}
		}
	}()
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = e.Invoices.Confirm(e.Ctx, ids[i])
		}()
	}
	close(start)
	wg.Wait()
	done.Store(true)
	<-observer
	for i, err := range errs {
		if i == n/2 {
			if lunas.KindOf(err) != lunas.KindConflict {
				t.Errorf("confirm of the cancelled order: %v, want conflict", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("confirm %d: %v", i, err)
		}
	}
	rows, err := e.Pool.Query(e.Ctx, `SELECT number FROM invoices`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	var want []string
	for i := 1; i < n; i++ {
		want = append(want, fmt.Sprintf("INV-2026-%06d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("numbers = %v\nwant %v", got, want)
	}
	if gaps.Load() > 0 {
		t.Errorf("a reader saw a gap in the numbers %d times of %d looks", gaps.Load(), looks.Load())
	}
	t.Logf("%d looks at the invoices during the burst, none with a gap", looks.Load())
}
