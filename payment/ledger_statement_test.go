package payment_test

import (
	"testing"

	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/ledger"
)

// The ledger reads as a statement: each posting carries the balance right
// after it, the newest equals the account's balance, each older one is
// the next one's less its movement, and pages agree with the whole list.
func TestLedgerRunningBalance(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	for _, n := range []int64{1_000_000, 2_000_000, 3_000_000} {
		o := e.Confirmed("acme", paytest.WA(n), paytest.MUV(500))
		a := e.Pay(o.ID, gateway.MethodBCAVA)
		e.Deliver(a.ID, "settlement", "", nil)
	}
	half := int64(1_110_000)
	o := e.Confirmed("acme", paytest.WA(2_000_000))
	a := e.Pay(o.ID, gateway.MethodBCAVA)
	e.Deliver(a.ID, "settlement", "", nil)
	e.Deliver(a.ID, "refund", "", &half)

	all, err := e.Accounts.Ledger(e.Ctx, "acme", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	cached, _ := e.Balances("acme")
	current := map[string]int64{ledger.BalanceWA: cached.WABalance, ledger.BalanceMUV: cached.MUV, ledger.BalanceOutstanding: cached.Outstanding}
	next := map[string]*ledger.Posting{}
	for i := range all {
		p := &all[i]
		if n := next[p.Balance]; n == nil {
			if p.BalanceAfter != current[p.Balance] {
				t.Errorf("newest %s posting %d: balance after %d, the account has %d", p.Balance, p.ID, p.BalanceAfter, current[p.Balance])
			}
		} else if p.BalanceAfter != n.BalanceAfter-n.Amount {
			t.Errorf("%s posting %d: balance after %d, want %d (the next, %d, less its %d)", p.Balance, p.ID, p.BalanceAfter, n.BalanceAfter-n.Amount, n.ID, n.Amount)
		}
		next[p.Balance] = p
	}
	if len(all) < 8 {
		t.Fatalf("%d postings, want at least 8", len(all))
	}
	var paged []ledger.Posting
	for before := int64(0); ; {
		page, err := e.Accounts.Ledger(e.Ctx, "acme", before, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		before = page[len(page)-1].ID
	}
	for i := range all {
		if i >= len(paged) || paged[i].ID != all[i].ID || paged[i].BalanceAfter != all[i].BalanceAfter {
			t.Fatalf("page %d differs from the whole list", i)
		}
	}
}
