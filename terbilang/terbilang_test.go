package terbilang

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestID(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "nol"},
		{1, "satu"},
		{10, "sepuluh"},
		{11, "sebelas"},
		{12, "dua belas"},
		{19, "sembilan belas"},
		{20, "dua puluh"},
		{21, "dua puluh satu"},
		{99, "sembilan puluh sembilan"},
		{100, "seratus"},
		{101, "seratus satu"},
		{110, "seratus sepuluh"},
		{111, "seratus sebelas"},
		{200, "dua ratus"},
		{999, "sembilan ratus sembilan puluh sembilan"},
		{1_000, "seribu"},
		{1_001, "seribu satu"},
		{1_100, "seribu seratus"},
		{2_000, "dua ribu"},
		{11_000, "sebelas ribu"},
		{100_000, "seratus ribu"},
		{101_000, "seratus satu ribu"},
		{110_000, "seratus sepuluh ribu"},
		{1_000_000, "satu juta"},
		{1_001_000, "satu juta seribu"},
		{1_000_001, "satu juta satu"},
		{1_776_000, "satu juta tujuh ratus tujuh puluh enam ribu"},
		{1_148_850, "satu juta seratus empat puluh delapan ribu delapan ratus lima puluh"},
		{1_000_000_000, "satu miliar"},
		{1_000_000_000_000, "satu triliun"},
		{999_999_999_999, "sembilan ratus sembilan puluh sembilan miliar sembilan ratus sembilan puluh sembilan juta " +
			"sembilan ratus sembilan puluh sembilan ribu sembilan ratus sembilan puluh sembilan"},
		{-5_000, "minus lima ribu"},
		{math.MaxInt64, "sembilan kuintiliun dua ratus dua puluh tiga kuadriliun tiga ratus tujuh puluh dua triliun " +
			"tiga puluh enam miliar delapan ratus lima puluh empat juta tujuh ratus tujuh puluh lima ribu delapan ratus tujuh"},
	} {
		if got := ID(c.n); got != c.want {
			t.Errorf("ID(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestEN(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "zero"},
		{11, "eleven"},
		{20, "twenty"},
		{21, "twenty-one"},
		{100, "one hundred"},
		{115, "one hundred fifteen"},
		{1_000, "one thousand"},
		{1_000_000, "one million"},
		{1_776_000, "one million seven hundred seventy-six thousand"},
		{1_000_000_000, "one billion"},
		{999_999_999_999, "nine hundred ninety-nine billion nine hundred ninety-nine million " +
			"nine hundred ninety-nine thousand nine hundred ninety-nine"},
		{-1, "minus one"},
	} {
		if got := EN(c.n); got != c.want {
			t.Errorf("EN(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestRupiah(t *testing.T) {
	t.Parallel()
	if got := Rupiah(1_776_000, "id"); got != "satu juta tujuh ratus tujuh puluh enam ribu rupiah" {
		t.Errorf("id: %q", got)
	}
	if got := Rupiah(1_776_000, "en"); got != "one million seven hundred seventy-six thousand rupiah" {
		t.Errorf("en: %q", got)
	}
}

// Every number reads back as itself, and the words keep the rules a reader
// checks: single spaces, "seribu" never "satu ribu", "seratus" never
// "satu ratus", "sebelas"/"sepuluh" never "satu belas"/"satu puluh".
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(16, 16))
	var ns []int64
	for i := int64(0); i <= 2_100; i++ {
		ns = append(ns, i, i*1_000, i*1_000_000+i, i*1_001_001)
	}
	for range 20_000 {
		// Spread over magnitudes, not only the huge numbers a uniform draw gives.
		ns = append(ns, r.Int64N(int64(math.Pow10(1+r.IntN(18)))))
	}
	ns = append(ns, math.MaxInt64, math.MinInt64+1, math.MinInt64)
	for _, n := range ns {
		id := ID(n)
		if got, ok := parseID(id); !ok || got != n {
			t.Fatalf("ID(%d) = %q reads back as %d (ok %v)", n, id, got, ok)
		}
		en := EN(n)
		if got, ok := parseEN(en); !ok || got != n {
			t.Fatalf("EN(%d) = %q reads back as %d (ok %v)", n, en, got, ok)
		}
		if strings.Contains(id, "  ") || strings.TrimSpace(id) != id || (n != 0 && strings.Contains(id, "nol")) {
			t.Fatalf("ID(%d) = %q: spacing or a stray nol", n, id)
		}
		for _, bad := range []string{"satu ratus", "satu belas", "satu puluh"} {
			if strings.Contains(id, bad) {
				t.Fatalf("ID(%d) = %q contains %q", n, id, bad)
			}
		}
		// "satu ribu" is right only after tens ("dua puluh satu ribu"), never
		// as a whole group: that is "seribu".
		for _, start := range []string{"", "minus ", "juta ", "miliar ", "triliun ", "kuadriliun ", "kuintiliun "} {
			if strings.HasPrefix(id, start+"satu ribu") || (start != "" && strings.Contains(id, " "+start+"satu ribu")) {
				t.Fatalf("ID(%d) = %q says satu ribu for seribu", n, id)
			}
		}
	}
}

var idScaleValue = map[string]uint64{"juta": 1e6, "miliar": 1e9, "triliun": 1e12, "kuadriliun": 1e15, "kuintiliun": 1e18, "ribu": 1e3}

// parseID reads Indonesian number words back, independently of ID.
func parseID(s string) (int64, bool) {
	toks := strings.Split(s, " ")
	neg := toks[0] == "minus"
	if neg {
		toks = toks[1:]
	}
	if len(toks) == 1 && toks[0] == "nol" {
		return 0, true
	}
	var total, group, cur uint64
	for _, tok := range toks {
		switch tok {
		case "seratus":
			group += 100
		case "sepuluh":
			cur += 10
		case "sebelas":
			cur += 11
		case "belas":
			group += cur + 10
			cur = 0
		case "puluh":
			group += cur * 10
			cur = 0
		case "ratus":
			group += cur * 100
			cur = 0
		case "seribu":
			if group != 0 || cur != 0 {
				return 0, false
			}
			total += 1000
		default:
			if v, ok := idScaleValue[tok]; ok {
				total += (group + cur) * v
				group, cur = 0, 0
				continue
			}
			v := index(idUnits[1:10], tok)
			if v < 0 {
				return 0, false
			}
			cur += uint64(v + 1)
		}
	}
	total += group + cur
	return signed(total, neg)
}

var enScaleValue = map[string]uint64{"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "quadrillion": 1e15, "quintillion": 1e18}

// parseEN reads English number words back, independently of EN.
func parseEN(s string) (int64, bool) {
	toks := strings.Split(s, " ")
	neg := toks[0] == "minus"
	if neg {
		toks = toks[1:]
	}
	if len(toks) == 1 && toks[0] == "zero" {
		return 0, true
	}
	var total, group uint64
	for _, tok := range toks {
		if tok == "hundred" {
			group *= 100
			continue
		}
		if v, ok := enScaleValue[tok]; ok {
			total += group * v
			group = 0
			continue
		}
		tens, unit, hyphen := strings.Cut(tok, "-")
		if t := index(enTens[2:], tens); t >= 0 {
			group += uint64(t+2) * 10
			if hyphen {
				u := index(enUnits[1:10], unit)
				if u < 0 {
					return 0, false
				}
				group += uint64(u + 1)
			}
			continue
		}
		u := index(enUnits[1:], tok)
		if u < 0 || hyphen {
			return 0, false
		}
		group += uint64(u + 1)
	}
	total += group
	return signed(total, neg)
}

func signed(u uint64, neg bool) (int64, bool) {
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return int64(-u), true // -u wraps to the two's complement: MinInt64 included
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

func index(list []string, s string) int {
	for i, w := range list {
		if w == s {
			return i
		}
	}
	return -1
}
