package console_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/lunas-id/lunas/people"
)

// The browser tests drive Debian's headless Chromium (/usr/bin/chromium, or
// LUNAS_CHROMIUM) through the console as finance would. A missing Chromium
// fails them: CI installs it (.ci/run). Any console error of any page —
// an exception, a console.error, a failed resource, a CSP violation —
// fails the test. Each step leaves a PNG screenshot in the test's temp dir;
// with LUNAS_CONSOLE_SCREENSHOTS=dir the named ones are copied there too.

func chromiumPath(t *testing.T) string {
	p := os.Getenv("LUNAS_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Chromium is needed for the console's browser tests and is not at %s (%v): "+
			"install Debian's package `chromium` (apt-get install chromium; .ci/run does) or set LUNAS_CHROMIUM", p, err)
	}
	return p
}

// tab is one browser tab with its console watched.
type tab struct {
	t    *testing.T
	ctx  context.Context
	dir  string // screenshots
	mu   sync.Mutex
	errs []string
}

func newTab(t *testing.T) *tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // root in CI containers
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "id-ID"),
		chromedp.Flag("accept-lang", "id-ID,id"), // finance's browsers ask for Indonesian
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	b := &tab{t: t, ctx: ctx, dir: t.TempDir()}
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

// do runs actions with a deadline, failing the test on an error.
func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		b.t.Fatalf("%s: %v (at %s)\n%s", what, err, loc, tail(html, 3000))
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *tab) location() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// shot saves a full-page PNG of the tab as name.png in the test's temp dir
// (and in LUNAS_CONSOLE_SCREENSHOTS when set).
func (b *tab) shot(name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if dir := os.Getenv("LUNAS_CONSOLE_SCREENSHOTS"); dir != "" {
		_ = os.MkdirAll(dir, 0o755)
		_ = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
	b.t.Logf("screenshot %s", p)
	return p
}

// clean fails the test on any console error seen so far.
func (b *tab) clean(step string) {
	b.t.Helper()
	time.Sleep(50 * time.Millisecond) // let the last events of the page arrive
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		b.t.Errorf("console error during %s: %s", step, e)
	}
	b.errs = nil
}

