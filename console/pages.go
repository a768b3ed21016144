package console

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/report"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/usage"
)

// overview: today's payments, what awaits payment, what is in review,
// open flagged events and low balances, each linking on.
func (s *Server) overview(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := r.Context()
	now := s.Clock.Now()
	t, err := s.readTiles(ctx, now)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	paid, err := s.readPaidSince(ctx, t.DayStart, 10)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	inReview, _, err := s.Orders.ListOrders(ctx, order.ListFilter{Status: order.StatusInReview, Limit: 10})
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	open := false
	flagged, err := s.Payments.ListEvents(ctx, payment.EventFilter{Resolved: &open, Limit: 10})
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	low, err := s.readAccounts(ctx, "", true, 10)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	s.render(w, v, http.StatusOK, "overview", map[string]any{"Tiles": t, "Paid": paid, "InReview": inReview, "Flagged": flagged,
		"Low": low, "Now": now})
}

// orders lists orders newest first, by status and account.
// orderFilter reads the orders page's filters: status, account, q (the
// start of an invoice number, a part of a requester's name or e-mail),
// from and to (invoice dates, to inclusive). A date that does not parse
// is ignored, as an unknown status is.
func (s *Server) orderFilter(r *http.Request) order.ListFilter {
	q := r.URL.Query()
	f := order.ListFilter{Status: order.Status(q.Get("status")), AccountID: strings.TrimSpace(q.Get("account_id")),
		Search: strings.TrimSpace(q.Get("q")), Limit: 50}
	if f.Status != "" && !f.Status.Valid() {
		f.Status = ""
	}
	if t, err := time.ParseInLocation(time.DateOnly, q.Get("from"), s.Location); err == nil {
		f.From = t
	}
	if t, err := time.ParseInLocation(time.DateOnly, q.Get("to"), s.Location); err == nil {
		f.To = t.AddDate(0, 0, 1)
	}
	return f
}

