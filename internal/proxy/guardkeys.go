package proxy

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// repeatedKey finds an object anywhere in body that names a member twice,
// exactly or in another case ("content" and "Content"), and returns that
// member's path. Parsers disagree on which of two such members counts
// (Go's encoding/json and Python take the last, some take the first,
// some fold case), so a guardrail could read one value while the upstream
// reads the other. Guarded requests with such a body are refused. body
// has passed checkJSON, which bounds its depth.
func repeatedKey(body []byte) (string, bool) {
	return repeatedIn(gjson.ParseBytes(body), "")
}

func repeatedIn(v gjson.Result, path string) (string, bool) {
	switch {
	case v.IsObject():
		var names []string
		var folded map[string]struct{} // past 16 members: folded names
		var found string
		ok := false
		v.ForEach(func(k, m gjson.Result) bool {
			if seen(&names, &folded, k.Str) {
				found, ok = join(path, k.Str), true
				return false
			}
			found, ok = repeatedIn(m, join(path, k.Str))
			return !ok
		})
		return found, ok
	case v.IsArray():
		var found string
		ok := false
		i := 0
		v.ForEach(func(_, m gjson.Result) bool {
			found, ok = repeatedIn(m, path+"["+strconv.Itoa(i)+"]")
			i++
			return !ok
		})
		return found, ok
	}
	return "", false
}

// seen reports whether name (folded) is among the names before it, and
// adds it. A small object compares pairwise; a large one keeps a set, so
// an object of a million members costs linear time.
func seen(names *[]string, folded *map[string]struct{}, name string) bool {
	if *folded == nil {
		for _, n := range *names {
			if strings.EqualFold(n, name) {
				return true
			}
		}
		if *names = append(*names, name); len(*names) <= 16 {
			return false
		}
		*folded = make(map[string]struct{}, 64)
		for _, n := range *names {
			(*folded)[fold(n)] = struct{}{}
		}
		return false
	}
	f := fold(name)
	if _, dup := (*folded)[f]; dup {
		return true
	}
	(*folded)[f] = struct{}{}
	return false
}

// fold maps names that strings.EqualFold equates to one key (the upper
// case first, so that "ſ" and "s" meet; then lower, so that the Kelvin
// sign and "k" do).
func fold(s string) string { return strings.ToLower(strings.ToUpper(s)) }

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
