// Package terbilang writes whole numbers in words, in Indonesian
// (terbilang: "satu juta tujuh ratus tujuh puluh enam ribu") and in
// English, for the amount-in-words line Indonesian finance expects on an
// invoice. The proforma PDF calls Rupiah with the invoice total.
package terbilang

import "strings"

var (
	idUnits = [...]string{"nol", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan",
		"sepuluh", "sebelas"}
	// Short scale: 10^3, 10^6, 10^9, 10^12, 10^15, 10^18 (int64 ends below 10^19).
	idScales = [...]string{"", "ribu", "juta", "miliar", "triliun", "kuadriliun", "kuintiliun"}

	enUnits = [...]string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
		"ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}
	enTens   = [...]string{"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}
	enScales = [...]string{"", "thousand", "million", "billion", "trillion", "quadrillion", "quintillion"}
)

// ID writes n in Indonesian words: 0 "nol", 11 "sebelas", 100 "seratus",
// 1000 "seribu", 1776000 "satu juta tujuh ratus tujuh puluh enam ribu".
// Negative numbers start with "minus".
func ID(n int64) string {
	return words(n, "nol", idScales[:], idGroup, func(group uint64, scale int) string {
		// "seribu", not "satu ribu"; every larger scale says "satu".
		if group == 1 && scale == 1 {
			return "seribu"
		}
		return ""
	})
}

// EN writes n in English words, short scale, without "and":
// 1776000 "one million seven hundred seventy-six thousand".
func EN(n int64) string {
	return words(n, "zero", enScales[:], enGroup, func(uint64, int) string { return "" })
}

// Rupiah is the amount-in-words line of an invoice in locale ("id", or
// "en"; anything else is Indonesian): "satu juta rupiah", "one million rupiah".
func Rupiah(n int64, locale string) string {
	if locale == "en" {
		return EN(n) + " rupiah"
	}
	return ID(n) + " rupiah"
}

// words splits n into groups of three digits, most significant first, and
// names each non-zero group with its scale. special may name a whole
// group-and-scale itself (Indonesian "seribu").
func words(n int64, zero string, scales []string, group func(uint64) string, special func(uint64, int) string) string {
	if n == 0 {
		return zero
	}
	var parts []string
	// uint64 holds |math.MinInt64|, which int64 cannot.
	u := uint64(n)
	if n < 0 {
		parts = append(parts, "minus")
		u = uint64(-(n + 1)) + 1
	}
	var groups []uint64
	for ; u > 0; u /= 1000 {
		groups = append(groups, u%1000)
	}
	for scale := len(groups) - 1; scale >= 0; scale-- {
		g := groups[scale]
		if g == 0 {
			continue
		}
		if s := special(g, scale); s != "" {
			parts = append(parts, s)
			continue
		}
		parts = append(parts, group(g))
		if scale > 0 {
			parts = append(parts, scales[scale])
		}
	}
	return strings.Join(parts, " ")
}

// idGroup names 1–999 in Indonesian.
func idGroup(n uint64) string {
	var parts []string
	if h := n / 100; h > 0 {
		if h == 1 {
			parts = append(parts, "seratus")
		} else {
			parts = append(parts, idUnits[h], "ratus")
		}
	}
	switch r := n % 100; {
	case r == 0:
	case r < 12:
		parts = append(parts, idUnits[r])
	case r < 20:
		parts = append(parts, idUnits[r%10], "belas")
	default:
		parts = append(parts, idUnits[r/10], "puluh")
		if r%10 > 0 {
			parts = append(parts, idUnits[r%10])
		}
	}
	return strings.Join(parts, " ")
}

// enGroup names 1–999 in English.
func enGroup(n uint64) string {
	var parts []string
	if h := n / 100; h > 0 {
		parts = append(parts, enUnits[h], "hundred")
	}
	switch r := n % 100; {
	case r == 0:
	case r < 20:
		parts = append(parts, enUnits[r])
	case r%10 == 0:
		parts = append(parts, enTens[r/10])
	default:
		parts = append(parts, enTens[r/10]+"-"+enUnits[r%10])
	}
	return strings.Join(parts, " ")
}
