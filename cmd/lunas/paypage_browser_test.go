package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lunas-id/lunas/internal/lunastest"
)

// The pay page in headless Chromium (/usr/bin/chromium or LUNAS_CHROMIUM;
// missing, the test fails), as a payer uses it: on a 360 px phone and on a
// desktop, from the billing mail's link, paying by QRIS, VA and OVO and by
// manual transfer through a rejection. Any console error, failed resource
// or CSP violation fails it. Screenshots go to the test's temp dir and,
// with LUNAS_PAY_SCREENSHOTS (or LUNAS_CONSOLE_SCREENSHOTS) set, there.

type payTab struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	mu   sync.Mutex
	errs []string
}

func newPayTab(t *testing.T) *payTab {
	t.Helper()
	exe := os.Getenv("LUNAS_CHROMIUM")
	if exe == "" {
		exe = "/usr/bin/chromium"
	}
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("Chromium is needed for the pay page's browser test and is not at %s (%v): install Debian's `chromium` or set LUNAS_CHROMIUM", exe, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "id-ID"), chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	b := &payTab{t: t, ctx: ctx, dir: t.TempDir()}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errs = append(b.errs, string(m.Type)+" at "+m.URL+": "+m.Text)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *payTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		if len(html) > 3000 {
			html = html[len(html)-3000:]
		}
		b.t.Fatalf("%s: %v\n%s", what, err, html)
	}
}

func (b *payTab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *payTab) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return s
}

func (b *payTab) location() string { return b.eval(`window.location.href`) }

func (b *payTab) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	_ = os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644)
	dir := os.Getenv("LUNAS_PAY_SCREENSHOTS")
	if dir == "" {
		dir = os.Getenv("LUNAS_CONSOLE_SCREENSHOTS")
	}
	if dir != "" {
		_ = os.MkdirAll(dir, 0o755)
		_ = os.WriteFile(filepath.Join(dir, "pay-"+name+".png"), png, 0o644)
	}
}

func (b *payTab) clean(step string) {
	b.t.Helper()
	time.Sleep(50 * time.Millisecond) // the page's last events
	if missing := b.eval(`(document.body.innerText.match(/⟦[^⟧]*⟧/g) || []).join(" ")`); missing != "" {
		b.t.Errorf("untranslated words during %s: %s", step, missing)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		b.t.Errorf("console error during %s: %s", step, e)
	}
	b.errs = nil
}

// mark sets a variable in the page; stillMarked says whether the page was
// never reloaded since.
func (b *payTab) mark()             { b.eval(`window.__lunas = "same"; "ok"`) }
func (b *payTab) stillMarked() bool { return b.eval(`String(window.__lunas)`) == "same" }

var payLinkRe = regexp.MustCompile(`https?://[^\s"<>)]+/pay/[A-Za-z0-9_.\-]+`)