func TestFinanceWorksInTheBrowser(t *testing.T) {
	e := newEnv(t, envOptions{worker: true, reports: true})
	ctx := context.Background()
	paying := e.inReview("acme", "sari@acme.example", 1000000, receipt(t))
	unpaidPDF, err := e.docs.Ensure(ctx, paying.ID, "unpaid")
	if err != nil {
		t.Fatal(err)
	}
	doubtful := e.inReview("globex", "budi@globex.example", 1500000, unpaidPDF) // a PDF proof
	flagged := e.flagged("initech")
	held := e.challenged("umbrella")

	b := newTab(t)
	base := e.base
	admin := e.person(people.RoleAdmin)

	t.Run("sign in with the keyboard", func(t *testing.T) {
		b.t = t
		b.do("open the console", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("#email")))
		if loc := b.location(); !strings.HasPrefix(loc, base+"/console/sign-in") {
			t.Fatalf("without a session the console shows %s", loc)
		}
		b.shot("signin-id")
		b.do("sign in", chromedp.SendKeys(chromedp.ID("#email"), admin.Email), chromedp.SendKeys(chromedp.ID("#password"), admin.Password+kb.Enter),
			chromedp.WaitVisible(chromedp.ID("#code")))
		b.do("the code", chromedp.SendKeys(chromedp.ID("#code"), e.real.Code(t, admin.Secret)+kb.Enter), chromedp.WaitVisible(chromedp.CSS(".tiles")))
		if got := b.text(".tiles"); !strings.Contains(got, "Dalam tinjauan") {
			t.Errorf("overview tiles: %q", got)
		}
		b.shot("overview-id")
		b.clean("sign-in")
	})

	t.Run("the review queue shows both proofs inline", func(t *testing.T) {
		b.t = t
		b.do("open the review queue", chromedp.Navigate(base+"/console/reviews"), chromedp.WaitVisible(chromedp.CSS("#review-"+paying.ID+" img.proof-img")),
			chromedp.WaitVisible(chromedp.CSS("#review-"+doubtful.ID+" iframe.proof-pdf")))
		loaded, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(() => { const i = document.querySelector("#review-`+paying.ID+` img"); return i.complete && i.naturalWidth === 360; })()`))
		if err != nil || !loaded {
			t.Errorf("the PNG proof is not displayed (%v)", err)
		}
		b.shot("reviews-id")
		b.do("to English", chromedp.Click(chromedp.CSS(`a[hreflang="en"]`)), chromedp.WaitVisible(chromedp.CSS(`html[lang="en"]`)),
			chromedp.WaitVisible(chromedp.CSS("#review-"+paying.ID+" img.proof-img")))
		b.shot("reviews-en")
		b.do("overview in English", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.CSS(".tiles")))
		if got := b.text(".tiles"); !strings.Contains(got, "In review") {
			t.Errorf("English overview tiles: %q", got)
		}
		b.shot("overview-en")
		b.clean("review queue")
	})

	t.Run("accept: the order is paid and the requester gets the confirmation", func(t *testing.T) {
		b.t = t
		b.do("accept", chromedp.Navigate(base+"/console/reviews"), chromedp.Click(chromedp.ID("#accept-"+paying.ID)),
			chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
		o, err := e.orders.GetOrder(ctx, paying.ID)
		if err != nil || o.Status != "paid" {
			t.Fatalf("after accept the order is %s (%v)", o.Status, err)
		}
		eventually(t, 30*time.Second, "the confirmation with the PAID proforma to the requester", func() bool {
			for _, m := range e.sink.Messages() {
				if len(m.To) == 1 && m.To[0] == "sari@acme.example" && bytes.Contains(m.Data, []byte("application/pdf")) &&
					e.count(`SELECT count(*) FROM mails WHERE order_id = $1 AND kind = 'confirmation' AND status = 'sent'`, paying.ID) == 1 {
					return true
				}
			}
			return false
		})
		if n := e.count(`SELECT count(*) FROM reviews WHERE order_id = $1 AND decision = 'accept' AND actor = $2`, paying.ID, admin.Email); n != 1 {
			t.Errorf("accept recorded %d times with the token's identity", n)
		}
		b.do("the order page", chromedp.Navigate(base+"/console/orders/"+paying.ID), chromedp.WaitVisible(chromedp.ID("#pdf-link")))
		if got := b.text(".summary"); !strings.Contains(got, "paid") || !strings.Contains(got, "Rp1.110.000") {
			t.Errorf("order summary: %q", got)
		}
		if got := b.text("#h-mails + .scroll"); !strings.Contains(got, "payment confirmation") {
			t.Errorf("mails on the order page: %q", got)
		}
		b.shot("order-en")
		b.do("to Indonesian", chromedp.Click(chromedp.CSS(`a[hreflang="id"]`)), chromedp.WaitVisible(chromedp.CSS(`html[lang="id"]`)),
			chromedp.WaitVisible(chromedp.ID("#pdf-link")))
		b.shot("order-id")
		b.clean("accept")
	})

	t.Run("reject another with a reason", func(t *testing.T) {
		b.t = t
		reason := "Nominal transfer tidak ada di mutasi rekening"
		b.do("reject", chromedp.Navigate(base+"/console/reviews"), chromedp.SendKeys(chromedp.ID("#reason-"+doubtful.ID), reason),
			chromedp.Click(chromedp.ID("#reject-"+doubtful.ID)), chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
		o, _ := e.orders.GetOrder(ctx, doubtful.ID)
		if o.Status != "rejected" || o.StatusReason == nil || *o.StatusReason != reason {
			t.Errorf("after reject: %s %v", o.Status, o.StatusReason)
		}
		eventually(t, 30*time.Second, "the rejection mail", func() bool {
			return e.count(`SELECT count(*) FROM mails WHERE order_id = $1 AND kind = 'rejection' AND reason = $2 AND status = 'sent'`, doubtful.ID, reason) == 1
		})
		if got := b.text("main"); !strings.Contains(got, "Tidak ada yang perlu ditinjau") {
			t.Errorf("the queue is not empty: %q", tail(got, 500))
		}
		b.shot("reviews-empty-id")
		b.clean("reject")
	})

	t.Run("resolve a flagged event; a card challenge is visible", func(t *testing.T) {
		b.t = t
		id := "ev-" + itoa(flagged)
		b.do("open events", chromedp.Navigate(base+"/console/events"), chromedp.WaitVisible(chromedp.ID("#"+id)))
		if got := b.text("#h-challenges + p + .scroll"); !strings.Contains(got, held.ID) || !strings.Contains(got, "challenge") {
			t.Errorf("challenges: %q", got)
		}
		b.do("show the raw body", chromedp.Click(chromedp.CSS("#"+id+" summary")), chromedp.WaitVisible(chromedp.CSS("#"+id+" pre.raw")))
		if got := b.text("#" + id + " pre.raw"); !strings.Contains(got, `"transaction_status": "settlement"`) {
			t.Errorf("raw body: %q", got)
		}
		b.shot("events-id")
		note := "Pelanggan transfer kurang Rp10.000; selisih ditagih manual"
		b.do("resolve", chromedp.SendKeys(chromedp.ID("#note-"+itoa(flagged)), note), chromedp.Click(chromedp.ID("#resolve-"+itoa(flagged))),
			chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
		if n := e.count(`SELECT count(*) FROM gateway_events WHERE id = $1 AND resolved_at IS NOT NULL AND resolution_note = $2 AND resolved_by = $3`, flagged, note, admin.Email); n != 1 {
			t.Error("the event is not resolved with the note and who")
		}
		b.clean("resolve")
	})

	t.Run("post an adjustment", func(t *testing.T) {
		b.t = t
		b.do("adjust", chromedp.Navigate(base+"/console/accounts/acme"), chromedp.WaitVisible(chromedp.ID("#adjust-form")),
			chromedp.SetValue(chromedp.ID("#adj-kind"), "charge"),
			chromedp.SendKeys(chromedp.ID("#adj-amount"), "25.000"),
			chromedp.SendKeys(chromedp.ID("#adj-reason"), "Selisih tagihan Meta Oktober"),
			chromedp.Click(chromedp.ID("#adjust-submit")), chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
		a, err := e.accounts.Get(ctx, "acme")
		if err != nil || a.Balances.WABalance != 975000 {
			t.Errorf("balance after a charge of 25.000: %d (%v)", a.Balances.WABalance, err)
		}
		if got := b.text("#bal-wa"); !strings.Contains(got, "Rp975.000") {
			t.Errorf("balance tile: %q", got)
		}
		if n := e.count(`SELECT count(*) FROM adjustments WHERE account_id = 'acme' AND amount = 25000 AND actor = $1`, admin.Email); n != 1 {
			t.Error("the adjustment is not recorded with who")
		}
		b.shot("account-id")
		b.clean("adjustment")
	})

	t.Run("download the overdue XLSX", func(t *testing.T) {
		b.t = t
		dir := t.TempDir()
		dctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		progress := chromedp.Events(dctx, browser.DownloadProgress)
		b.do("download", chromedp.Navigate(base+"/console/reports/overdue?min_days=30"), chromedp.WaitVisible(chromedp.ID("#download-xlsx")),
			chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
					Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: ptr(true)})
				return err
			}))
		b.shot("overdue-id")
		b.do("click XLSX", chromedp.Click(chromedp.ID("#download-xlsx")))
		var file string
		for ev, err := range progress {
			if err != nil {
				t.Fatalf("the download did not complete: %v", err)
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				file = filepath.Join(dir, ev.GUID)
				break
			}
		}
		got, err := os.ReadFile(file)
		if err != nil || !bytes.Equal(got, fakeXLSX) {
			t.Errorf("downloaded %q (%v), want the report's workbook", got, err)
		}
		if f := e.reports.asked; len(f) == 0 || f[len(f)-1].MinDays != 30 {
			t.Errorf("the report was asked %+v", f)
		}
		b.clean("download")
	})

	t.Run("a bulk sending shows live progress", func(t *testing.T) {
		b.t = t
		b.do("start a sending", chromedp.Navigate(base+"/console/sendings"), chromedp.Click(chromedp.ID("sd-wa")),
			chromedp.Click(chromedp.ID("sending-submit")), chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
		if got := e.sendings.started; len(got) != 1 || !got[0].Overdue || strings.Join(got[0].Channels, ",") != "email,whatsapp" || got[0].Message != "reminder" {
			t.Errorf("the sending asked: %+v", got)
		}
		b.do("progress to the end", chromedp.WaitVisible(chromedp.CSS(`#sending-snd_1 [data-field="sent"]`)))
		eventually(t, 20*time.Second, "the page to show the sending done", func() bool {
			st, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(`#sending-snd_1 [data-field="status"]`)))
			sent, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(`#sending-snd_1 [data-field="sent"]`)))
			return err == nil && st == "selesai" && sent == "3"
		})
		b.shot("sendings-id")
		b.do("subscriptions", chromedp.Navigate(base+"/console/subscriptions"), chromedp.WaitVisible(chromedp.CSS("main table")))
		b.clean("sending")
	})

	t.Run("on a phone", func(t *testing.T) {
		b.t = t
		b.do("phone overview", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile), chromedp.Navigate(base+"/console/"),
			chromedp.WaitVisible(chromedp.CSS(".tiles")))
		wide, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
		if err != nil || wide {
			t.Errorf("the overview scrolls sideways on a phone (%v)", err)
		}
		b.shot("overview-phone-id")
		b.do("desktop again", chromedp.EmulateReset())
		b.clean("phone")
	})

	t.Run("the console watch sees errors", func(t *testing.T) {
		b.t = t
		b.do("a page that logs an error", chromedp.Navigate(`data:text/html,<p id="x">x</p><script>console.error("deliberate")</script>`),
			chromedp.WaitVisible(chromedp.ID("x")))
		eventually(t, 5*time.Second, "the deliberate console error to be seen", func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			seen := len(b.errs) > 0
			if seen {
				b.errs = nil
			}
			return seen
		})
	})

	t.Run("sign out", func(t *testing.T) {
		b.t = t
		b.do("sign out", chromedp.Navigate(base+"/console/"), chromedp.Click(chromedp.ID("#sign-out")), chromedp.WaitVisible(chromedp.ID("#email")))
		b.do("back to the overview", chromedp.Navigate(base+"/console/orders"), chromedp.WaitVisible(chromedp.ID("#email")))
		if loc := b.location(); !strings.HasPrefix(loc, base+"/console/sign-in") {
			t.Errorf("after sign-out the orders page shows %s", loc)
		}
		if n := e.count(`SELECT count(*) FROM user_sessions`); n != 0 {
			t.Errorf("%d sessions after sign-out", n)
		}
		b.shot("signed-out-id")
		b.clean("sign-out")
	})
}

func ptr[T any](v T) *T { return &v }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
