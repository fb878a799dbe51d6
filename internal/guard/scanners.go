package guard

import (
	"net/netip"
	"strings"
)

// Hand-written scanners for the personal-data entities. The expression
// engine in the standard library runs bounded repetitions such as an
// email's {1,64} as many simultaneous threads, a few MB/s over prose; these
// scanners look only where a match can begin and run at memory speed.
// Each returns the leftmost accepted match at or after p. Whether a match
// starts at s depends only on text from s-4 to its end plus five bytes,
// and a match is never preceded by a character of its own kind, so the
// stream (which rescans from its cut) and the whole text agree.
//
// The shape expression given with each (entities.go) describes the
// characters a match may contain and its longest length, which bound how
// much a stream holds back.

func isDigitByte(c byte) bool { return '0' <= c && c <= '9' }
func isUpper(c byte) bool     { return 'A' <= c && c <= 'Z' }
func isAlnumByte(c byte) bool {
	return isDigitByte(c) || isUpper(c) || ('a' <= c && c <= 'z')
}
func isLocalByte(c byte) bool { return isAlnumByte(c) || strings.IndexByte("._%+-", c) >= 0 }
func isLabelByte(c byte) bool { return isAlnumByte(c) || c == '-' }

// scanEmail: local@label(.label)*.tld, a local part of 1 to 64 characters
// not preceded by another local or word character, up to six labels of at
// most 63 characters, the last one alphabetic (2 to 24 letters), and not
// followed by a word character, '@' or a further label.
func scanEmail(text string, p int) (int, int) {
	for p < len(text) {
		i := strings.IndexByte(text[p:], '@')
		if i < 0 {
			return -1, -1
		}
		a := p + i
		s := a
		for s > 0 && a-s <= 64 && isLocalByte(text[s-1]) {
			s--
		}
		if n := a - s; n >= 1 && n <= 64 && s >= p && !isWord(before(text, s)) {
			if e, ok := emailDomain(text, a+1); ok {
				return s, e
			}
		}
		p = a + 1
	}
	return -1, -1
}

func emailDomain(text string, d int) (int, bool) {
	var ends [6]int
	var alpha [6]bool
	n := 0
	for i := d; n < len(ends); {
		j := i
		letters := true
		for j < len(text) && j-i < 64 && isLabelByte(text[j]) {
			letters = letters && !isDigitByte(text[j]) && text[j] != '-'
			j++
		}
		if j == i || j-i > 63 || text[i] == '-' || text[j-1] == '-' {
			break
		}
		ends[n], alpha[n] = j, letters && j-i >= 2 && j-i <= 24
		n++
		if j+1 < len(text) && text[j] == '.' && isAlnumByte(text[j+1]) {
			i = j + 1
			continue
		}
		break
	}
	for k := n - 1; k >= 1; k-- {
		if !alpha[k] {
			continue
		}
		e := ends[k]
		a := after(text, e)
		if isWord(a) || a == '@' || a == '-' || (a == '.' && e+1 < len(text) && isAlnumByte(text[e+1])) {
			return 0, false
		}
		return e, true
	}
	return 0, false
}

// runStart reports whether a number may start at s: not glued to a word
// or to a number before it.
func runStart(text string, s int) bool {
	b := before(text, s)
	return !isWord(b) && b != '.' && b != '-' && b != '+'
}

// numberEnd reports whether a number may end at e: not glued to a word or
// to a further number part.
func numberEnd(text string, e int) bool {
	a := after(text, e)
	if isWord(a) {
		return false
	}
	if (a == '.' || a == '-' || a == ',' || a == ':') && e+1 < len(text) && isDigitByte(text[e+1]) {
		return false
	}
	return true
}

// nextDigitRun returns the first digit at or after p that starts a number.
func nextDigitRun(text string, p int) int {
	for p < len(text) {
		i := strings.IndexAny(text[p:], "0123456789")
		if i < 0 {
			return -1
		}
		s := p + i
		if runStart(text, s) {
			return s
		}
		p = s + 1
		for p < len(text) && isDigitByte(text[p]) {
			p++
		}
	}
	return -1
}