func TestPayPageInTheBrowser(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{env: map[string]string{"MIDTRANS_CLIENT_KEY": "SB-Mid-client-FAKE_TEST"}})
	s.account("acme")
	b := newPayTab(t)
	ctx := context.Background()
	phone := chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile)
	desktop := chromedp.EmulateViewport(1280, 900)

	// payURL finds the pay link in the order's billing mail.
	payURL := func(o order) string {
		t.Helper()
		var link string
		lunastest.Eventually(t, 20*time.Second, "the billing mail of "+o.InvoiceNumber, func() bool {
			for _, m := range s.sink.Messages() {
				if p := parse(t, m); strings.Contains(p.subject, o.InvoiceNumber) && strings.HasPrefix(p.subject, "Tagihan") {
					link = payLinkRe.FindString(mailText(t, m))
					return link != ""
				}
			}
			return false
		})
		return link
	}
	attemptOf := func(method string) string {
		return strings.TrimPrefix(b.eval(`document.querySelector('article[data-method="`+method+`"]').id`), "pay-")
	}
	choose := func(method string) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.CSS(`form.method:has(input[value="` + method + `"]) button`))
	}

	var qrisPage string
	t.Run("from the billing mail, pay by QRIS on a phone", func(t *testing.T) {
		b.t = t
		o := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
		u := payURL(o)
		qrisPage = u
		b.do("open the pay page", phone, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.ID("status")))
		page := b.text("main")
		for _, want := range []string{o.InvoiceNumber, "Rp1.110.000", "s***@acme.example", "Menunggu pembayaran", "WIB"} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
		if strings.Contains(page, "sari@acme.example") {
			t.Error("the page shows the requester's whole e-mail")
		}
		if w := b.eval(`String(document.documentElement.scrollWidth)`); w != "360" {
			t.Errorf("the page is %s px wide on a 360 px phone", w)
		}
		b.shot("phone-id")
		b.do("choose QRIS", choose("qris"), chromedp.WaitVisible(chromedp.CSS(`article[data-method="qris"] img.qr`)))
		lunastest.Eventually(t, 10*time.Second, "the QR image to be shown", func() bool {
			return b.eval(`(() => { const i = document.querySelector('article[data-method="qris"] img.qr'); return String(i.complete && i.naturalWidth === 400); })()`) == "true"
		})
		b.shot("phone-qris-id")
		b.clean("QRIS chosen")
		id := attemptOf("qris")
		b.mark()
		paid, err := s.midtrans.Scan(id, "gopay")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.midtrans.Deliver(ctx, paid, 1); err != nil {
			t.Fatal(err)
		}
		b.do("the page turns paid", chromedp.WaitVisible(chromedp.ID("paid")), chromedp.WaitNotVisible(chromedp.ID("payable")),
			chromedp.WaitNotVisible(chromedp.ID("deadline")))
		if !b.stillMarked() {
			t.Error("the page was reloaded to show the payment")
		}
		if got := b.text("#status"); got != "Lunas" {
			t.Errorf("status %q", got)
		}
		b.shot("phone-paid-id")
		b.clean("QRIS paid")
	})

	t.Run("pay by BCA VA on a desktop, in English", func(t *testing.T) {
		b.t = t
		o := s.confirmedOrder("acme", "budi@acme.example", 500_000)
		b.do("open in English", desktop, chromedp.Navigate(payURL(o)+"?lang=en"), chromedp.WaitVisible(chromedp.ID("status")))
		if got := b.text("#status"); got != "Awaiting payment" {
			t.Errorf("status %q", got)
		}
		b.do("choose BCA VA", choose("bca_va"), chromedp.WaitVisible(chromedp.CSS(`article[data-method="bca_va"] output.code`)))
		if lang := b.eval(`document.documentElement.lang`); lang != "en" {
			t.Errorf("after choosing, the page is in %q, want the English the payer chose", lang)
		}
		id := attemptOf("bca_va")
		tx, _ := s.midtrans.Tx(id)
		if got := b.text(`article[data-method="bca_va"] output.code`); got == "" || got != tx.VANumber {
			t.Errorf("VA number %q not the gateway's", got)
		}
		b.shot("desktop-va-en")
		b.mark()
		if err := s.midtrans.Notify(ctx, id, "settlement", "", 1); err != nil {
			t.Fatal(err)
		}
		b.do("the page turns paid", chromedp.WaitVisible(chromedp.ID("paid")))
		if !b.stillMarked() {
			t.Error("the page was reloaded")
		}
		b.shot("desktop-paid-en")
		b.clean("VA")
	})

	t.Run("pay by OVO", func(t *testing.T) {
		b.t = t
		o := s.confirmedOrder("acme", "citra@acme.example", 200_000)
		b.do("open", phone, chromedp.Navigate(payURL(o)), chromedp.WaitVisible(chromedp.ID("ovo-phone")),
			chromedp.SendKeys(chromedp.ID("ovo-phone"), "0812 3456 7890"), choose("ovo"),
			chromedp.WaitVisible(chromedp.CSS(`article[data-method="ovo"]`)))
		if got := b.text(`article[data-method="ovo"]`); !strings.Contains(got, "+6281234567890") {
			t.Errorf("OVO instructions %q", got)
		}
		b.shot("phone-ovo-id")
		id := attemptOf("ovo")
		b.mark()
		if err := s.xendit.Notify(ctx, id, "SUCCEEDED", "", 1); err != nil {
			t.Fatal(err)
		}
		b.do("paid", chromedp.WaitVisible(chromedp.ID("paid")))
		if !b.stillMarked() {
			t.Error("the page was reloaded")
		}
		b.clean("OVO")
	})

	t.Run("pay by card through Midtrans's script", func(t *testing.T) {
		b.t = t
		o := s.confirmedOrder("acme", "fajar@acme.example", 300_000)
		b.do("open", desktop, chromedp.Navigate(payURL(o)+"?lang=en"), chromedp.WaitVisible(chromedp.ID("cc-number")))
		b.mark()
		b.do("pay by card", chromedp.SendKeys(chromedp.ID("cc-number"), "4811 1111 1111 1114"), chromedp.SendKeys(chromedp.ID("cc-month"), "12"),
			chromedp.SendKeys(chromedp.ID("cc-year"), "2030"), chromedp.SendKeys(chromedp.ID("cc-cvv"), "123"))
		b.shot("desktop-card-en")
		b.do("paid", chromedp.Click(chromedp.CSS("#card-form button")), chromedp.WaitVisible(chromedp.ID("paid")))
		if !b.stillMarked() {
			t.Error("the page was reloaded")
		}
		got := s.order(o.ID)
		if got.Status != "paid" || len(got.Payments) != 1 || got.Payments[0].Method != "credit_card" || got.Payments[0].Fee == 0 {
			t.Errorf("after the card: %+v", got)
		}
		b.clean("card")
	})

	t.Run("manual transfer: upload, rejected, correct the amount", func(t *testing.T) {
		b.t = t
		o := s.confirmedOrder("acme", "dewi@acme.example", 1_000_000)
		u := payURL(o)
		proof := filepath.Join(t.TempDir(), "bukti.png")
		if err := os.WriteFile(proof, lunastest.ProofPNG(t), 0o644); err != nil {
			t.Fatal(err)
		}
		send := func(amount string) {
			b.do("send a proof of "+amount, chromedp.SetUploadFiles(chromedp.ID("pf-file"), []string{proof}),
				chromedp.SetValue(chromedp.ID("pf-amount"), amount), chromedp.SendKeys(chromedp.ID("pf-bank"), "BCA"),
				chromedp.SendKeys(chromedp.ID("pf-name"), "Dewi"), chromedp.Click(chromedp.CSS("form.proof button")),
				chromedp.WaitVisible(chromedp.CSS("section.review")))
			if got := b.text("#status"); got != "Bukti transfer sedang diperiksa" {
				t.Fatalf("after sending the proof the page says %q", got)
			}
		}
		b.do("open", phone, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.ID("pf-file")))
		b.shot("phone-transfer-id")
		send("1000000")
		if got := s.order(o.ID).Status; got != "in_review" {
			t.Fatalf("after the upload the order is %s", got)
		}
		b.shot("phone-proof-sent-id")
		if code := s.call("POST", "/v1/orders/"+o.ID+"/review", financeToken, map[string]string{"decision": "reject", "reason": "jumlah kurang"}, nil); code != 200 {
			t.Fatalf("reject: %d", code)
		}
		// The page sees the rejection by itself (its status poll).
		b.do("the rejection shows", chromedp.WaitVisible(chromedp.CSS("p.error")), chromedp.WaitVisible(chromedp.ID("pf-file")))
		if got := b.text("p.error"); !strings.Contains(got, "jumlah kurang") {
			t.Errorf("the rejection notice %q does not say why", got)
		}
		if strings.Contains(b.location(), "proof=1") {
			t.Errorf("the page still says the proof was received: %s", b.location())
		}
		b.shot("phone-rejected-id")
		send("1110000")
		var problem map[string]any
		if code := s.call("POST", "/v1/orders/"+o.ID+"/review", financeToken, map[string]string{"decision": "accept"}, &problem); code != 200 {
			t.Fatalf("accept: %d %v", code, problem)
		}
		b.do("paid", chromedp.WaitVisible(chromedp.ID("paid")))
		b.clean("transfer")
		lunastest.Eventually(t, 20*time.Second, "two proof-received mails", func() bool {
			return s.count(`SELECT count(*) FROM mails WHERE order_id = $1 AND kind = 'proof_received' AND status = 'sent'`, o.ID) == 2
		})
	})

	t.Run("a paid or expired order shows no way to pay; a tampered token is 404", func(t *testing.T) {
		b.t = t
		b.do("the paid QRIS order", desktop, chromedp.Navigate(qrisPage), chromedp.WaitVisible(chromedp.ID("paid")))
		if n := b.eval(`String(document.querySelectorAll("form").length)`); n != "0" {
			t.Errorf("a paid order's page has %s forms", n)
		}
		o := s.confirmedOrder("acme", "eko@acme.example", 100_000)
		u := payURL(o)
		var full order
		s.call("GET", "/v1/orders/"+o.ID, appToken, nil, &full)
		s.setClock(mustTime(t, full.ExpiresAt).Add(time.Hour).Format(time.RFC3339))
		lunastest.Eventually(t, 20*time.Second, "the order to expire", func() bool { return s.order(o.ID).Status == "expired" })
		b.do("the expired order", chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS("section.nopay")))
		if n := b.eval(`String(document.querySelectorAll("form").length)`); n != "0" {
			t.Errorf("an expired order's page has %s forms", n)
		}
		b.shot("desktop-expired-id")
		b.clean("paid and expired")
		res, err := http.Get(u[:len(u)-3] + "abc")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Errorf("tampered token: %d", res.StatusCode)
		}
		res, _ = http.Get(u)
		res.Body.Close()
		for k, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
			if got := res.Header.Get(k); got != want {
				t.Errorf("%s: %q", k, got)
			}
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self' "+s.env["MIDTRANS_BASE_URL"]+";") ||
			strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP %q", csp)
		}
	})
}
