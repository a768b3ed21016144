package api

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/qr"
)

// The pay page (API.md "The pay page"): the customer's page of one order,
// reached by its signed token alone (package paylink), and its JSON routes.
// It shows only that order — no other order, no balance, the requester's
// e-mail masked — and answers 404 to any token this deployment did not
// sign, so a guessed or altered link learns nothing.

//go:embed paypage
var payFiles embed.FS

// qrPixels is the side of the QR PNG: 37 × 8 px modules of a typical QRIS
// payload fit with room to spare, and phones scan it from a laptop screen.
const qrPixels = 400

// payLimit bounds requests per token and per client address each minute:
// the page polls its status every few seconds, so 120 leaves room for a
// payer with several tabs while a script enumerating or hammering is cut.
const payLimit = 120

// payPage is the pay page's state: its templates and rate limits.
type payPage struct {
	tpl     *template.Template
	byToken *window
	byAddr  *window
}

func newPayPage() *payPage {
	tpl := template.Must(template.New("page.html").Funcs(template.FuncMap{
		"rupiah": proforma.Rupiah,
		"t":      func(string) string { return "" }, // per request, in the page's language
	}).ParseFS(payFiles, "paypage/page.html"))
	return &payPage{tpl: tpl, byToken: newWindow(payLimit, time.Minute), byAddr: newWindow(payLimit, time.Minute)}
}

// window counts requests per key in fixed one-minute windows.
type window struct {
	mu    sync.Mutex
	max   int
	every time.Duration
	start time.Time
	n     map[string]int
}

func newWindow(max int, every time.Duration) *window {
	return &window{max: max, every: every, n: map[string]int{}}
}

func (w *window) allow(key string, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Sub(w.start) >= w.every {
		// A new window forgets every key, so the map never grows past one
		// minute's callers.
		w.start, w.n = now, map[string]int{}
	}
	w.n[key]++
	return w.n[key] <= w.max
}

// payRoutes registers the pay page: no bearer token, the token in the path
// is the credential.
func (s *Server) payRoutes() {
	s.pay = newPayPage()
	s.mux.HandleFunc("GET /pay/{token}", s.payGuard(s.withDeadline(s.dbDeadline(), s.payHTML)))
	s.mux.HandleFunc("GET /pay/{token}/status", s.payGuard(s.withDeadline(s.dbDeadline(), s.payStatus)))
	s.mux.HandleFunc("POST /pay/{token}/payments", s.payGuard(s.withDeadline(s.gatewayDeadline(), s.payCreate)))
	s.mux.HandleFunc("POST /pay/{token}/proof", s.payGuard(s.payProof))
	s.mux.HandleFunc("GET /pay/{token}/qr/{file}", s.payGuard(s.withDeadline(s.gatewayDeadline(), s.payQR)))
	s.mux.HandleFunc("GET /pay/{token}/assets/{file}", s.payAsset)
}

// payGuard sets the page's headers, applies the rate limits and checks the
// token: the handler finds the order id in the path value "id".
func (s *Server) payGuard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", s.payCSP())
		now := time.Now() // rate windows are wall time: they guard the process, not business rules
		token := r.PathValue("token")
		if !s.pay.byToken.allow(token, now) || !s.pay.byAddr.allow(clientAddr(r), now) {
			hd.Set("Retry-After", "60")
			writeProblem(w, http.StatusTooManyRequests, "too many requests for this page; try again in a minute", nil)
			return
		}
		id, ok := s.PayLinks.OrderID(token)
		if !ok {
			s.payNotFound(w, r)
			return
		}
		r.SetPathValue("id", id)
		h(w, r)
	}
}