// scanCard: 12 to 19 digits, separated by nothing or consistently by
// single spaces or hyphens, passing Luhn's check; the longest such prefix
// of the number wins. Thirteen unseparated digits starting with 1 are a
// Unix time in milliseconds (as Presidio also rules), not a card.
func scanCard(text string, p int) (int, int) {
	for {
		s := nextDigitRun(text, p)
		if s < 0 {
			return -1, -1
		}
		var digits [19]byte
		var ends [19]int
		n := 0
		var sep byte
		for i := s; i < len(text) && n < len(digits); i++ {
			c := text[i]
			if isDigitByte(c) {
				digits[n], ends[n] = c, i+1
				n++
				continue
			}
			if (c == ' ' || c == '-') && (sep == 0 || sep == c) && i+1 < len(text) && isDigitByte(text[i+1]) && i > s && isDigitByte(text[i-1]) {
				sep = c
				continue
			}
			break
		}
		for k := n; k >= 12; k-- {
			if k == 13 && digits[0] == '1' && ends[k-1]-s == 13 {
				continue // a Unix time in milliseconds (2001 to 2033), not a card
			}
			if numberEnd(text, ends[k-1]) && !(k < n && ends[k-1] < len(text) && isDigitByte(text[ends[k-1]])) && luhn(digits[:k]) {
				return s, ends[k-1]
			}
		}
		p = s + 1
	}
}

// scanSSN: ddd-dd-dddd (or with spaces or dots), under the Social Security
// Administration's rules: no area 000, 666 or 9xx, no group 00, no serial
// 0000.
func scanSSN(text string, p int) (int, int) {
	for {
		s := nextDigitRun(text, p)
		if s < 0 {
			return -1, -1
		}
		if e := s + 11; e <= len(text) {
			c := text[s:e]
			sep := c[3]
			if (sep == '-' || sep == ' ' || sep == '.') && c[6] == sep && allDigits(c[0:3]) && allDigits(c[4:6]) && allDigits(c[7:11]) &&
				numberEnd(text, e) && after(text, e) != rune(sep) {
				area, group, serial := c[0:3], c[4:6], c[7:11]
				if area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000" {
					return s, e
				}
			}
		}
		p = s + 1
	}
}

func allDigits(s string) bool {
	for i := range len(s) {
		if !isDigitByte(s[i]) {
			return false
		}
	}
	return true
}

// scanPhone: an international number (+country code and 2 to 5 groups,
// optionally one in parentheses) or a North American one ((ddd) ddd-dddd,
// ddd-ddd-dddd, ddd.ddd.dddd), 7 to 15 digits in all.
func scanPhone(text string, p int) (int, int) {
	for p < len(text) {
		i := strings.IndexAny(text[p:], "+(0123456789")
		if i < 0 {
			return -1, -1
		}
		s := p + i
		if b := before(text, s); !isWord(b) && b != '+' && b != '.' && b != '-' && !(isDigitByte(text[s]) && b == '(') {
			if e, ok := phoneAt(text, s); ok && numberEnd(text, e) {
				return s, e
			}
		}
		p = s + 1
	}
	return -1, -1
}

func phoneAt(text string, s int) (int, bool) {
	digitsAt := func(i, lo, hi int) int { // end of lo..hi digits at i, or -1
		j := i
		for j < len(text) && j-i < hi && isDigitByte(text[j]) {
			j++
		}
		if j-i < lo || (j < len(text) && isDigitByte(text[j])) {
			return -1
		}
		return j
	}
	switch {
	case text[s] == '+':
		e := digitsAt(s+1, 1, 3)
		if e < 0 {
			return 0, false
		}
		count, groups := e-s-1, 0
		for groups < 5 {
			j := e
			if j < len(text) && (text[j] == ' ' || text[j] == '.' || text[j] == '-') {
				j++
			}
			var ne int
			if j < len(text) && text[j] == '(' {
				ne = digitsAt(j+1, 1, 4)
				if ne < 0 || ne >= len(text) || text[ne] != ')' {
					break
				}
				count += ne - j - 1
				ne++
			} else {
				ne = digitsAt(j, 1, 4)
				if ne < 0 {
					break
				}
				count += ne - j
			}
			e = ne
			groups++
		}
		return e, groups >= 2 && count >= 7 && count <= 15
	case text[s] == '(':
		e := digitsAt(s+1, 3, 3)
		if e < 0 || e >= len(text) || text[e] != ')' {
			return 0, false
		}
		e++
		if e < len(text) && (text[e] == ' ' || text[e] == '.' || text[e] == '-') {
			e++
		}
		if e = digitsAt(e, 3, 3); e < 0 || e >= len(text) || strings.IndexByte(" .-", text[e]) < 0 {
			return 0, false
		}
		e = digitsAt(e+1, 4, 4)
		return e, e > 0
	default:
		e := digitsAt(s, 3, 3)
		if e < 0 || e >= len(text) || (text[e] != '.' && text[e] != '-') {
			return 0, false
		}
		sep := text[e]
		if e = digitsAt(e+1, 3, 3); e < 0 || e >= len(text) || text[e] != sep {
			return 0, false
		}
		e = digitsAt(e+1, 4, 4)
		return e, e > 0
	}
}

