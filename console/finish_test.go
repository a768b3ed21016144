package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	acc "github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/review"
)

// The order page warns, as the review queue does, when the proof's
// declared amount is not what is to be paid; the ledger reads as a
// statement (kinds in words, the balance after each posting).
func TestOrderPageWarnsOfAProofAmountAndTheLedgerRunsItsBalance(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, _, err := e.accounts.Put(ctx, "acme", acc.Input{Name: "PT Acme"}); err != nil {
		t.Fatal(err)
	}
	o := e.confirmed("acme", "sari@acme.example", 1_000_000)
	if _, err := e.reviews.SubmitProof(ctx, o.ID, review.ProofInput{File: receipt(t), Amount: o.Payable - 10_000,
		TransferredAt: e.clock.Now().Add(-20 * time.Minute), SenderBank: "BCA", SenderName: "Sari Dewi"}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.mustSignIn()
	_, body := c.get("/console/orders/" + o.ID)
	if !strings.Contains(body, "Rp1.100.000 ≠ Rp1.110.000") {
		t.Errorf("the order page does not warn of the proof's amount:\n%s", tail(body, 3000))
	}
	paid := e.confirmed("acme", "sari@acme.example", 1_000_000)
	a, err := e.payments.CreatePayment(ctx, paid.ID, payment.PaymentInput{Method: "bca_va"})
	if err != nil {
		t.Fatal(err)
	}
	note, err := e.midtrans.Notification(a.ID, "settlement", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := e.midtrans.Send(ctx, note); err != nil || code != 200 {
		t.Fatalf("webhook: %d %v", code, err)
	}
	var id int64
	if err := e.pool.QueryRow(ctx, `SELECT id FROM gateway_events ORDER BY id DESC LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if !e.worker {
		if err := e.payments.ApplyEvent(ctx, id, fmt.Sprintf("apply:%d", id)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "the top-up to be posted", func() bool {
		return e.count(`SELECT count(*) FROM ledger_postings WHERE account_id = 'acme'`) > 0
	})
	_, body = c.get("/console/accounts/acme")
	if !strings.Contains(body, "Saldo setelahnya") || !strings.Contains(body, "isi saldo") || !strings.Contains(body, "Rp1.000.000</td>") {
		t.Errorf("the ledger has no running balance column:\n%s", tail(body, 3000))
	}
}

// Finance finds orders by invoice number, requester and dates on the
// orders page and downloads what it shows.
func TestOrdersPageSearchesAndExports(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, _, err := e.accounts.Put(ctx, "acme", acc.Input{Name: "PT Acme"}); err != nil {
		t.Fatal(err)
	}
	sari := e.confirmed("acme", "sari@acme.example", 1_000_000)
	budi := e.confirmed("acme", "budi@acme.example", 2_000_000)
	c := e.client()
	c.mustSignIn()
	_, body := c.get("/console/orders?q=budi%40acme")
	if !strings.Contains(body, budi.ID) || strings.Contains(body, sari.ID) {
		t.Errorf("search by requester:\n%s", tail(body, 2000))
	}
	_, body = c.get("/console/orders?q=" + *sari.InvoiceNumber)
	if !strings.Contains(body, sari.ID) || strings.Contains(body, budi.ID) {
		t.Errorf("search by invoice number:\n%s", tail(body, 2000))
	}
	if !strings.Contains(body, "/console/orders.csv?status=&amp;account_id=&amp;q="+*sari.InvoiceNumber) {
		t.Errorf("no export link keeping the filter:\n%s", tail(body, 2000))
	}
	_, body = c.get("/console/orders?from=2000-01-01&to=2000-01-02")
	if strings.Contains(body, sari.ID) || strings.Contains(body, budi.ID) {
		t.Errorf("orders outside the dates listed")
	}
	res, csvBody := c.get("/console/orders.csv?q=acme.example")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(csvBody, *sari.InvoiceNumber) || !strings.Contains(csvBody, *budi.InvoiceNumber) {
		t.Errorf("csv export: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), csvBody)
	}
	if res, _ := c.get("/console/orders.xlsx?q=budi"); res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "spreadsheetml") {
		t.Errorf("xlsx export: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// The review queue shows each account's earlier transfers as finance
// decided them beside the new proof.
func TestReviewQueueShowsEarlierTransfers(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	first := e.inReview("acme", "sari@acme.example", 1_000_000, receipt(t))
	if _, err := e.reviews.Review(ctx, first.ID, "finance@acme.example", review.ReviewInput{Decision: review.Accept}); err != nil {
		t.Fatal(err)
	}
	second := e.inReview("acme", "sari@acme.example", 2_000_000, receipt(t))
	c := e.client()
	c.mustSignIn()
	_, body := c.get("/console/reviews")
	i := strings.Index(body, `id="review-`+second.ID+`"`)
	if i < 0 {
		t.Fatalf("the second order is not in the queue:\n%s", tail(body, 2000))
	}
	card := body[i:]
	if !strings.Contains(card, *first.InvoiceNumber) || !strings.Contains(card, "diterima") || !strings.Contains(card, "Rp1.110.000") {
		t.Errorf("the queue does not show the account's earlier transfer:\n%s", tail(card, 3000))
	}
}