// payCSP is the page's Content-Security-Policy: nothing inline, nothing
// third-party, except Midtrans's card script's origin when card is offered
// (the script, its token call and its 3-D Secure frame).
func (s *Server) payCSP() string {
	card := ""
	if s.CardScript != "" {
		if u, err := url.Parse(s.CardScript); err == nil && u.Host != "" {
			card = " " + u.Scheme + "://" + u.Host
		}
	}
	return "default-src 'none'; script-src 'self'" + card + "; style-src 'self'; img-src 'self'; connect-src 'self'" + card +
		"; frame-src" + or(card, " 'none'") + "; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) payNotFound(w http.ResponseWriter, r *http.Request) {
	if wantsHTML(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "<!doctype html><html lang=\"id\"><title>404</title><p>Halaman pembayaran tidak ditemukan. / Payment page not found.</p></html>\n")
		return
	}
	writeProblem(w, http.StatusNotFound, "no such pay page", nil)
}

func wantsHTML(r *http.Request) bool {
	return r.Method == http.MethodGet && !strings.Contains(r.URL.Path[len("/pay/"):], "/") ||
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// payOrder reads the token's order; an order not yet confirmed has no page.
func (s *Server) payOrder(w http.ResponseWriter, r *http.Request) (*order.Order, bool) {
	o, err := s.Orders.GetOrder(r.Context(), r.PathValue("id"))
	if err != nil || o.InvoiceNumber == nil {
		if err != nil && lunas.KindOf(err) != lunas.KindNotFound {
			s.writeError(w, r, err)
			return nil, false
		}
		s.payNotFound(w, r)
		return nil, false
	}
	return o, true
}

// payStatusView is GET /pay/{token}/status.
type payStatusView struct {
	Status    order.Status        `json:"status"`
	PaidAt    *string             `json:"paid_at"`
	ExpiresAt *string             `json:"expires_at"`
	Payments  []order.AttemptView `json:"payments"`
}

func (s *Server) payStatus(w http.ResponseWriter, r *http.Request) {
	o, ok := s.payOrder(w, r)
	if !ok {
		return
	}
	v := s.orderView(o)
	writeJSON(w, http.StatusOK, payStatusView{Status: v.Status, PaidAt: v.PaidAt, ExpiresAt: v.ExpiresAt, Payments: v.Payments})
}

// payCreate opens (or reuses) an attempt: JSON from the page's script or an
// app (201 the attempt, problems as the API's), or a form without
// JavaScript (303 back to the page, which shows the instructions).
func (s *Server) payCreate(w http.ResponseWriter, r *http.Request) {
	// A browser's form (the page without JavaScript) asks for HTML back;
	// curl -d sends the same content type with a JSON body, like the API.
	form := strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
	var in payment.PaymentInput
	if form {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if err := r.ParseForm(); err != nil {
			writeProblem(w, http.StatusBadRequest, "unreadable form", nil)
			return
		}
		in = payment.PaymentInput{Method: r.PostForm.Get("method"), Phone: r.PostForm.Get("phone"), CardToken: r.PostForm.Get("card_token")}
	} else if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, ok := s.payOrder(w, r); !ok {
		return
	}
	a, _, err := s.Payments.OpenPayment(r.Context(), r.PathValue("id"), in)
	if form {
		back := "/pay/" + r.PathValue("token") + langQuery(r.PostForm.Get("lang"), "?")
		if err != nil {
			// The page shows what went wrong beside the methods, in the
			// API's words.
			rec := &capture{header: http.Header{}}
			s.writeError(rec, r, err)
			back += sep(back) + "error=" + url.QueryEscape(problemDetail(rec.body.Bytes()))
		} else {
			back += "#pay-" + a.ID
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.attemptView(a))
}

// payProof is POST /v1/orders/{id}/proof under the page's token; a form
// post from the page goes back to it.
func (s *Server) payProof(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		s.uploadProof(w, r)
		return
	}
	rec := &capture{header: http.Header{}}
	s.uploadProof(rec, r)
	back := "/pay/" + r.PathValue("token") + langQuery(r.URL.Query().Get("lang"), "?")
	if rec.status/100 != 2 {
		back += sep(back) + "error=" + url.QueryEscape(problemDetail(rec.body.Bytes()))
	} else {
		back += sep(back) + "proof=1"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// langQuery keeps the page's language across a form post (id or en only).
func langQuery(lang, prefix string) string {
	if lang == "id" || lang == "en" {
		return prefix + "lang=" + lang
	}
	return ""
}

// sep is the separator before the next query parameter of u.
func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}

// problemDetail is a problem's detail and field messages as one line.
func problemDetail(body []byte) string {
	var p problem
	if json.Unmarshal(body, &p) != nil {
		return "error"
	}
	msg := p.Detail
	for _, f := range p.Errors {
		msg += "; " + f.Field + ": " + f.Message
	}
	return msg
}

// capture keeps a handler's answer so a form post can turn it into a redirect.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *capture) Header() http.Header { return c.header }
func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = 200
	}
	return c.body.Write(b)
}
func (c *capture) WriteHeader(code int) { c.status = code }

