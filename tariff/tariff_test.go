package tariff

import (
	"strings"
	"testing"
)

func TestDefaultAndLongestPrefix(t *testing.T) {
	t.Parallel()
	tb := MustParse(Default + ";1:marketing=300,utility=50,authentication=100,service=0;1876:marketing=900,utility=1,authentication=2,service=3;*:marketing=1000,utility=500,authentication=700,service=400")
	for _, c := range []struct {
		rcpt, cat string
		want      int64
		country   string
	}{
		{"+6281234567890", Marketing, 600, "62"},
		{"+6281234567890", Service, 275, "62"},
		{"+6281234567890", Authentication, 440, "62"},
		{"+12025550123", Utility, 50, "1"},
		{"+18765550123", Marketing, 900, "1876"},
		{"+447911123456", Marketing, 1000, "*"},
	} {
		p, cc, ok := tb.Price(c.rcpt, c.cat)
		if !ok || p != c.want || cc != c.country {
			t.Errorf("Price(%s, %s) = %d %s %v; want %d %s", c.rcpt, c.cat, p, cc, ok, c.want, c.country)
		}
	}
	if _, _, ok := MustParse(Default).Price("+447911123456", Marketing); ok {
		t.Error("a country without a row and no * row is priced")
	}
	if s := tb.String(); !strings.HasSuffix(s, "*:marketing=1000,utility=500,authentication=700,service=400") || !strings.HasPrefix(s, "1:") {
		t.Errorf("String() = %s", s)
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "62", "62:marketing=600", "x1:marketing=1,utility=1,authentication=1,service=1",
		"62:marketing=-1,utility=1,authentication=1,service=1", "62:marketing=1.5,utility=1,authentication=1,service=1",
		"62:marketing=1,utility=1,authentication=1,service=1,promo=3", "62:marketing=1,marketing=2,utility=1,authentication=1,service=1",
		"62:marketing=1,utility=1,authentication=1,service=1;62:marketing=1,utility=1,authentication=1,service=1",
		"12345:marketing=1,utility=1,authentication=1,service=1",
	} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}
