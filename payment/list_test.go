package payment_test

import (
	"reflect"
	"testing"

	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/order"
)

// A page of the orders list carries each order's own items and attempts
// (read for the whole page at once, two queries): the same as reading
// each order alone.
func TestListOrdersCarriesEachOrdersItemsAndAttempts(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	e.Account("globex")
	a := e.Confirmed("acme", paytest.WA(1_000_000))
	e.Pay(a.ID, gateway.MethodBCAVA)
	e.Pay(a.ID, gateway.MethodBNIVA)
	b := e.Confirmed("globex", paytest.WA(2_000_000))
	c := e.Confirmed("acme", paytest.WA(3_000_000))
	e.Pay(c.ID, gateway.MethodBCAVA)

	list, _, err := e.Orders.ListOrders(e.Ctx, order.ListFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("%d orders listed, want 3", len(list))
	}
	want := map[string]int{a.ID: 2, b.ID: 0, c.ID: 1}
	for _, o := range list {
		alone := e.Order(o.ID)
		if !reflect.DeepEqual(o.Items, alone.Items) || len(o.Items) == 0 {
			t.Errorf("%s: listed items %+v, alone %+v", o.ID, o.Items, alone.Items)
		}
		if !reflect.DeepEqual(o.Payments, alone.Payments) || len(o.Payments) != want[o.ID] || o.Payments == nil {
			t.Errorf("%s: listed attempts %+v, alone %+v (want %d)", o.ID, o.Payments, alone.Payments, want[o.ID])
		}
	}
}
