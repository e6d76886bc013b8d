package main

import (
	"fmt"
	"strings"
)

// joyOption maps one of Joy's key=value arguments to flowjoy flags.
type joyOption struct {
	flag string // flowjoy flag it sets
	// kind says how the value maps: "switch" (1/0 → --X / --no-X),
	// "value" (passed as --X=value), "always" (Joy's default that is
	// always on here: 1 accepted, 0 refused).
	kind string
}

// joyOptions is the table README.md documents. Keys Joy had that are not
// here are refused with a message rather than ignored.
var joyOptions = map[string]joyOption{
	"bidir":     {kind: "always"},
	"retrans":   {kind: "always"},
	"num_pkts":  {flag: "num-pkts", kind: "value"},
	"zeros":     {flag: "zeros", kind: "switch"},
	"dist":      {flag: "byte-dist", kind: "switch"},
	"entropy":   {flag: "byte-dist", kind: "switch"},
	"idp":       {flag: "idp", kind: "value"},
	"tls":       {flag: "tls", kind: "switch"},
	"dns":       {flag: "dns", kind: "switch"},
	"http":      {flag: "http", kind: "switch"},
	"ssh":       {flag: "ssh", kind: "switch"},
	"dhcp":      {flag: "dhcp", kind: "switch"},
	"dhcpv6":    {flag: "dhcp", kind: "switch"},
	"output":    {flag: "write", kind: "value"},
	"interface": {flag: "interface", kind: "value"},
	"count":     {flag: "count", kind: "value"},
	"bpf":       {kind: "filter"},
	"verbosity": {kind: "ignore"},
}

// translateJoyArgs rewrites Joy-style key=value arguments into flags, and
// returns the filter expression Joy's bpf= gave, if any. Other arguments
// pass through unchanged.
func translateJoyArgs(args []string) (out []string, filter string, err error) {
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...), filter, nil
		}
		key, val, ok := strings.Cut(a, "=")
		if !ok || strings.HasPrefix(a, "-") || !isJoyKey(key) {
			out = append(out, a)
			continue
		}
		opt, known := joyOptions[key]
		if !known {
			return nil, "", fmt.Errorf("Joy option %q has no flowjoy equivalent (see the table in README.md)", a)
		}
		switch opt.kind {
		case "always":
			if val != "1" {
				return nil, "", fmt.Errorf("Joy option %q: flowjoy always does this; only %s=1 is accepted", a, key)
			}
		case "switch":
			switch val {
			case "1":
				out = append(out, "--"+opt.flag)
			case "0":
				out = append(out, "--no-"+opt.flag)
			default:
				return nil, "", fmt.Errorf("Joy option %q: value must be 0 or 1", a)
			}
		case "value":
			out = append(out, "--"+opt.flag+"="+val)
		case "filter":
			filter = val
		}
	}
	return out, filter, nil
}

// joyKeys are all the keys Joy's command line knew, so that a Joy user's
// argument is recognised (and refused with a clear message when we have no
// equivalent) instead of being taken for a filter expression.
var joyKeys = []string{
	"bidir", "retrans", "num_pkts", "zeros", "dist", "cdist", "entropy", "idp",
	"tls", "dns", "http", "ssh", "dhcp", "dhcpv6", "ike", "ppi", "salt", "wht",
	"hd", "exe", "output", "interface", "count", "bpf", "verbosity", "anon",
	"useranon", "type", "classify", "label", "model", "logfile", "promisc",
	"upload", "keyfile", "retain", "nfv9_port", "ipfix_collect_port",
	"ipfix_collect_online", "ipfix_export_port", "ipfix_export_remote_port",
	"ipfix_export_remote_host", "ipfix_export_template", "aux_resource_path",
	"preemptive_timeout", "fpx", "threads", "show_config", "show_interfaces",
	"URLmodel", "username", "updater", "payload", "byte_dist",
}

func isJoyKey(k string) bool {
	for _, j := range joyKeys {
		if k == j {
			return true
		}
	}
	return false
}
