package api

import (
	"bytes"
	"html/template"
	"net/http"
	"time"

	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/proforma"
)

// payWords are the page's words, key → {id, en}.
var payWords = map[string][2]string{
	"title":               {"Pembayaran invoice", "Invoice payment"},
	"from":                {"Tagihan dari", "Invoice from"},
	"invoice":             {"Nomor invoice", "Invoice number"},
	"for":                 {"Untuk", "For"},
	"item":                {"Rincian", "Item"},
	"subtotal":            {"Subtotal", "Subtotal"},
	"vat":                 {"PPN", "VAT"},
	"total":               {"Total", "Total"},
	"deadline":            {"Bayar sebelum", "Pay before"},
	"left":                {"Sisa waktu", "Time left"},
	"status":              {"Status", "Status"},
	"choose":              {"Pilih cara bayar", "Choose how to pay"},
	"open":                {"Cara membayar", "How to pay"},
	"pay":                 {"Bayar dengan", "Pay with"},
	"va.how":              {"Transfer tepat sejumlah total ke nomor virtual account ini dari aplikasi atau ATM bank Anda.", "Transfer exactly the total to this virtual account number from your bank's app or ATM."},
	"va.number":           {"Nomor virtual account", "Virtual account number"},
	"bill.how":            {"Bayar di Livin' by Mandiri atau ATM Mandiri: menu Bayar, pilih kode perusahaan, lalu masukkan kode bayar.", "Pay in Livin' by Mandiri or a Mandiri ATM: Pay menu, the company code, then the bill key."},
	"bill.code":           {"Kode perusahaan", "Company code"},
	"bill.key":            {"Kode bayar", "Bill key"},
	"qr.how":              {"Pindai kode QR ini dengan aplikasi bank atau e-wallet apa pun yang mendukung QRIS.", "Scan this QR code with any bank or e-wallet app that takes QRIS."},
	"qr.alt":              {"Kode QR pembayaran", "Payment QR code"},
	"wallet.how":          {"Di ponsel, buka aplikasinya dengan tombol ini. Di komputer, pindai kode QR dengan ponsel Anda.", "On a phone, open the app with this button. On a computer, scan the QR code with your phone."},
	"wallet.open":         {"Buka aplikasi", "Open the app"},
	"ovo.phone":           {"Nomor ponsel OVO", "OVO phone number"},
	"ovo.how":             {"Setujui pembayaran di aplikasi OVO dalam 55 detik.", "Approve the payment in the OVO app within 55 seconds."},
	"transfer.how":        {"Transfer tepat sejumlah total ke rekening ini, lalu unggah bukti transfernya.", "Transfer exactly the total to this account, then upload the transfer proof."},
	"transfer.ref":        {"Berita transfer", "Transfer reference"},
	"bank":                {"Bank", "Bank"},
	"account":             {"Nomor rekening", "Account number"},
	"holder":              {"Atas nama", "Account holder"},
	"proof":               {"Unggah bukti transfer", "Upload the transfer proof"},
	"proof.file":          {"Bukti (PNG, JPEG atau PDF, maks. 5 MiB)", "Proof (PNG, JPEG or PDF, at most 5 MiB)"},
	"proof.amount":        {"Jumlah yang ditransfer (rupiah)", "Amount transferred (rupiah)"},
	"proof.when":          {"Waktu transfer", "Transfer time"},
	"proof.bank":          {"Bank pengirim", "Sender's bank"},
	"proof.name":          {"Nama pengirim", "Sender's name"},
	"proof.send":          {"Kirim bukti", "Send the proof"},
	"proof.done":          {"Bukti transfer diterima; tim keuangan akan memeriksanya.", "Transfer proof received; finance will check it."},
	"rejected":            {"Bukti transfer ditolak. Perbaiki jumlahnya atau unggah bukti baru.", "The transfer proof was rejected. Correct the amount or upload a new proof."},
	"copy":                {"Salin", "Copy"},
	"expires":             {"Berlaku sampai", "Valid until"},
	"paid":                {"Lunas. Terima kasih!", "Paid. Thank you!"},
	"proforma":            {"Unduh invoice LUNAS (PDF)", "Download the PAID invoice (PDF)"},
	"nopay":               {"Invoice ini tidak dapat dibayar lagi.", "This invoice can no longer be paid."},
	"error":               {"Tidak berhasil", "Did not work"},
	"lang":                {"English", "Bahasa Indonesia"},
	"card":                {"Kartu kredit / debit", "Credit / debit card"},
	"card.number":         {"Nomor kartu", "Card number"},
	"card.month":          {"Bulan kedaluwarsa (MM)", "Expiry month (MM)"},
	"card.year":           {"Tahun kedaluwarsa (YYYY)", "Expiry year (YYYY)"},
	"card.cvv":            {"CVV", "CVV"},
	"card.pay":            {"Bayar dengan kartu", "Pay by card"},
	"card.how":            {"Data kartu dikirim langsung ke Midtrans; biaya kartu ditambahkan ke total.", "The card details go straight to Midtrans; the card fee is added to the total."},
	"st.awaiting_payment": {"Menunggu pembayaran", "Awaiting payment"},
	"st.in_review":        {"Bukti transfer sedang diperiksa", "Transfer proof being checked"},
	"st.paid":             {"Lunas", "Paid"},
	"st.expired":          {"Kedaluwarsa", "Expired"},
	"st.cancelled":        {"Dibatalkan", "Cancelled"},
	"st.rejected":         {"Bukti ditolak", "Proof rejected"},
	"st.closed":           {"Ditutup", "Closed"},
	"st.refunded":         {"Dikembalikan", "Refunded"},
	"st.draft":            {"Draf", "Draft"},
}

