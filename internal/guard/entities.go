package guard

import (
	"encoding/base64"
	"slices"
	"strings"
)

// builtin holds the personal-data and secret detectors, by entity name.
var builtin = map[string][]*detector{}

// Entities lists the built-in entity names.
func Entities() []string {
	names := make([]string, 0, len(builtin))
	for n := range builtin {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func init() {
	def := func(entity, expr string, validate func(string, int, int) (int, bool), secret bool, an *anchor) {
		d, err := boundedDetector(entity, expr, validate, 256)
		if err != nil {
			panic("guard: " + entity + ": " + err.Error())
		}
		d.secret, d.anchor = secret, an
		builtin[entity] = append(builtin[entity], d)
	}
	// The personal-data entities have hand-written scanners; their shape
	// expressions bound the characters and length of a match.
	scanned := func(entity, shape string, scan func(string, int) (int, int)) {
		def(entity, shape, nil, false, nil)
		builtin[entity][0].scan = scan
	}
	scanned("email", `[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9.\-]{1,384}`, scanEmail)
	scanned("phone", `[+(0-9][0-9 ().\-]{1,40}`, scanPhone)
	scanned("credit_card", `[0-9][0-9 \-]{11,37}`, scanCard)
	scanned("iban", `[A-Z]{2}[0-9]{2}[A-Z0-9 \-]{11,63}`, scanIBAN)
	scanned("ip_address", `[0-9A-Fa-f:.]{2,45}`, scanIP)
	scanned("us_ssn", `[0-9][0-9 .\-]{10}`, scanSSN)
	def("api_key", `sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-|admin-)?[A-Za-z0-9_\-]{20,200}`, keyBounded, true, nil)
	for _, expr := range []string{
		`gh[pousr]_[A-Za-z0-9]{36,76}`,
		`github_pat_[A-Za-z0-9_]{22,255}`,
		`xox[abprs]-[A-Za-z0-9\-]{10,200}`,
		`AIza[0-9A-Za-z_\-]{35}`,
		`gw-[a-z]{2,12}-[A-Za-z0-9_\-]{20,120}`,
	} {
		def("api_key", expr, tokenBounded, true, nil) // each has a literal prefix the expression engine searches for
	}
	def("aws_access_key", `(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|APKA)[A-Z0-9]{16}`, tokenBounded, true, nil)
	def("jwt", `eyJ[A-Za-z0-9_\-]{8,1000}\.eyJ[A-Za-z0-9_\-]{8,1000}\.[A-Za-z0-9_\-]{8,512}`, tokenBounded, true, nil)
	def("private_key", `-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----`, nil, true, nil)
}

func isTokenRune(r rune) bool {
	return r == '_' || r == '-' || ('0' <= r && r <= '9') || ('A' <= r && r <= 'Z') || ('a' <= r && r <= 'z')
}

// tokenBounded accepts a token not glued to other token characters.
func tokenBounded(text string, s, e int) (int, bool) {
	return e, !isTokenRune(before(text, s)) && !isTokenRune(after(text, e))
}

// luhn is the mod-10 check of payment card numbers (ISO/IEC 7812-1).
func luhn(d []byte) bool {
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if (len(d)-1-i)%2 == 1 {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	return sum%10 == 0
}

// ibanLength is each country's IBAN length, from the SWIFT IBAN registry.
var ibanLength = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
	"BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
	"EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
	"GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
	"JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
	"MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
	"NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
	"SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// mod97 computes the IBAN remainder: the first four characters moved to the
// end, letters as 10..35.
func mod97(iban []byte) int {
	r := 0
	for i := range iban {
		c := iban[(i+4)%len(iban)]
		switch {
		case '0' <= c && c <= '9':
			r = (r*10 + int(c-'0')) % 97
		case 'A' <= c && c <= 'Z':
			r = (r*100 + int(c-'A') + 10) % 97
		default:
			return -1
		}
	}
	return r
}

// injectionDetectors are heuristics for prompt injection: instructions to
// override the system prompt, chat-template role markers smuggled into
// content, invisible or bidirectional-override characters, and base64
// payloads that decode to instructions.
func injectionDetectors() []*detector {
	var ds []*detector
	add := func(expr string, an *anchor) *detector {
		d, err := boundedDetector("injection", expr, nil, 256)
		if err != nil {
			panic("guard: injection: " + err.Error())
		}
		d.anchor = an
		ds = append(ds, d)
		return d
	}
	words := func(ws ...string) *anchor { return &anchor{words: ws} }
	add(`(?i)(?:ignore|disregard|forget|override|bypass|skip)\s{1,4}(?:(?:all|any|the|your|my|these|those|every)\s{1,4}){0,3}(?:previous|prior|above|earlier|preceding|system|original|initial|developer)\s{1,4}(?:instructions?|prompts?|rules?|directions?|guidelines?|messages?|context|guardrails?)`,
		words("ignore", "disregard", "forget", "override", "bypass", "skip"))
	add(`(?i)(?:ignore|disregard|forget|override|bypass)\s{1,4}(?:all|any|your|the)\s{1,4}(?:instructions|rules|guidelines|guardrails|restrictions)`,
		words("ignore", "disregard", "forget", "override", "bypass"))
	add(`(?i)pretend\s{1,4}(?:that\s{1,4})?you\s{1,4}(?:have\s{1,4}no|are\s{1,4}not\s{1,4}bound\s{1,4}by)\s{1,4}(?:\w{1,20}\s{1,4})?(?:policy|policies|rules|restrictions|filters|guidelines)`,
		words("pretend"))
	add(`(?i)you\s{1,4}are\s{1,4}now\s{1,4}(?:in\s{1,4}|an?\s{1,4})?(?:DAN|developer\s{1,4}mode|jailbroken|unrestricted|unfiltered|uncensored|evil)`,
		words("you"))
	add(`(?i)(?:reveal|print|show|repeat|output|leak|dump)\s{1,4}(?:me\s{1,4})?(?:your|the)\s{1,4}(?:system\s{1,4}prompt|hidden\s{1,4}instructions|initial\s{1,4}(?:prompt|instructions)|instructions\s{1,4}above)`,
		words("reveal", "print", "show", "repeat", "output", "leak", "dump"))
	add(`(?i)do\s{1,4}anything\s{1,4}now|developer\s{1,4}mode\s{1,4}enabled|jailbreak\s{1,4}mode`,
		words("do", "developer", "jailbreak"))
	add(`(?i)(?:new|updated|real)\s{1,4}(?:system\s{1,4})?instructions?\s{0,4}:`,
		words("new", "updated", "real"))
	add(`<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id)\|>|\[/?INST\]|<</?SYS>>|(?i:</?(?:system|instructions?)>)`,
		&anchor{bytes: "<["})
	add(`(?:\n|\r){2}(?:Human|Assistant|System):`, &anchor{bytes: "\n\r"})
	// Lead bytes of U+200B..U+206x (E2), U+FEFF (EF) and the tag block
	// U+E0000.. (F3).
	add(`[\x{202A}-\x{202E}\x{2066}-\x{2069}\x{E0000}-\x{E007F}]|[\x{200B}\x{2060}\x{FEFF}]{2}`, &anchor{bytes: "\xe2\xef\xf3"})
	add(`[A-Za-z0-9+/]{40,1000}={0,2}`, nil).scan = scanBase64
	return ds
}

// scanBase64 finds a whole run of 40 to 1,000 base64 characters (and its
// padding) that decodes to printable text containing an instruction-like
// word.
func scanBase64(text string, p int) (int, int) {
	isB64 := func(c byte) bool { return isAlnumByte(c) || c == '+' || c == '/' }
	for p < len(text) {
		for p < len(text) && !isB64(text[p]) {
			p++
		}
		s := p
		for p < len(text) && isB64(text[p]) {
			p++
		}
		e := p
		for e < len(text) && e-p < 2 && text[e] == '=' {
			e++
		}
		if n := p - s; n >= 40 && n <= 1000 {
			if _, ok := base64Instruction(text, s, e); ok {
				return s, e
			}
		}
		p = e
	}
	return -1, -1
}

// base64Instruction accepts a base64 run that decodes to printable text
// containing an instruction-like word.
func base64Instruction(text string, s, e int) (int, bool) {
	if b := before(text, s); isTokenRune(b) || b == '+' || b == '/' {
		return e, false
	}
	raw := text[s:e]
	dec, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		dec, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(raw, "="))
		if err != nil {
			return e, false
		}
	}
	printable := 0
	for _, c := range dec {
		if c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f) {
			printable++
		}
	}
	if printable*10 < len(dec)*9 {
		return e, false
	}
	low := strings.ToLower(string(dec))
	for _, w := range []string{"ignore", "instruction", "system prompt", "disregard", "jailbreak", "password", "you are now"} {
		if strings.Contains(low, w) {
			return e, true
		}
	}
	return e, false
}
