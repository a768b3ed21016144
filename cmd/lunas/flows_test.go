package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/mailtest"
)

func TestOVOPaymentEndToEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{workers: 1})
	s.account("acme")

	// Declined in the OVO app: the attempt fails with the code, the order stays payable, a VA still settles it.
	o := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
	var a attempt
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "ovo", "phone": "08123456789"}, &a); code != 201 {
		t.Fatalf("ovo attempt: %d", code)
	}
	ch, ok := s.xendit.Charge(a.ID)
	if !ok || ch.Props["mobile_number"] != "+628123456789" || ch.ChannelCode != "ID_OVO" || ch.Amount != 1_110_000 || a.Status != "pending" {
		t.Fatalf("xendit got %+v (ok %v); attempt %+v", ch, ok, a)
	}
	if err := s.xendit.Notify(context.Background(), a.ID, "FAILED", "USER_DECLINED_PAYMENT", 1); err != nil {
		t.Fatal(err)
	}
	lunastest.Eventually(t, 10*time.Second, "attempt failed", func() bool {
		p := s.order(o.ID).Payments
		return len(p) == 1 && p[0].Status == "failed"
	})
	got := s.order(o.ID)
	if got.Status != "awaiting_payment" || got.Payments[0].FailureCode != "USER_DECLINED_PAYMENT" {
		t.Errorf("after FAILED: order %s, failure code %q", got.Status, got.Payments[0].FailureCode)
	}
	var va attempt
	s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "mandiri_bill"}, &va)
	if err := s.midtrans.Notify(context.Background(), va.ID, "settlement", "", 1); err != nil {
		t.Fatal(err)
	}
	lunastest.Eventually(t, 10*time.Second, "paid by Mandiri bill", func() bool { return s.order(o.ID).Status == "paid" })

	// SUCCEEDED delivered 20 times at once: paid once, one confirmation mail.
	o2 := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
	var a2 attempt
	s.call("POST", "/v1/orders/"+o2.ID+"/payments", appToken, map[string]string{"method": "ovo", "phone": "+62 812-3456-7890"}, &a2)
	body, err := s.xendit.Callback(a2.ID, "SUCCEEDED", "")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := ""
			if i%2 == 0 {
				id = "wh-1" // half carry the webhook-id, half do not
			}
			if code, err := s.xendit.Send(context.Background(), body, ovoToken, id); err != nil || code != 200 {
				t.Errorf("callback: %d %v", code, err)
			}
		}(i)
	}
	wg.Wait()
	lunastest.Eventually(t, 10*time.Second, "paid by OVO", func() bool { return s.order(o2.ID).Status == "paid" })
	s.settled(20 * time.Second)
	if b := s.balances("acme"); b.Balances.WABalance != 2_000_000 {
		t.Errorf("wa balance %d, want 2,000,000", b.Balances.WABalance)
	}
	confirmations := 0
	for _, m := range s.sink.Messages() {
		p := parse(t, m)
		if strings.Join(p.rcpt, ",") != "sari@acme.example" {
			t.Errorf("mail to %v", p.rcpt)
		}
		if strings.HasPrefix(p.subject, "Pembayaran diterima") {
			confirmations++
		}
	}
	if confirmations != 2 {
		t.Errorf("%d confirmation mails, want 2 (one per paid order)", confirmations)
	}
	// Bad phone → 400 naming the field.
	o3 := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
	var p problemBody
	if code := s.call("POST", "/v1/orders/"+o3.ID+"/payments", appToken, map[string]string{"method": "ovo", "phone": "12345"}, &p); code != 400 || p.Errors[0].Field != "phone" {
		t.Errorf("bad phone: %d %+v", code, p)
	}
}

type problemBody struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

func TestCardPaymentsEndToEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{workers: 1})
	s.account("acme")
	o := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
	// Refused by the gateway: 502 with its message, attempt recorded as failed.
	var p problemBody
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "credit_card", "card_token": "tok-refuse"}, &p); code != 502 || !strings.Contains(p.Detail, "Token id") {
		t.Errorf("refused card: %d %+v", code, p)
	}
	if got := s.order(o.ID); len(got.Payments) != 1 || got.Payments[0].Status != "failed" {
		t.Errorf("refused attempt not recorded as failed: %+v", got.Payments)
	}
	// Captured without 3-D Secure: paid at once, with the card fee.
	var a attempt
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "credit_card", "card_token": "tok-capture"}, &a); code != 201 {
		t.Fatalf("card: %d", code)
	}
	if a.Fee != 38_850 || a.Amount != 1_148_850 || a.Status != "succeeded" {
		t.Errorf("card attempt %+v", a)
	}
	if got := s.order(o.ID); got.Status != "paid" {
		t.Errorf("order %s", got.Status)
	}
	// The capture notification that follows is a duplicate of the charge response.
	if err := s.midtrans.Notify(context.Background(), a.ID, "capture", "accept", 3); err != nil {
		t.Fatal(err)
	}
	s.settled(20 * time.Second)
	if n := s.count(`SELECT count(*) FROM ledger_postings WHERE order_id = $1`, o.ID); n != 1 {
		t.Errorf("postings = %d", n)
	}
	// The PAID proforma shows the card fee and the total with it.
	res, err := s.client.Get(s.base + "/v1/orders/" + o.ID + "/proforma.pdf")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("PDF without token: %d", res.StatusCode)
	}
	for _, q := range []string{"expires=4102444800&sig=00", "expires=946684800&sig=" + strings.Repeat("0", 64)} {
		res, err := s.client.Get(s.base + "/v1/orders/" + o.ID + "/proforma.pdf?" + q)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 403 {
			t.Errorf("tampered or expired link %q: %d, want 403", q, res.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", s.base+"/v1/orders/"+o.ID+"/proforma.pdf", nil)
	req.Header.Set("Authorization", "Bearer "+appToken)
	res, err = s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := io.ReadAll(res.Body)
	res.Body.Close()
	txt := pdfText(t, pdf)
	for _, want := range []string{o.InvoiceNumber, "Rp38.850", "Rp1.148.850", "LUNAS", "Kartu kredit", "WIB"} {
		if !strings.Contains(txt, want) {
			t.Errorf("PDF lacks %q:\n%s", want, txt)
		}
	}
}

func TestManualTransferEndToEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{workers: 1})
	s.account("acme")
	o := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
	var a struct {
		BankAccount map[string]string `json:"bank_account"`
		Reference   string            `json:"payment_reference"`
	}
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "manual_transfer"}, &a); code != 201 || a.BankAccount["number"] == "" || a.Reference != o.InvoiceNumber {
		t.Fatalf("manual attempt: %d %+v", code, a)
	}
	png := lunastest.ProofPNG(t)
	upload := func(file []byte, fields map[string]string) (int, problemBody) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		if file != nil {
			fw, _ := mw.CreateFormFile("file", "../../../etc/passwd.png") // the client's name is never used
			fw.Write(file)
		}
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		mw.Close()
		req, _ := http.NewRequest("POST", s.base+"/v1/orders/"+o.ID+"/proof", &buf)
		req.Header.Set("Authorization", "Bearer "+appToken)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		res, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var p problemBody
		b, _ := io.ReadAll(res.Body)
		_ = jsonUnmarshal(b, &p)
		return res.StatusCode, p
	}
	good := map[string]string{"amount": "1110000", "transferred_at": "2026-11-22T09:00:00+07:00", "sender_bank": "BCA", "sender_name": "Sari Dewi"}
	if code, p := upload([]byte("<html>not an image</html>"), good); code != 400 || p.Errors[0].Field != "file" {
		t.Errorf("HTML as .png: %d %+v", code, p)
	}
	// A header is not a document (the finish issue's 17-byte "PDF").
	for name, file := range map[string][]byte{"a 17-byte PDF": []byte("%PDF-1.4\n%garbage"), "a PNG signature and zeros": []byte("\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 64))} {
		if code, p := upload(file, good); code != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "file" || !strings.Contains(p.Errors[0].Message, "not a readable") {
			t.Errorf("%s: %d %+v", name, code, p)
		}
	}
	if code, _ := upload(append(png, make([]byte, 6<<20)...), good); code != 413 {
		t.Errorf("6 MiB: %d", code)
	}
	if code, p := upload(png, map[string]string{"amount": "x"}); code != 400 || len(p.Errors) != 4 {
		t.Errorf("missing fields: %d %+v", code, p)
	}
	if n := s.count(`SELECT count(*) FROM proofs`); n != 0 {
		t.Fatalf("%d proofs stored by refused uploads", n)
	}
	if code, _ := upload(png, good); code != 200 {
		t.Fatalf("upload: %d", code)
	}
	var inReview struct {
		Data []order `json:"data"`
	}
	s.call("GET", "/v1/orders?status=in_review", financeToken, nil, &inReview)
	if len(inReview.Data) != 1 || inReview.Data[0].ID != o.ID {
		t.Fatalf("in_review list: %+v", inReview)
	}
	req, _ := http.NewRequest("GET", s.base+"/v1/orders/"+o.ID+"/proof", nil)
	req.Header.Set("Authorization", "Bearer "+financeToken)
	res, _ := s.client.Do(req)
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Equal(got, png) || res.Header.Get("Content-Type") != "image/png" {
		t.Errorf("proof download: %d bytes, %s", len(got), res.Header.Get("Content-Type"))
	}
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="proof-`+o.ID+`.png"` {
		t.Errorf("proof served as %q, want a name lunas made", cd)
	}
	var paid order
	if code := s.call("POST", "/v1/orders/"+o.ID+"/review", financeToken, map[string]string{"decision": "accept"}, &paid); code != 200 || paid.Status != "paid" {
		t.Fatalf("accept: %d %s", code, paid.Status)
	}
	s.settled(20 * time.Second)
	if b := s.balances("acme"); b.Balances.WABalance != 1_000_000 {
		t.Errorf("balance %d", b.Balances.WABalance)
	}
	msgs := s.sink.Messages()
	if len(msgs) != 4 {
		t.Fatalf("%d mails, want billing, where to transfer, proof received, confirmation", len(msgs))
	}
	var p parsed
	received := 0
	for _, m := range msgs {
		q := parse(t, m)
		if strings.HasPrefix(q.subject, "Bukti transfer diterima — invoice "+o.InvoiceNumber) {
			// Seed 002's "we received your request": order number, time,
			// account, requester, declared amount; to the requester alone.
			received++
			txt := mailText(t, m)
			for _, want := range []string{o.InvoiceNumber, "Acme acme", "Sari Dewi", "Rp1.110.000", "WIB", "BCA"} {
				if !strings.Contains(txt, want) {
					t.Errorf("the proof-received mail lacks %q:\n%s", want, txt)
				}
			}
			if strings.Join(q.rcpt, ",") != "sari@acme.example" {
				t.Errorf("proof-received mail to %v", q.rcpt)
			}
		}
		if strings.HasPrefix(q.subject, "Cara membayar") && !strings.Contains(mailText(t, m), "BCA") {
			t.Errorf("the transfer instructions do not name the bank:\n%s", mailText(t, m))
		}
		if strings.HasPrefix(q.subject, "Pembayaran diterima") {
			p = q
		}
	}
	if received != 1 {
		t.Errorf("%d proof-received mails, want 1", received)
	}
	if txt := pdfText(t, p.attachments[o.InvoiceNumber+".pdf"]); !strings.Contains(txt, "Transfer bank") || !strings.Contains(txt, "LUNAS") {
		t.Errorf("PDF does not show PAID by bank transfer:\n%s", txt)
	}
}

func TestMailWaitsForSMTP(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{workers: 1})
	s.account("acme")
	s.sink.Stop()
	ids := []string{}
	for i := 0; i < 3; i++ {
		ids = append(ids, s.confirmedOrder("acme", "sari@acme.example", 1_000_000).ID)
	}
	lunastest.Eventually(t, 10*time.Second, "send attempts while SMTP is down", func() bool {
		return s.count(`SELECT count(*) FROM mails WHERE attempts > 0 AND status = 'queued'`) == len(ids)
	})
	if err := s.sink.Restart(); err != nil {
		t.Fatal(err)
	}
	s.settled(60 * time.Second)
	if n := len(s.sink.Messages()); n != len(ids) {
		t.Errorf("%d mails after SMTP came back, want exactly %d", n, len(ids))
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// mailText is a caught mail's raw text (quoted-printable soft breaks
// joined), enough to look for a word in its body.
func mailText(t *testing.T, m mailtest.Message) string {
	t.Helper()
	return strings.ReplaceAll(string(m.Data), "=\r\n", "")
}