func isAddrByte(c byte) bool {
	return isDigitByte(c) || c == '.' || c == ':' || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// scanIP: a whole run of address characters (hex digits, dots, colons),
// not glued to a word, that parses as an IPv4 or IPv6 address (a trailing
// sentence dot is left out).
func scanIP(text string, p int) (int, int) {
	for p < len(text) {
		i := strings.IndexAny(text[p:], ".:")
		if i < 0 {
			return -1, -1
		}
		a := p + i
		s := a
		for s > p && a-s < 46 && isAddrByte(text[s-1]) {
			s--
		}
		e := a
		for e < len(text) && e-s < 46 && isAddrByte(text[e]) {
			e++
		}
		next := e
		if s > 0 && isAddrByte(text[s-1]) || e-s >= 46 || isWord(before(text, s)) {
			p = max(next, a+1)
			continue
		}
		for e > s && text[e-1] == '.' {
			e--
		}
		if e > s && !isWord(after(text, e)) && after(text, e) != ':' {
			if addr, err := netip.ParseAddr(text[s:e]); err == nil && !addr.IsUnspecified() && addr.Zone() == "" {
				return s, e
			}
		}
		p = max(next, a+1)
	}
	return -1, -1
}

// scanIBAN: a country code, two check digits and the country's number of
// letters and digits (single spaces, or single hyphens, allowed between
// them, one kind per number), passing ISO 13616's mod-97 check.
func scanIBAN(text string, p int) (int, int) {
	for p+4 <= len(text) {
		i := strings.IndexAny(text[p:], "0123456789")
		if i < 0 {
			return -1, -1
		}
		d := p + i // the first check digit
		s := d - 2
		if s < p || !isUpper(text[s]) || !isUpper(text[s+1]) || d+1 >= len(text) || !isDigitByte(text[d+1]) || isWord(before(text, s)) {
			p = d + 1
			continue
		}
		if e, ok := validIBAN(text, s); ok {
			return s, e
		}
		p = d + 1
	}
	return -1, -1
}

func validIBAN(text string, s int) (int, bool) {
	want, ok := ibanLength[text[s:s+2]]
	if !ok {
		return 0, false
	}
	var buf [40]byte
	n, end := 0, -1
	var sep byte // the first separator fixes the rest
	for i := s; i < len(text) && n < want; i++ {
		c := text[i]
		switch {
		case (c == ' ' || c == '-') && (sep == 0 || sep == c) && i > s && text[i-1] != c && i+1 < len(text) && (isUpper(text[i+1]) || isDigitByte(text[i+1])):
			sep = c
			continue
		case isUpper(c) || isDigitByte(c):
			buf[n] = c
			n++
			if n == want {
				end = i + 1
			}
			continue
		}
		break
	}
	if end < 0 || isWord(after(text, end)) {
		return 0, false
	}
	return end, mod97(buf[:n]) == 1
}

// keyBounded accepts an sk- key not glued to other token characters,
// unless its body is lower-case words joined by hyphens (sk-learn-...,
// sk-your-api-key-here): prose or a placeholder. Generated keys are random
// letters, digits, hyphens and underscores, and twenty such characters
// with neither a digit nor a capital happen about once in 10^7.
func keyBounded(text string, s, e int) (int, bool) {
	if _, ok := tokenBounded(text, s, e); !ok {
		return e, false
	}
	hyphen := false
	for i := s + len("sk-"); i < e; i++ {
		switch c := text[i]; {
		case isDigitByte(c) || isUpper(c):
			return e, true
		case c == '-':
			hyphen = true
		}
	}
	return e, !hyphen
}