func payWord(lang, key string) string {
	m, ok := payWords[key]
	if !ok {
		return "⟦" + key + "⟧"
	}
	if lang == "en" {
		return m[1]
	}
	return m[0]
}

// payAttempt is an open attempt with what the page shows of it.
type payAttempt struct {
	order.AttemptView
	Label, Kind string
	Expires     string
}

// payData is what page.html renders.
type payData struct {
	Lang, Other, Token, Seller, Invoice, Requester string
	Items                                          []payItem
	Subtotal, VAT, Total                           int64
	Deadline, DeadlineISO, Status, StatusText      string
	Payable, Paid, Rejected, ProofDone, InReview   bool
	Methods                                        []payMethod
	Open                                           []payAttempt
	Transfer                                       any
	Error, ProformaURL                             string
	Now                                            string // prefills the transfer time, RFC 3339 in WIB
	Reason                                         string // why finance rejected the proof (the rejection mail says it too)
	Card                                           bool   // card offered: Midtrans's script is loaded
	CardScript, CardClientKey, CardEnv             string
}

type payItem struct {
	Name   string
	Amount int64
}

// wib formats a time in the business zone, as the page shows deadlines.
func (s *Server) wib(t time.Time) string {
	return t.In(s.Location).Format("02-01-2006 15:04") + " WIB"
}

func (s *Server) payHTML(w http.ResponseWriter, r *http.Request) {
	o, ok := s.payOrder(w, r)
	if !ok {
		return
	}
	lang := o.Locale
	if l := r.URL.Query().Get("lang"); l == "id" || l == "en" {
		lang = l
	}
	if lang != "en" {
		lang = "id"
	}
	other := map[string]string{"id": "en", "en": "id"}[lang]
	v := s.orderView(o)
	d := payData{Lang: lang, Other: other, Token: r.PathValue("token"), Seller: s.SellerName, Invoice: *o.InvoiceNumber,
		Requester: o.Requester.Name + " · " + maskEmail(o.Requester.Email), Subtotal: o.Subtotal, VAT: o.VAT, Total: o.Total,
		Status: string(o.Status), StatusText: payWord(lang, "st."+string(o.Status)),
		Payable: o.Status == order.StatusAwaitingPayment || o.Status == order.StatusRejected,
		Paid:    o.Status == order.StatusPaid, Rejected: o.Status == order.StatusRejected, InReview: o.Status == order.StatusInReview,
		ProofDone: r.URL.Query().Get("proof") == "1", Error: r.URL.Query().Get("error"),
		ProformaURL: "/v1/orders/" + o.ID + "/proforma.pdf?" + s.Signer.For(o.ID, 7*24*time.Hour)}
	if d.Rejected && o.StatusReason != nil {
		d.Reason = *o.StatusReason
	}
	d.CardScript, d.CardClientKey, d.CardEnv = s.CardScript, s.CardClientKey, s.CardEnv
	d.Now = s.Payments.Now().In(s.Location).Truncate(time.Minute).Format(time.RFC3339)
	if s.SellerName == "" {
		d.Seller = "lunas"
	}
	if o.ExpiresAt != nil {
		d.Deadline, d.DeadlineISO = s.wib(*o.ExpiresAt), o.ExpiresAt.UTC().Format(time.RFC3339)
		if !s.Payments.Now().Before(*o.ExpiresAt) {
			d.Payable = false
		}
	}
	for _, it := range o.Items {
		// The line as the proforma and the mails name it, in the page's language.
		d.Items = append(d.Items, payItem{Name: proforma.LineName(it, lang), Amount: it.Amount})
	}
	if d.Payable {
		for _, m := range s.Payments.Methods() {
			if m == gateway.MethodCreditCard {
				// Card only through Midtrans's own tokenizing script: the
				// card number never reaches lunas.
				d.Card = s.CardScript != ""
				continue
			}
			label, kind := methodLabel(m)
			d.Methods = append(d.Methods, payMethod{Method: m, Label: label, Kind: kind})
		}
		for i := len(v.Payments) - 1; i >= 0; i-- {
			a := v.Payments[i]
			if a.Status != order.AttemptPending {
				continue
			}
			label, kind := methodLabel(a.Method)
			pa := payAttempt{AttemptView: a, Label: label, Kind: kind}
			if a.ExpiresAt != nil {
				if t, err := time.Parse(time.RFC3339, *a.ExpiresAt); err == nil {
					pa.Expires = s.wib(t)
				}
			}
			d.Open = append(d.Open, pa)
		}
		d.Transfer = s.Payments.Bank()
	}
	var buf bytes.Buffer
	tpl, err := s.pay.tpl.Clone()
	if err == nil {
		tpl.Funcs(template.FuncMap{"t": func(k string) string { return payWord(lang, k) }})
		err = tpl.ExecuteTemplate(&buf, "page.html", d)
	}
	if err != nil {
		s.log.Error("pay page", "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal error", nil)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}
