package netguard

import (
	"net/netip"
	"testing"
)

// TestZonedAddressesBlocked: an IPv6 zone (fe80::1%eth0, ::1%lo) must not
// hide a blocked address. netip.Prefix.Contains is false for any zoned
// address, so without dropping the zone both the URL check and the
// dial-time check let loopback and link-local through.
func TestZonedAddressesBlocked(t *testing.T) {
	for _, tc := range []struct{ url, addr string }{
		{"http://[fe80::1%25eth0]/", "[fe80::1%eth0]:80"},
		{"http://[::1%25lo]:8080/", "[::1%lo]:8080"},
		{"http://[::ffff:169.254.169.254%251]/latest", "[::ffff:169.254.169.254%1]:80"},
		{"http://[fd00::1%25x]/", "[fd00::1%x]:443"},
	} {
		if err := CheckURL(tc.url); err == nil {
			t.Errorf("CheckURL(%q) accepted", tc.url)
		}
		if err := Control("tcp6", tc.addr, nil); err == nil {
			t.Errorf("Control(%q) allowed the dial", tc.addr)
		}
	}
	if !Blocked(netip.MustParseAddr("fe80::1%eth0")) {
		t.Errorf("Blocked(%s) = false", "fe80::1%eth0")
	}
}
