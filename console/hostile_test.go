package console_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	acc "github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/payment"
)

// A genuinely signed notification with an extra field nested 9,990 levels
// deep (Midtrans signs three fields only) is flagged like any other, and
// the events page shows a bounded view of it: a small page, fast, with the
// signed fields readable.
func TestEventsPageOfADeepBodyIsSmall(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, _, err := e.accounts.Put(ctx, "deep", acc.Input{Name: "PT Deep"}); err != nil {
		t.Fatal(err)
	}
	o := e.confirmed("deep", "budi@deep.example", 1000000)
	a, err := e.payments.CreatePayment(ctx, o.ID, payment.PaymentInput{Method: "bca_va"})
	if err != nil {
		t.Fatal(err)
	}
	short := a.Amount - 10000
	body, err := e.midtrans.Notification(a.ID, "settlement", "", &short)
	if err != nil {
		t.Fatal(err)
	}
	body = append(bytes.TrimSuffix(bytes.TrimSpace(body), []byte("}")),
		[]byte(`,"extra":`+strings.Repeat(`{"a":`, 9990)+`1`+strings.Repeat(`}`, 9990)+`}`)...)
	if code, err := e.midtrans.Send(ctx, body); err != nil || code != 200 {
		t.Fatalf("webhook: %d %v", code, err)
	}
	var id int64
	if err := e.pool.QueryRow(ctx, `SELECT id FROM gateway_events WHERE order_id IS NULL OR order_id = $1 ORDER BY id DESC LIMIT 1`, o.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := e.payments.ApplyEvent(ctx, id, fmt.Sprintf("apply:%d", id)); err != nil {
		t.Fatal(err)
	}
	if e.count(`SELECT count(*) FROM gateway_events WHERE id = $1 AND flag = 'amount_mismatch'`, id) != 1 {
		t.Fatal("the deep event is not flagged")
	}
	c := e.client()
	c.mustSignIn()
	start := time.Now()
	res, page := c.get("/console/events")
	took := time.Since(start)
	if res.StatusCode != 200 || !strings.Contains(page, a.ID) {
		t.Fatalf("events page: %d\n%s", res.StatusCode, tail(page, 2000))
	}
	if len(page) > 256<<10 || took > 2*time.Second {
		t.Errorf("events page with one 20 KB event: %d bytes in %v", len(page), took)
	}
}

// A form value with a NUL (or bytes that are not UTF-8) is a 400 naming
// the field, for every action: PostgreSQL refused the NUL with a 500.
func TestFormTextRefusesNUL(t *testing.T) {
	e := newEnv(t, envOptions{})
	ev := e.flagged("globex")
	c := e.client()
	c.mustSignIn()
	path := "/console/events/" + strconv.FormatInt(ev, 10) + "/resolve"
	for _, note := range []string{"checked\x00", "checked \xff"} {
		res, body := c.post(path, url.Values{"csrf": {c.csrf("/console/events")}, "note": {note}})
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "note: must be UTF-8 text without NUL characters") {
			t.Errorf("note %q: %d\n%s", note, res.StatusCode, tail(body, 1500))
		}
	}
	if n := e.count(`SELECT count(*) FROM gateway_events WHERE resolved_at IS NOT NULL`); n != 0 {
		t.Errorf("%d events resolved", n)
	}
}

// A proof is the customer's file: a PDF proof is served in a CSP sandbox
// with nosniff like an image (a script in it runs in no origin of ours),
// and ?download=1 makes it an attachment; lunas's own proforma is not
// sandboxed.
func TestAProofPDFIsSandboxed(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	paying := e.inReview("acme", "sari@acme.example", 1000000, receipt(t))
	pdf, err := e.docs.Ensure(ctx, paying.ID, "unpaid")
	if err != nil {
		t.Fatal(err)
	}
	o := e.inReview("globex", "budi@globex.example", 1500000, pdf)
	c := e.client()
	c.mustSignIn()
	res, body := c.get("/console/orders/" + o.ID + "/proof")
	csp := res.Header.Get("Content-Security-Policy")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/pdf" || !strings.Contains(csp, "sandbox") ||
		res.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(body, "%PDF") {
		t.Errorf("proof PDF: %d %q, CSP %q, nosniff %q", res.StatusCode, res.Header.Get("Content-Type"), csp, res.Header.Get("X-Content-Type-Options"))
	}
	if res, _ := c.get("/console/orders/" + o.ID + "/proof?download=1"); !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("proof download: %q, CSP %q", res.Header.Get("Content-Disposition"), res.Header.Get("Content-Security-Policy"))
	}
	if res, _ := c.get("/console/orders/" + o.ID + "/proforma.pdf"); res.StatusCode != 200 || strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("proforma: %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	if _, page := c.get("/console/orders/" + o.ID); !strings.Contains(page, "/console/orders/"+o.ID+"/proof?download=1") {
		t.Error("the order page lacks the proof's download link")
	}
}
