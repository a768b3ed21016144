package payment

import "testing"

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"08123456789": "+628123456789", "+628123456789": "+628123456789", "628123456789": "+628123456789",
		"0812-3456-7890": "+6281234567890", " +62 812 3456 7890 ": "+6281234567890",
		"12345": "", "0212345678": "", "+6512345678": "", "08": "", "0812345678901234": "",
	}
	for in, want := range cases {
		got, ok := NormalizePhone(in)
		if (want == "") == ok || (ok && got != want) {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
