// Package langcheck finds what a finance person should never read on a
// page or in a mail: a translation key rendered raw (⟦console.key⟧) and,
// on an Indonesian page, English words from a short list kept here. The
// console's page walk and the mail tests call it for every page and
// template in both languages.
package langcheck

import (
	"regexp"
	"strings"
)

// english are words that slipped into Indonesian text before (the finish
// issue) or could: each has an Indonesian word the product uses instead.
// Brand and method names (Virtual Account, QRIS, GoPay) and codes shown as
// codes (INV-…, status keys in URLs) are not on it.
func english() []string {
	return []string{"refund", "refunded", "taken back", "visitor", "visitors", "minimum", "raised", "rounded up",
		"payment gateway", "outstanding", "reversal", "topup", "top-up credit", "balance", "received", "sent", "failed",
		"pending", "paid", "unpaid", "amount", "total due", "overdue", "subscription", "invoice date", "due date"}
}

var (
	rawKey = regexp.MustCompile(`⟦[^⟧]*⟧`)
	tags   = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]*>`)
	space  = regexp.MustCompile(`\s+`)
)

// Text returns what a reader sees of an HTML page or mail: tags, scripts
// and styles dropped, entities of quotes and ampersands read, runs of
// space made one.
func Text(html string) string {
	s := tags.ReplaceAllString(html, " ")
	s = strings.NewReplacer("&amp;", "&", "&#39;", "'", "&quot;", `"`, "&lt;", "<", "&gt;", ">", "&nbsp;", " ").Replace(s)
	return space.ReplaceAllString(s, " ")
}

// Problems lists what is wrong with text a reader sees in locale ("id"
// or "en"): raw translation keys in any locale; English words (whole
// words, any case) in Indonesian.
func Problems(locale, text string) []string {
	var out []string
	for _, k := range rawKey.FindAllString(text, -1) {
		out = append(out, "raw translation key "+k)
	}
	if locale != "id" {
		return out
	}
	lower := " " + strings.ToLower(text) + " "
	for _, w := range english() {
		re := regexp.MustCompile(`[^\pL\pN_/.=?&-]` + regexp.QuoteMeta(w) + `[^\pL\pN_/=&-]`)
		if loc := re.FindStringIndex(lower); loc != nil {
			from, to := max(loc[0]-30, 0), min(loc[1]+30, len(lower))
			out = append(out, "English "+strings.ToUpper(w)+" in Indonesian: …"+strings.TrimSpace(lower[from:to])+"…")
		}
	}
	return out
}
