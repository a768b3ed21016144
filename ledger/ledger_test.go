package ledger

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/store"
)

// The ledger's rules, each checked against the cached balances and against
// the balances re-derived from the postings (they must always agree): a
// top-up pays outstanding first and credits an order once; a charge takes
// what the balance holds and owes the rest; a refund pays what is owed
// first; usage never takes a balance below zero, and a refused batch
// leaves nothing behind.
func TestLedgerRules(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, `WITH a AS (INSERT INTO accounts (id, name, created_at, updated_at) VALUES ('acme', 'Acme', $1, $1) RETURNING id)
		INSERT INTO balances (account_id, updated_at) SELECT id, $1 FROM a`, now); err != nil {
		t.Fatal(err)
	}
	order := func(id string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO orders (id, account_id, status, requester_name, requester_email, locale, subtotal, vat, total, created_at, updated_at, tax_base, vat_rate)
			VALUES ($1, 'acme', 'awaiting_payment', 'Sari', 'sari@acme.example', 'id', 1, 0, 1, $2, $2, 1, 0.11)`, id, now); err != nil {
			t.Fatal(err)
		}
	}
	in := func(f func(tx pgx.Tx) error) error {
		return store.InTx(ctx, pool, f)
	}
	want := func(step string, wa, muv, outstanding int64) {
		t.Helper()
		var cached Balances
		if err := pool.QueryRow(ctx, `SELECT wa_balance, muv, outstanding FROM balances WHERE account_id = 'acme'`).Scan(&cached.WABalance, &cached.MUV, &cached.Outstanding); err != nil {
			t.Fatal(err)
		}
		derived, err := Derived(ctx, pool, "acme")
		if err != nil {
			t.Fatal(err)
		}
		w := Balances{WABalance: wa, MUV: muv, Outstanding: outstanding}
		if cached != w || derived != w {
			t.Fatalf("%s: cached %+v, derived from postings %+v, want %+v", step, cached, derived, w)
		}
	}

	// A charge beyond an empty balance is owed.
	if err := in(func(tx pgx.Tx) error {
		_, err := Adjust(ctx, tx, now, "acme", "adj_1", AdjustCharge, 300_000, "late fee")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want("charge on an empty balance", 0, 0, 300_000)

	// A top-up pays what is owed first, the rest is credited.
	order("ord_1")
	if err := in(func(tx pgx.Tx) error { return TopUp(ctx, tx, now, "acme", "ord_1", 1_000_000, 500) }); err != nil {
		t.Fatal(err)
	}
	want("top-up", 700_000, 500, 0)

	// The same order again is a retry, not new money.
	err := in(func(tx pgx.Tx) error { return TopUp(ctx, tx, now, "acme", "ord_1", 1_000_000, 500) })
	if !errors.Is(err, ErrAlreadyCredited) {
		t.Fatalf("second top-up of ord_1: %v, want ErrAlreadyCredited", err)
	}
	want("second top-up refused", 700_000, 500, 0)

	// A charge takes what the balance holds and owes the rest.
	if err := in(func(tx pgx.Tx) error {
		_, err := Adjust(ctx, tx, now, "acme", "adj_2", AdjustCharge, 900_000, "correction")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want("charge beyond the balance", 0, 500, 200_000)

	// A refund pays what is owed first.
	if err := in(func(tx pgx.Tx) error {
		_, err := Adjust(ctx, tx, now, "acme", "adj_3", AdjustRefund, 250_000, "goodwill")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want("refund", 50_000, 500, 0)

	// Usage: a batch the balances cover is posted; one they do not is
	// refused whole, with no posting left.
	usage := func(id int64, wa, muv int64) error {
		return in(func(tx pgx.Tx) error {
			_, err := PostUsage(ctx, tx, now, "acme", []UsagePosting{
				{Balance: BalanceWA, Amount: -wa, Kind: "usage", UsageEventID: id},
				{Balance: BalanceMUV, Amount: -muv, Kind: "usage", UsageEventID: id},
			})
			return err
		})
	}
	if err := usage(1, 50_000, 100); err != nil {
		t.Fatal(err)
	}
	want("usage", 0, 400, 0)
	if err := usage(2, 1, 0); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("usage beyond the balance: %v, want ErrInsufficientFunds", err)
	}
	if err := usage(3, 0, 401); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("visitors beyond the quota: %v, want ErrInsufficientFunds", err)
	}
	want("refused usage", 0, 400, 0)
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger_postings WHERE usage_event_id IN (2, 3)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d postings left by refused usage", n)
	}
	if err := usage(1, 1, 0); err == nil {
		t.Fatal("usage event 1 posted twice")
	}
	want("usage event replayed", 0, 400, 0)
}
