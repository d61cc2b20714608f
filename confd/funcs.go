package confd

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/calico-l3/calico/confd/kvstore"
)

// storeFuncs are the template functions that read the key view of one render.
func storeFuncs(s *kvstore.Store) template.FuncMap {
	return template.FuncMap{
		"exists":    s.Exists,
		"get":       s.Get,
		"gets":      s.GetAll,
		"getv":      s.GetValue,
		"getvs":     s.GetAllValues,
		"getallkvs": s.All,
		"ls":        s.List,
		"lsdir":     s.ListDir,
	}
}

// funcMap returns every template function, with the store functions bound to s.
func funcMap(s *kvstore.Store) template.FuncMap {
	m := template.FuncMap{
		"base":       path.Base,
		"dir":        path.Dir,
		"split":      strings.Split,
		"join":       strings.Join,
		"json":       jsonObject,
		"jsonArray":  jsonArray,
		"map":        makeMap,
		"getenv":     getenv,
		"datetime":   time.Now,
		"toUpper":    strings.ToUpper,
		"toLower":    strings.ToLower,
		"contains":   strings.Contains,
		"replace":    strings.Replace,
		"trimSuffix": strings.TrimSuffix,
		"hasSuffix":  strings.HasSuffix,
		"lookupIP":   lookupIP,
		"atoi":       strconv.Atoi,
		"add":        func(a, b int) int { return a + b },
		"sub":        func(a, b int) int { return a - b },
		"mul":        func(a, b int) int { return a * b },
		"div":        div,
		"mod":        mod,
		"seq":        seq,
		"sort":       sortStrings,
		"hashToIPv4": hashToIPv4,
	}
	for name, f := range storeFuncs(s) {
		m[name] = f
	}
	return m
}

// jsonObject decodes a JSON object, as stored in values like the peer and pool keys.
func jsonObject(data string) (map[string]interface{}, error) {
	var m map[string]interface{}
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		return nil, fmt.Errorf("decoding JSON object: %w", err)
	}
	return m, nil
}

// jsonArray decodes a JSON array.
func jsonArray(data string) ([]interface{}, error) {
	var a []interface{}
	if err := json.Unmarshal([]byte(data), &a); err != nil {
		return nil, fmt.Errorf("decoding JSON array: %w", err)
	}
	return a, nil
}

// makeMap builds a map from alternating keys and values: map "a" 1 "b" 2.
func makeMap(kv ...interface{}) (map[string]interface{}, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("map needs key/value pairs, got %d arguments", len(kv))
	}
	m := make(map[string]interface{}, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("map key %v is a %T, not a string", kv[i], kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// getenv returns the environment variable key, or def[0] when it is empty or unset.
func getenv(key string, def ...string) string {
	v := os.Getenv(key)
	if v == "" && len(def) > 0 {
		return def[0]
	}
	return v
}

// lookupIP resolves a host name to its addresses, sorted as strings; nothing when it does not resolve.
func lookupIP(host string) []string {
	ips, err := net.LookupIP(host)
	if err != nil {
		return nil
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	sort.Strings(out)
	return out
}

func div(a, b int) (int, error) {
	if b == 0 {
		return 0, errors.New("division by zero")
	}
	return a / b, nil
}

func mod(a, b int) (int, error) {
	if b == 0 {
		return 0, errors.New("modulo by zero")
	}
	return a % b, nil
}

// seq returns the integers from first to last inclusive (empty when last < first).
func seq(first, last int) []int {
	var out []int
	for i := first; i <= last; i++ {
		out = append(out, i)
	}
	return out
}

// sortStrings returns a sorted copy, leaving the argument alone.
func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// hashToIPv4 derives a stable IPv4-formatted router id from a name: the first four bytes of its SHA-256.
func hashToIPv4(name string) string {
	sum := sha256.Sum256([]byte(name))
	return netip.AddrFrom4([4]byte(sum[:4])).String()
}
