package console

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/lunas-id/lunas/proforma"
)

// The payment package records what it did with each gateway event as a
// short English line (the API's gateway-events show it as is). Finance
// reads it in the console: outcome puts the known lines into the page's
// language with amounts as rupiah; an unknown line is shown as recorded.
// Each pattern mirrors one outcome written in payment/apply.go,
// payment/reversal.go or payment/inbox.go (console/outcome_test.go).

// outcomePattern is one recorded outcome line and its two renderings;
// $n are the captures, "rp:" marks a capture shown as rupiah, "kind:" a
// reversal kind shown in words.
type outcomePattern struct {
	re     *regexp.Regexp
	id, en string
}

func outcomePatterns() []outcomePattern {
	p := func(re, id, en string) outcomePattern {
		return outcomePattern{regexp.MustCompile(`^` + re + `$`), id, en}
	}
	return []outcomePattern{
		p(`settled`, "dilunasi", "settled"),
		p(`already settled`, "sudah dilunasi sebelumnya", "already settled"),
		p(`pending: nothing to do`, "masih menunggu pembayaran: tidak ada yang diubah", "pending: nothing to do"),
		p(`challenge: held by fraud detection, nothing credited`, "ditahan deteksi penipuan: belum dikreditkan", "held by fraud detection: nothing credited"),
		p(`attempt failed: (.*)`, "percobaan bayar gagal: $1", "attempt failed: $1"),
		p(`amount mismatch: paid (\d+) IDR, attempt is (\d+) IDR`, "jumlah berbeda: dibayar rp:$1, tagihan rp:$2", "amount differs: paid rp:$1, billed rp:$2"),
		p(`paid (\d+) on an attempt for an old price \(the order's payable is now (\d+)\): nothing credited`,
			"dibayar rp:$1 untuk harga lama (kini rp:$2): belum dikreditkan", "paid rp:$1 for an old price (now rp:$2): nothing credited"),
		p(`gateway status (\S+): nothing to do`, "status di gateway $1: tidak ada yang diubah", "gateway status $1: nothing to do"),
		p(`(\S+) after (\S+): ignored \(forward-only\)`, "$1 setelah $2: diabaikan (status tidak mundur)", "$1 after $2: ignored (forward-only)"),
		p(`the callback says (\S+), the gateway says (\S+): nothing changed`, "notifikasi menyebut $1, gateway menyebut $2: tidak ada yang diubah",
			"the callback says $1, the gateway says $2: nothing changed"),
		p(`the gateway confirms a (\S+) without its amount: nothing changed`, "gateway mengonfirmasi kind:$1 tanpa jumlah: tidak ada yang diubah",
			"the gateway confirms a kind:$1 without its amount: nothing changed"),
		p(`(\S+) of (\d+) already reversed \((\d+) of (\d+) taken back\)`, "kind:$1 rp:$2 sudah dicatat (rp:$3 dari rp:$4 ditarik kembali)",
			"kind:$1 of rp:$2 already recorded (rp:$3 of rp:$4 taken back)"),
		p(`(\S+): (\d+) of (\d+) taken back of a payment that credited nothing`, "kind:$1: rp:$2 dari rp:$3 ditarik kembali dari pembayaran yang belum dikreditkan",
			"kind:$1: rp:$2 of rp:$3 taken back of a payment that credited nothing"),
		p(`(\S+): (\d+) of (\d+) taken back; reversed wa_balance (\d+), muv (\d+) \(now wa_balance (\d+), outstanding (\d+), muv (\d+)\)`,
			"kind:$1: rp:$2 dari rp:$3 ditarik kembali; saldo WhatsApp dikurangi rp:$4, pengunjung num:$5 (kini saldo WhatsApp rp:$6, utang rp:$7, pengunjung num:$8)",
			"kind:$1: rp:$2 of rp:$3 taken back; WhatsApp balance less rp:$4, visitors num:$5 (now WhatsApp balance rp:$6, owed rp:$7, visitors num:$8)"),
		p(`delivered again after it was unconfirmed`, "dikirim ulang setelah tidak dikonfirmasi", "delivered again after it was unconfirmed"),
	}
}

// reversalWords names a reversal kind in the page's language.
func reversalWords(kind, lang string) string {
	words := map[string][2]string{"refund": {"pengembalian dana", "refund"}, "partial_refund": {"pengembalian sebagian", "partial refund"},
		"chargeback": {"sanggahan kartu (chargeback)", "chargeback"}, "partial_chargeback": {"sanggahan sebagian", "partial chargeback"},
		"void": {"pembatalan", "void"}}
	w, ok := words[kind]
	if !ok {
		return kind
	}
	if lang == "en" {
		return w[1]
	}
	return w[0]
}

var outcomeMarks = regexp.MustCompile(`(rp|num|kind):(\S+?)(\b|$)`)

// outcome renders a recorded outcome line in lang.
func outcome(lang, line string) string { return render(outcomePatterns(), lang, line) }

// render renders line by the first of patterns that matches it, marks
// (rp:, num:, kind:) resolved; line as it is when none matches.
func render(patterns []outcomePattern, lang, line string) string {
	for _, p := range patterns {
		m := p.re.FindStringSubmatchIndex(line)
		if m == nil {
			continue
		}
		tpl := p.id
		if lang == "en" {
			tpl = p.en
		}
		s := string(p.re.ExpandString(nil, tpl, line, m))
		return outcomeMarks.ReplaceAllStringFunc(s, func(x string) string {
			mark, v, _ := strings.Cut(x, ":")
			switch mark {
			case "rp", "num":
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return v
				}
				if mark == "rp" {
					return proforma.Rupiah(n)
				}
				return proforma.Number(n)
			}
			return reversalWords(v, lang)
		})
	}
	return line
}

// adjustmentPatterns are the notes pricing writes on an order line
// (invoice/pricing.go; the API keeps them as written).
func adjustmentPatterns() []outcomePattern {
	p := func(re, id, en string) outcomePattern {
		return outcomePattern{regexp.MustCompile(`^` + re + `$`), id, en}
	}
	return []outcomePattern{
		p(`raised to the minimum top-up of (\d+)`, "dinaikkan ke batas terendah isi saldo rp:$1", "raised to the minimum top-up of rp:$1"),
		p(`rounded up to a multiple of (\d+)`, "dibulatkan ke kelipatan rp:$1", "rounded up to a multiple of rp:$1"),
		p(`rounded up to (\d+) packs? of (\d+)`, "dibulatkan ke num:$1 paket isi num:$2", "rounded up to num:$1 × num:$2"),
	}
}

// adjustment renders a line's pricing note in lang ("X, then Y" part by
// part); an unknown note is shown as written.
func adjustment(lang, note string) string {
	parts := strings.Split(note, ", then ")
	for i, part := range parts {
		parts[i] = render(adjustmentPatterns(), lang, part)
	}
	then := ", lalu "
	if lang == "en" {
		then = ", then "
	}
	return strings.Join(parts, then)
}
