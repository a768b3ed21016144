package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/console"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/whatsapptest"
	"github.com/lunas-id/lunas/invoice"
	ord "github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/report"
	"github.com/lunas-id/lunas/sending"
	"github.com/lunas-id/lunas/subscription"
)

type subscriptionAnswer struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	DueDay        int    `json:"due_day"`
	NextDueDate   string `json:"next_due_date"`
	NextIssueDate string `json:"next_issue_date"`
}

type sendingAnswer struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Total    int    `json:"total"`
	Sent     int    `json:"sent"`
	Failed   int    `json:"failed"`
	Skipped  int    `json:"skipped"`
	Channels map[string]struct {
		Sent, Failed, Skipped int
	} `json:"channels"`
}

// get does a GET with an Accept header and returns the status and body.
func (s *stack) get(path, token, accept string) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func (s *stack) waitSending(id string, timeout time.Duration) sendingAnswer {
	s.t.Helper()
	var p sendingAnswer
	lunastest.Eventually(s.t, timeout, "sending "+id+" to be done", func() bool {
		s.call("GET", "/v1/sendings/"+id, financeToken, nil, &p)
		return p.Status == "done"
	})
	return p
}

// Acceptance 1 (two work processes, the sweeper firing several times a
// second), 2 (a subscription invoice paid through a VA at the fake
// Midtrans), 3 (the report over HTTP) and 4 (a sending, twice).
func TestSubscriptionsEndToEnd(t *testing.T) {
	t.Parallel()
	wa := whatsapptest.New("wa-token")
	waSrv := httptest.NewServer(wa)
	t.Cleanup(waSrv.Close)
	s := startStack(t, stackOptions{workers: 2, env: map[string]string{
		"LUNAS_WHATSAPP_URL": waSrv.URL + "/send", "LUNAS_WHATSAPP_TOKEN": "wa-token", "LUNAS_WHATSAPP_RATE": "100"}})
	s.setClock("2026-12-14T23:58:30+07:00")
	s.account("isp")
	if code := s.call("PUT", "/v1/plans/home-20", financeToken, map[string]any{"name": "Internet 20 Mbps", "amount": 250000, "vat": true, "lead_days": 5}, nil); code != 201 {
		t.Fatalf("put plan: %d", code)
	}
	const n = 12
	var subs []subscriptionAnswer
	for i := range n {
		customer := map[string]any{"name": fmt.Sprintf("Pelanggan %d", i), "email": fmt.Sprintf("cust%d@rumah.example", i)}
		if i != 0 {
			customer["phone"] = fmt.Sprintf("0812000000%02d", i)
		}
		var x subscriptionAnswer
		if code := s.call("POST", "/v1/subscriptions", appToken, map[string]any{"account_id": "isp", "plan_id": "home-20",
			"customer": customer, "first_due_date": "2026-12-20"}, &x); code != 201 {
			t.Fatalf("create subscription: %d", code)
		}
		if x.NextIssueDate != "2026-12-15" || x.DueDay != 20 || x.Status != "active" {
			t.Fatalf("subscription %+v", x)
		}
		subs = append(subs, x)
	}
	time.Sleep(time.Second) // several sweeps of both work processes before midnight
	if c := s.count(`SELECT count(*) FROM orders`); c != 0 {
		t.Fatalf("%d invoices before 00:00", c)
	}
	s.setClock("2026-12-15T00:00:00+07:00")
	lunastest.Eventually(t, 20*time.Second, "the invoices to be issued", func() bool {
		return s.count(`SELECT count(*) FROM orders WHERE subscription_id IS NOT NULL`) == n
	})
	time.Sleep(time.Second) // more sweeps: still one invoice per period
	if c := s.count(`SELECT count(*) FROM orders`); c != n {
		t.Fatalf("%d invoices for %d subscriptions", c, n)
	}
	if c := s.count(`SELECT count(*) FROM invoices i JOIN orders o ON o.id = i.order_id
		WHERE (i.issued_at AT TIME ZONE 'Asia/Jakarta')::date = '2026-12-15' AND i.expires_at IS NULL`); c != n {
		t.Errorf("%d invoices issued on 2026-12-15 without a deadline", c)
	}
	s.settled(60 * time.Second)

	var orderID string
	if err := s.pool.QueryRow(t.Context(), `SELECT id FROM orders WHERE requester_email = 'cust1@rumah.example'`).Scan(&orderID); err != nil {
		t.Fatal(err)
	}
	var o struct {
		order
		SubscriptionID string `json:"subscription_id"`
		DueDate        string `json:"due_date"`
		ExpiresAt      *string
	}
	s.call("GET", "/v1/orders/"+orderID, appToken, nil, &o)
	if o.SubscriptionID != subs[1].ID || o.DueDate != "2026-12-20" || o.Status != "awaiting_payment" || o.Total != 277_500 || o.InvoiceNumber == "" {
		t.Fatalf("order %+v", o)
	}
	// The billing mail: to the customer only, UNPAID PDF attached, with plan, period and due date.
	var billing *parsed
	for _, m := range s.sink.Messages() {
		p := parse(t, m)
		if len(p.rcpt) == 1 && p.rcpt[0] == "cust1@rumah.example" {
			billing = &p
		}
	}
	if billing == nil || len(billing.to) != 1 || len(billing.cc)+len(billing.bcc) != 0 {
		t.Fatalf("billing mail %+v", billing)
	}
	pdf := billing.attachments[o.InvoiceNumber+".pdf"]
	// No render job of its own: the billing mail rendered the UNPAID
	// proforma and stored it with the record of the mail sent — the very
	// bytes it attached.
	var stored []byte
	if err := s.pool.QueryRow(t.Context(), `SELECT pdf FROM documents WHERE order_id = $1 AND kind = 'unpaid'`, orderID).Scan(&stored); err != nil || !bytes.Equal(stored, pdf) {
		t.Errorf("stored UNPAID proforma (%d bytes, err %v) is not the attachment (%d bytes)", len(stored), err, len(pdf))
	}
	if n := s.count(`SELECT count(*) FROM outbox WHERE task_type = 'pdf:render'`); n != 0 {
		t.Errorf("%d render jobs at month start, want none", n)
	}
	text := lunastest.PDFText(t, pdf)
	for _, want := range []string{"BELUM DIBAYAR", "Internet 20 Mbps", "2026-12", "20-12-2026", "Jatuh tempo"} {
		if !strings.Contains(text, want) {
			t.Errorf("UNPAID PDF lacks %q:\n%s", want, text)
		}
	}

	// Paid through a BCA VA at the fake Midtrans: paid, nothing credited,
	// the confirmation with the PAID PDF to the customer only.
	var a attempt
	// Counted before the attempt opens: its instructions mail may be sent
	// before the call returns (a commit kicks the outbox relay at once).
	before := len(s.sink.Messages())
	if code := s.call("POST", "/v1/orders/"+orderID+"/payments", appToken, map[string]string{"method": "bca_va"}, &a); code != 201 {
		t.Fatalf("payment: %d", code)
	}
	if a.ExpiresAt != "2026-12-20T23:59:00+07:00" {
		t.Errorf("VA expires %s", a.ExpiresAt)
	}
	body, err := s.midtrans.Notification(a.ID, "settlement", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := s.midtrans.Send(t.Context(), body); err != nil || code != 200 {
		t.Fatalf("notify: %d %v", code, err)
	}
	lunastest.Eventually(t, 20*time.Second, "the order to be paid", func() bool { return s.order(orderID).Status == "paid" })
	s.settled(30 * time.Second)
	if b := s.balances("isp"); b.Balances.WABalance != 0 || b.Balances.MUV != 0 || b.Balances.Outstanding != 0 {
		t.Errorf("balances %+v", b.Balances)
	}
	msgs := s.sink.Messages()[before:]
	if len(msgs) != 2 {
		t.Fatalf("%d mails at payment, want 2 (how to pay the VA, confirmation)", len(msgs))
	}
	var conf parsed
	for _, m := range msgs {
		if p := parse(t, m); strings.HasPrefix(p.subject, "Pembayaran diterima") {
			conf = p
		} else if !strings.HasPrefix(p.subject, "Cara membayar") || len(p.rcpt) != 1 || p.rcpt[0] != "cust1@rumah.example" {
			t.Errorf("unexpected mail %q to %v", p.subject, p.rcpt)
		}
	}
	if len(conf.rcpt) != 1 || conf.rcpt[0] != "cust1@rumah.example" || !strings.Contains(lunastest.PDFText(t, conf.attachments[o.InvoiceNumber+".pdf"]), "LUNAS") {
		t.Errorf("confirmation %+v", conf.rcpt)
	}

	// The overdue report on 2026-12-23: 11 invoices, 3 days overdue.
	s.setClock("2026-12-23T10:00:00+07:00")
	var rep struct {
		AsOf string `json:"as_of"`
		Rows []struct {
			OrderID     string `json:"order_id"`
			DueDate     string `json:"due_date"`
			DaysOverdue int    `json:"days_overdue"`
			Amount      int64  `json:"amount"`
		} `json:"rows"`
		Total struct {
			Count  int   `json:"count"`
			Amount int64 `json:"amount"`
		} `json:"total"`
	}
	if code := s.call("GET", "/v1/reports/overdue", financeToken, nil, &rep); code != 200 {
		t.Fatalf("report: %d", code)
	}
	if rep.AsOf != "2026-12-23" || len(rep.Rows) != n-1 || rep.Rows[0].DaysOverdue != 3 || rep.Rows[0].DueDate != "2026-12-20" || rep.Total.Amount != (n-1)*277_500 {
		t.Errorf("report %+v", rep)
	}
	code, csvBody := s.get("/v1/reports/overdue?as_of=2026-12-21&min_days=1", financeToken, "text/csv")
	recs, err := csv.NewReader(bytes.NewReader(csvBody)).ReadAll()
	if code != 200 || err != nil || len(recs) != n || recs[0][11] != "days_overdue" || recs[1][11] != "1" {
		t.Errorf("csv %d %v %v", code, err, recs)
	}
	code, xlsx := s.get("/v1/reports/overdue.xlsx", financeToken, "")
	f, err := excelize.OpenReader(bytes.NewReader(xlsx))
	if code != 200 || err != nil {
		t.Fatalf("xlsx %d %v", code, err)
	}
	if v, _ := f.GetCellValue("Overdue", fmt.Sprintf("A%d", n+1)); v != "Total" {
		t.Errorf("totals row: %q", v)
	}
	f.Close()

	// A reminder to every overdue invoice by mail and WhatsApp.
	before = len(s.sink.Messages())
	var p sendingAnswer
	in := map[string]any{"filter": map[string]any{"overdue": true}, "channels": []string{"email", "whatsapp"}, "message": "reminder"}
	if code := s.call("POST", "/v1/sendings", financeToken, in, &p); code != 202 || p.Total != 2*(n-1) || p.Status != "running" {
		t.Fatalf("sending: %d %+v", code, p)
	}
	p = s.waitSending(p.ID, 60*time.Second)
	if p.Sent != 2*(n-1)-1 || p.Skipped != 1 || p.Failed != 0 || p.Channels["email"].Sent != n-1 || p.Channels["whatsapp"].Skipped != 1 {
		t.Errorf("progress %+v", p)
	}
	// The same again on the same day: nothing is sent twice.
	var again sendingAnswer
	s.call("POST", "/v1/sendings", financeToken, in, &again)
	again = s.waitSending(again.ID, 60*time.Second)
	if again.Sent != 0 || again.Skipped != again.Total {
		t.Errorf("second sending %+v", again)
	}
	s.settled(30 * time.Second)
	if got := len(wa.Messages()); got != n-2 || wa.Duplicates() != 0 {
		t.Errorf("WhatsApp got %d messages, %d duplicates", got, wa.Duplicates())
	}
	reminders := 0
	for _, m := range s.sink.Messages()[before:] {
		if p := parse(t, m); strings.Contains(p.subject, "Pengingat") && len(p.rcpt) == 1 {
			reminders++
		}
	}
	if reminders != n-1 {
		t.Errorf("%d reminder mails", reminders)
	}
	if msg := wa.Messages()[0]; !strings.Contains(msg.Message, "INV-2026-") || !strings.Contains(msg.Message, "Rp277.500") ||
		!strings.Contains(msg.Message, "20-12-2026") || !strings.Contains(msg.Message, "/proforma.pdf?expires=") ||
		!strings.Contains(msg.Message, s.base+"/pay/") {
		t.Errorf("WhatsApp message %q", msg.Message)
	}

	// The finance console's adapters give it the same data the API gives.
	ctx := t.Context()
	clk := clock.NewFixed(time.Date(2026, 12, 23, 10, 0, 0, 0, jakartaZone(t)))
	orders := ord.New(s.pool, clk, jakartaZone(t), lunastest.Logger())
	invoices := invoice.New(s.pool, orders, invoice.DefaultCatalog(), lunastest.Logger())
	reports := consoleReports{report.New(s.pool, clk, jakartaZone(t))}
	cr, err := reports.Overdue(ctx, console.OverdueFilter{AsOf: "2026-12-23"})
	if err != nil || cr.AsOf != "2026-12-23" || len(cr.Rows) != len(rep.Rows) || cr.Amount != rep.Total.Amount || cr.Rows[0].DaysOverdue != 3 {
		t.Errorf("console report %+v (%v), API report %+v", cr, err, rep.Total)
	}
	var book bytes.Buffer
	if err := reports.WriteXLSX(ctx, &book, console.OverdueFilter{AsOf: "2026-12-23"}); err != nil {
		t.Fatal(err)
	}
	if wb, err := excelize.OpenReader(&book); err != nil {
		t.Errorf("console XLSX: %v", err)
	} else if i, err := wb.GetSheetIndex("Overdue"); err != nil || i < 0 {
		t.Errorf("console XLSX has no sheet Overdue: %d %v", i, err)
	}
	list, err := consoleSubscriptions{subscription.New(s.pool, invoices, clk, jakartaZone(t), lunastest.Logger())}.List(ctx, console.SubscriptionFilter{Limit: 100})
	if err != nil || len(list) != n {
		t.Errorf("console subscriptions: %d (%v), want %d", len(list), err, n)
	}
	recent, err := consoleSendings{sending.New(sending.Options{Pool: s.pool, Orders: orders, Logger: lunastest.Logger()})}.Recent(ctx, 10)
	if err != nil || len(recent) != 2 || recent[1].ID != p.ID || recent[1].Status != "done" {
		t.Errorf("console sendings %+v (%v)", recent, err)
	}
}

func jakartaZone(t *testing.T) *time.Location {
	t.Helper()
	l, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
