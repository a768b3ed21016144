package order_test

import (
	"testing"

	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/order"
)

// A page of orders costs the same queries whatever its length: the
// orders, then the items and the attempts of the whole page (GET
// /v1/orders?limit=500 once ran two queries per order).
func TestListOrdersQueriesDoNotGrowWithThePage(t *testing.T) {
	e := paytest.New(t)
	e.Account("acme")
	pool, queries := lunastest.Counted(t, e.Pool)
	list := order.New(pool, e.Clock, paytest.Jakarta, lunastest.Logger())
	page := func() (int, int64) {
		t.Helper()
		queries.Store(0)
		orders, _, err := list.ListOrders(e.Ctx, order.ListFilter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range orders {
			if len(o.Items) == 0 {
				t.Fatalf("order %s listed without its items", o.ID)
			}
		}
		return len(orders), queries.Load()
	}
	for range 2 {
		o := e.Confirmed("acme", paytest.WA(1_000_000))
		e.Pay(o.ID, "bca_va")
	}
	n1, q1 := page()
	for range 25 {
		o := e.Confirmed("acme", paytest.WA(1_000_000))
		e.Pay(o.ID, "bca_va")
	}
	n2, q2 := page()
	if n1 != 2 || n2 != 27 {
		t.Fatalf("pages of %d and %d orders, want 2 and 27", n1, n2)
	}
	if q2 != q1 || q1 > 3 {
		t.Errorf("%d orders cost %d queries, %d orders %d; want the same, at most 3", n1, q1, n2, q2)
	}
	orders, _, err := list.ListOrders(e.Ctx, order.ListFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		if len(o.Payments) != 1 {
			t.Errorf("order %s listed with %d attempts, want its 1", o.ID, len(o.Payments))
		}
	}
}
