package whatsapp

import (
	"bytes"
	"encoding/json"
)

// A small walker over JSON that json.Valid has accepted: Parse needs a
// few members at each level, and encoding/json's RawMessage decoding
// re-validates every subtree at every level (a 1,000-status batch was
// scanned ~18 times). Here each level costs one plain scan of its bytes.
// Every function assumes valid JSON and stays in bounds on any input.

// members stores in dst[i] the value of the member of obj named names[i]
// (the last one when repeated), nil when absent. Keys match exactly.
func members(obj []byte, names []string, dst [][]byte) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return // '}' or the end
		}
		kEnd := skipValue(obj, i)
		key := obj[i:kEnd]
		if len(key) < 2 {
			return
		}
		i = skipSpace(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return
		}
		i = skipSpace(obj, i+1)
		vEnd := skipValue(obj, i)
		k := key[1 : len(key)-1] // compared as string(k): no copy
		if bytes.IndexByte(k, '\\') >= 0 {
			var u string
			if json.Unmarshal(key, &u) != nil {
				u = ""
			}
			k = []byte(u)
		}
		for n, name := range names {
			if string(k) == name {
				dst[n] = obj[i:vEnd]
			}
		}
		i = skipSpace(obj, vEnd)
		if i >= len(obj) || obj[i] != ',' {
			return
		}
		i++
	}
}

// elements splits arr into its values.
func elements(arr []byte) [][]byte {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return nil
	}
	out := [][]byte{}
	i++
	for {
		i = skipSpace(arr, i)
		if i >= len(arr) || arr[i] == ']' {
			return out
		}
		end := skipValue(arr, i)
		if end == i {
			return out
		}
		out = append(out, arr[i:end])
		i = skipSpace(arr, end)
		if i >= len(arr) || arr[i] != ',' {
			return out
		}
		i++
	}
}

// firstElement is the first value of arr.
func firstElement(arr []byte) ([]byte, bool) {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return nil, false
	}
	i = skipSpace(arr, i+1)
	if i >= len(arr) || arr[i] == ']' {
		return nil, false
	}
	return arr[i:skipValue(arr, i)], true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		for i++; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
		return len(b)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipValue(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

// plain returns the text of a JSON string that needs no decoding: no
// escapes and printable ASCII only (anything else goes through
// encoding/json, which also replaces invalid UTF-8).
func plain(s []byte) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	for _, c := range s[1 : len(s)-1] {
		if c < 0x20 || c > 0x7e || c == '\\' || c == '"' {
			return "", false
		}
	}
	return string(s[1 : len(s)-1]), true
}