// payQR serves an attempt's QR code as a PNG: drawn from the QRIS payload,
// or GoPay's image fetched from the gateway (so the page needs no
// third-party origin). Only attempts of the token's order.
func (s *Server) payQR(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".png")
	if !ok {
		writeProblem(w, http.StatusNotFound, "no such QR code", nil)
		return
	}
	a, err := s.Payments.Attempt(r.Context(), id)
	if err != nil || a.OrderID != r.PathValue("id") {
		writeProblem(w, http.StatusNotFound, "no such QR code", nil)
		return
	}
	var png []byte
	if q, _ := a.Details["qr_string"].(string); q != "" {
		png, err = qr.PNG(q, qrPixels)
	} else if u, _ := a.Details["qr_image_url"].(string); u != "" {
		png, err = fetchPNG(r.Context(), u)
	} else {
		writeProblem(w, http.StatusNotFound, "this payment has no QR code", nil)
		return
	}
	if err != nil {
		s.writeError(w, r, lunas.Wrap(lunas.KindGateway, err, "the QR code could not be drawn"))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(png)
}

// fetchPNG reads a gateway's QR image (GoPay's generate-qr-code action),
// at most 1 MiB, and only a PNG.
func fetchPNG(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != 200 || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		return nil, lunas.E(lunas.KindGateway, "the gateway's QR image answered %d without a PNG", res.StatusCode)
	}
	return b, nil
}

func (s *Server) payAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	ct := map[string]string{"pay.css": "text/css; charset=utf-8", "pay.js": "text/javascript; charset=utf-8",
		"favicon.svg": "image/svg+xml"}[name]
	b, err := payFiles.ReadFile("paypage/" + name)
	if ct == "" || err != nil {
		writeProblem(w, http.StatusNotFound, "no such file", nil)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}

// maskEmail shows the first letter and the domain: s***@acme.example.
func maskEmail(e string) string {
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" {
		return "***"
	}
	return local[:1] + "***@" + domain
}

// payMethod is one way to pay on the page.
type payMethod struct {
	Method string
	Label  string
	Kind   string // va, bill, qr, wallet, ovo, card, transfer
}

func methodLabel(m string) (label, kind string) {
	switch m {
	case gateway.MethodBCAVA:
		return "BCA Virtual Account", "va"
	case gateway.MethodBNIVA:
		return "BNI Virtual Account", "va"
	case gateway.MethodBRIVA:
		return "BRI Virtual Account", "va"
	case gateway.MethodCIMBVA:
		return "CIMB Niaga Virtual Account", "va"
	case gateway.MethodPermataVA:
		return "Permata Virtual Account", "va"
	case gateway.MethodMandiriBill:
		return "Mandiri Bill Payment", "bill"
	case gateway.MethodQRIS:
		return "QRIS", "qr"
	case gateway.MethodGoPay:
		return "GoPay", "wallet"
	case gateway.MethodShopeePay:
		return "ShopeePay", "wallet"
	case gateway.MethodOVO:
		return "OVO", "ovo"
	case gateway.MethodCreditCard:
		return "Card", "card"
	case gateway.MethodManualTransfer:
		return "Transfer", "transfer"
	}
	return m, ""
}