// ordersFile downloads what the orders page's filters select (at most
// 20,000 orders) as CSV or XLSX, the API's export table.
func (s *Server) ordersFile(format string) func(http.ResponseWriter, *http.Request, *view) {
	return func(w http.ResponseWriter, r *http.Request, v *view) {
		f := s.orderFilter(r)
		f.Limit = 20_000
		list, next, err := s.Orders.ListOrders(r.Context(), f)
		if err != nil {
			s.failErr(w, r, v, err)
			return
		}
		if next != nil {
			s.fail(w, r, v, http.StatusBadRequest, v.T("orders.too_many"))
			return
		}
		t := report.OrdersTable(list, s.Location)
		var buf bytes.Buffer
		ct := "text/csv; charset=utf-8"
		if format == "xlsx" {
			ct = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
			err = t.WriteXLSX(&buf)
		} else {
			err = t.WriteCSV(&buf)
		}
		if err != nil {
			s.failErr(w, r, v, err)
			return
		}
		s.logAction(r.Context(), v, "orders.export."+format, nil, "filter", r.URL.RawQuery)
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", `attachment; filename="orders-`+s.Clock.Now().In(s.Location).Format("2006-01-02")+`.`+format+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		_, _ = buf.WriteTo(w)
	}
}

func (s *Server) orders(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := s.orderFilter(r)
	if c := q.Get("cursor"); c != "" {
		if b, err := base64.RawURLEncoding.DecodeString(c); err == nil {
			ts, id, _ := strings.Cut(string(b), "|")
			if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				f.Cursor = &order.Cursor{CreatedAt: t, ID: id}
			}
		}
	}
	list, next, err := s.Orders.ListOrders(r.Context(), f)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	var nextCursor string
	if next != nil {
		nextCursor = base64.RawURLEncoding.EncodeToString([]byte(next.CreatedAt.Format(time.RFC3339Nano) + "|" + next.ID))
	}
	s.render(w, v, http.StatusOK, "orders", map[string]any{"Orders": list, "Status": f.Status, "AccountID": f.AccountID,
		"Q": q.Get("q"), "From": q.Get("from"), "To": q.Get("to"),
		"Statuses": order.Statuses(), "Next": nextCursor})
}

// eventView is a gateway event with its raw body indented for reading.
type eventView struct {
	payment.Event
	Raw string
}

// viewEvents indents each event's payload — payment.BodyView, already
// bounded in depth and size, so the indented text is bounded too (at most
// two spaces per level per line).
func viewEvents(evs []payment.Event) []eventView {
	out := make([]eventView, len(evs))
	for i, e := range evs {
		raw := string(e.Payload)
		var b bytes.Buffer
		if json.Indent(&b, e.Payload, "", "  ") == nil {
			raw = b.String()
		}
		out[i] = eventView{Event: e, Raw: raw}
	}
	return out
}

// proofView is a proof's metadata (the file itself is served by proof).
type proofView struct {
	review.Proof
	IsPDF bool
}

func (s *Server) latestProof(r *http.Request, orderID string) (*proofView, error) {
	p, err := s.Reviews.LatestProof(r.Context(), orderID)
	if lunas.KindOf(err) == lunas.KindNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.Data = nil
	return &proofView{Proof: *p, IsPDF: p.ContentType == "application/pdf"}, nil
}

// order: everything about one order — items, attempts, gateway events
// with their raw bodies, mails, the proof and review decisions, the PDF.
func (s *Server) order(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := r.Context()
	id := r.PathValue("id")
	o, err := s.Orders.GetOrder(ctx, id)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	evs, err := s.Payments.ListEvents(ctx, payment.EventFilter{OrderID: id, Limit: 200})
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	mails, err := s.readMails(ctx, id)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	decisions, err := s.readDecisions(ctx, id)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	proof, err := s.latestProof(r, id)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	v.Title = v.T("order.title") + " " + id
	v.Nav = "orders"
	s.render(w, v, http.StatusOK, "order", map[string]any{"Order": o, "Events": viewEvents(evs), "Mails": mails,
		"Decisions": decisions, "Proof": proof})
}

// proof serves an order's latest proof for display inside the console
// (its content type was checked by content at upload; nosniff keeps it so).
// The customer made the file: whatever it is, it is served in a CSP
// sandbox, so a PDF's scripts or forms run in no origin of ours (a browser
// that will not show a sandboxed PDF inline gets ?download=1, an attachment).
func (s *Server) proof(w http.ResponseWriter, r *http.Request, v *view) {
	p, err := s.Reviews.LatestProof(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	ext := map[string]string{"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}[p.ContentType]
	s.inline(w, p.ContentType, "proof-"+p.OrderID+"."+ext, p.Data, true)
	if r.URL.Query().Get("download") == "1" {
		w.Header().Set("Content-Disposition", `attachment; filename="proof-`+p.OrderID+`.`+ext+`"`)
	}
	_, _ = w.Write(p.Data)
}

// proformaPDF serves the order's current proforma (PAID once paid).
func (s *Server) proformaPDF(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PathValue("id")
	pdf, err := s.Documents.Current(r.Context(), id)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	s.inline(w, "application/pdf", "proforma-"+id+".pdf", pdf, false)
	_, _ = w.Write(pdf)
}

// inline sets the headers of a file the console itself may frame; the
// caller writes it. An untrusted file (the customer's) is sandboxed
// whatever its type; lunas's own PDF is not (Chromium will not show a PDF
// in a sandbox).
func (s *Server) inline(w http.ResponseWriter, contentType, name string, b []byte, untrusted bool) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `inline; filename="`+name+`"`)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Frame-Options", "SAMEORIGIN")
	csp := "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'"
	if untrusted || contentType != "application/pdf" {
		csp += "; sandbox" // opened on its own, it runs nothing
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
}

// reviews: every order in review, oldest first, with its proof inline and
// the accept and reject forms.
func (s *Server) reviews(w http.ResponseWriter, r *http.Request, v *view) {
	list, _, err := s.Orders.ListOrders(r.Context(), order.ListFilter{Status: order.StatusInReview, Limit: 100})
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	// The proofs and each account's earlier transfers for the whole queue
	// at once (three queries whatever its length).
	ids, accounts := make([]string, len(list)), make([]string, 0, len(list))
	for i, o := range list {
		ids[i] = o.ID
		if !slices.Contains(accounts, o.AccountID) {
			accounts = append(accounts, o.AccountID)
		}
	}
	proofs, err := s.Reviews.LatestProofs(r.Context(), ids)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	earlier, err := s.Reviews.EarlierTransfers(r.Context(), accounts, ids, 5)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	type item struct {
		Order   *order.Order
		Proof   *proofView
		Earlier []review.Earlier
	}
	items := make([]item, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- { // oldest first: the first to expire
		it := item{Order: list[i], Earlier: earlier[list[i].AccountID]}
		if p := proofs[list[i].ID]; p != nil {
			it.Proof = &proofView{Proof: *p, IsPDF: p.ContentType == "application/pdf"}
		}
		items = append(items, it)
	}
	s.render(w, v, http.StatusOK, "reviews", map[string]any{"Items": items})
}

// events: flagged gateway events by flag, open or resolved, with the
// resolve form; and card payments held in challenge.
func (s *Server) events(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := payment.EventFilter{Flag: q.Get("flag"), Limit: 100}
	if f.Flag != "" && !slices.Contains(payment.Flags(), f.Flag) {
		f.Flag = ""
	}
	state := q.Get("state")
	switch state {
	case "resolved":
		b := true
		f.Resolved = &b
	case "all":
	default:
		state = "open"
		b := false
		f.Resolved = &b
	}
	evs, err := s.Payments.ListEvents(r.Context(), f)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	challenges, err := s.readChallenges(r.Context(), 50)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	s.render(w, v, http.StatusOK, "events", map[string]any{"Events": viewEvents(evs), "Flag": f.Flag, "State": state,
		"Flags": payment.Flags(), "Challenges": challenges})
}

// accounts: find an account; those with a low or outstanding balance first.
func (s *Server) accounts(w http.ResponseWriter, r *http.Request, v *view) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if id := strings.TrimSpace(r.URL.Query().Get("id")); id != "" {
		http.Redirect(w, r, "/console/accounts/"+pathEscape(id), http.StatusSeeOther)
		return
	}
	list, err := s.readAccounts(r.Context(), q, r.URL.Query().Get("low") == "1", 100)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	s.render(w, v, http.StatusOK, "accounts", map[string]any{"Accounts": list, "Q": q, "Low": r.URL.Query().Get("low") == "1"})
}

// account: balances and alerts, the usage summary, the ledger, and the
// adjustment and reconciliation forms.
func (s *Server) account(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := r.Context()
	id := r.PathValue("id")
	a, err := s.Accounts.Get(ctx, id)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	postings, err := s.Accounts.Ledger(ctx, id, before, 50)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	var next int64
	if len(postings) == 50 {
		next = postings[len(postings)-1].ID
	}
	data := map[string]any{"Account": a, "Ledger": postings, "Next": next, "Usage": nil, "Period": s.Clock.Now().In(s.Location).AddDate(0, -1, 0).Format("2006-01")}
	if s.Usage != nil {
		from, to := s.Usage.DefaultPeriod()
		q := r.URL.Query()
		if t, ok := s.Usage.ParseBound(q.Get("from"), false); ok {
			from = t
		}
		if t, ok := s.Usage.ParseBound(q.Get("to"), true); ok {
			to = t
		}
		if !from.Before(to) {
			from, to = s.Usage.DefaultPeriod()
		}
		sum, err := s.Usage.Summary(ctx, id, from, to)
		if err != nil {
			s.failErr(w, r, v, err)
			return
		}
		alerts, err := s.Usage.Alerts(ctx, id)
		if err != nil {
			s.failErr(w, r, v, err)
			return
		}
		data["Usage"] = usageView{Summary: sum, Categories: categoriesOf(sum), From: from.In(s.Location).Format("2006-01-02"),
			To: to.Add(-time.Nanosecond).In(s.Location).Format("2006-01-02")}
		data["Alerts"] = map[string]usage.Alert{"wa": alerts[ledger.BalanceWA], "muv": alerts[ledger.BalanceMUV]}
		// The account's WhatsApp pricing, read-only: its list's cards.
		cards, err := s.Usage.Cards(ctx, a.WAPriceList)
		if err != nil {
			s.failErr(w, r, v, err)
			return
		}
		data["Cards"] = cards
	}
	v.Title = v.T("account.title") + " " + a.Name
	v.Nav = "accounts"
	s.render(w, v, http.StatusOK, "account", data)
}

type usageView struct {
	usage.Summary
	Categories []categoryRow
	From, To   string
}

type categoryRow struct {
	Name string
	usage.CategorySummary
}

func categoriesOf(sum usage.Summary) []categoryRow {
	var out []categoryRow
	for _, c := range []string{"marketing", "utility", "authentication", "service", "marketing_lite", "authentication_international"} {
		cs, ok := sum.Categories[c]
		if !ok {
			continue // the message-only categories appear once used
		}
		out = append(out, categoryRow{Name: c, CategorySummary: cs})
	}
	return out
}

// freeList renders free message counts by Meta's pricing type, "" when none.
func freeList(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + proforma.Number(m[k])
	}
	return strings.Join(parts, ", ")
}

func pathEscape(s string) string { return strings.ReplaceAll(urlQueryEscape(s), "+", "%20") }
