// Package netguard keeps upstream connections away from addresses an
// API-supplied URL must not reach: loopback, private and link-local
// networks (cloud metadata at 169.254.169.254 among them), unique-local,
// carrier-grade NAT, unspecified, multicast and reserved ranges, in every
// IPv4, IPv6 and IPv4-mapped spelling. The check runs at dial time, after
// DNS resolution, so a name that resolves (or rebinds) to a blocked address
// is refused too.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrBlocked is returned for a destination in a blocked range.
var ErrBlocked = errors.New("destination address is not allowed")

var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
		"224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b::/96", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Blocked reports whether ip is in a blocked range.
func Blocked(ip netip.Addr) bool {
	// A zone (fe80::1%eth0) makes Prefix.Contains false: drop it first.
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() {
		return true
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control function that refuses blocked
// destinations. It sees the resolved address of each connection attempt.
func Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlocked, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || Blocked(ip) {
		return fmt.Errorf("%w: %s", ErrBlocked, host)
	}
	return nil
}

// CheckURL validates an API-supplied upstream URL: http or https, a host,
// no user info, no fragment, and no host written as a bare or oddly
// encoded number (2130706433, 0177.0.0.1, 0x7f.1) or a literal blocked IP.
// Names are checked again when they are dialled.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("the scheme must be http or https")
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("user info and fragments are not allowed")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("the URL has no host")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if Blocked(ip) {
			return fmt.Errorf("%w: %s", ErrBlocked, host)
		}
		return nil
	}
	if numericLike(host) {
		return fmt.Errorf("%w: %s is a numeric host in a non-standard form", ErrBlocked, host)
	}
	return nil
}

// numericLike reports a host made only of digits, dots and hex markers,
// which some resolvers read as an IP address.
func numericLike(host string) bool {
	last := host
	if i := strings.LastIndexByte(host, '.'); i >= 0 {
		last = host[i+1:]
	}
	if last == "" {
		return true
	}
	for _, r := range strings.ToLower(last) {
		if !(r >= '0' && r <= '9' || r == 'x' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	// The last label is numeric or hex-like: a real TLD never is.
	return strings.ContainsAny(last, "0123456789")
}
