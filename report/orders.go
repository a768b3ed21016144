package report

import (
	"time"

	"github.com/lunas-id/lunas/order"
)

// OrdersTable is a list of orders as finance exports it (the API's
// `GET /v1/orders` with Accept: text/csv, `GET /v1/orders.xlsx`, and the
// console's orders page): one row per order with its invoice, requester,
// amounts in rupiah and times in loc.
func OrdersTable(orders []*order.Order, loc *time.Location) Table {
	t := Table{Sheet: "Orders", Columns: []string{"invoice_number", "order_id", "account_id", "status", "requester_name", "requester_email",
		"issued_at", "expires_at", "paid_at", "subtotal", "vat", "total", "payable", "refunded_amount"}}
	at := func(p *time.Time) any {
		if p == nil {
			return nil
		}
		return p.In(loc)
	}
	for _, o := range orders {
		number := ""
		if o.InvoiceNumber != nil {
			number = *o.InvoiceNumber
		}
		t.Rows = append(t.Rows, []any{number, o.ID, o.AccountID, string(o.Status), o.Requester.Name, o.Requester.Email,
			at(o.IssuedAt), at(o.ExpiresAt), at(o.PaidAt), o.Subtotal, o.VAT, o.Total, o.Payable, o.RefundedAmount})
	}
	return t
}
