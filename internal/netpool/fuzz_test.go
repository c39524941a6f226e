package netpool

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseInfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		price   string
		wantErr string
	}{
		{"castnet's own answer", goodInfo, "0", ""},
		{"a price past 2^64", infoWithPrice("340282366920938463463374607431768211456"), "340282366920938463463374607431768211456", ""},
		{"unknown fields are allowed", `{"protocol":"castnet/3","price_per_pixel":"7","extra":{"a":1}}`, "7", ""},
		{"a numeric price is refused", `{"price_per_pixel":7}`, "", "want a decimal string"},
		{"a negative price is refused", `{"price_per_pixel":"-7"}`, "", "not a decimal integer"},
		{"a missing price is refused", `{"protocol":"castnet/2"}`, "", "missing"},
		{"a null price is refused", `{"price_per_pixel":null}`, "", "missing"},
		{"a 101-digit price is refused", infoWithPrice(strings.Repeat("9", 101)), "", "1 to 100 decimal digits"},
		{"negative free is refused", strings.Replace(goodInfo, `"free":4`, `"free":-1`, 1), "", "negative"},
		{"trailing data is refused", goodInfo + "{}", "", "after the object"},
		{"not JSON is refused", "<html>", "", "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := ParseInfo([]byte(tt.in))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrBadInfo) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err %v, want ErrBadInfo with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || info.PricePerPixel.String() != tt.price {
				t.Errorf("info %+v err %v, want price %s", info, err, tt.price)
			}
		})
	}
}

func TestParseWebhook(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // addresses joined by spaces
		skipped int
		wantErr bool
	}{
		{"Livepeer's shape", `[{"address":"http://a:1"},{"address":"https://b.example/"}]`, "http://a:1 https://b.example", 0, false},
		{"an empty list is valid", `[]`, "", 0, false},
		{"duplicates are dropped", `[{"address":"http://a:1"},{"address":"http://a:1/"}]`, "http://a:1", 0, false},
		{"bad addresses are skipped", `[{"address":"ftp://a"},{"address":""},{"address":"http://b?x"},{"address":"http://c"}]`, "http://c", 3, false},
		{"other fields are ignored", `[{"address":"http://a","score":0.5}]`, "http://a", 0, false},
		{"null is an error", `null`, "", 0, true},
		{"an object is an error", `{"address":"http://a"}`, "", 0, true},
		{"trailing data is an error", `[] []`, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseWebhook([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrBadWebhook) {
					t.Errorf("err %v, want ErrBadWebhook", err)
				}
				return
			}
			if err != nil || strings.Join(l.Addresses, " ") != tt.want || len(l.Skipped) != tt.skipped {
				t.Errorf("got %+v err %v, want %q and %d skipped", l, err, tt.want, tt.skipped)
			}
		})
	}
}

func TestParseWebhookCapsTheList(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range MaxWebhookNodes + 5 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"address":"http://o` + strings.Repeat("x", i%7) + `.example:` + itoa(1000+i) + `"}`)
	}
	b.WriteString("]")
	l, err := ParseWebhook([]byte(b.String()))
	if err != nil || len(l.Addresses) != MaxWebhookNodes || len(l.Skipped) != 5 {
		t.Errorf("%d addresses, %d skipped, err %v", len(l.Addresses), len(l.Skipped), err)
	}
}

func itoa(i int) string {
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func FuzzParseInfo(f *testing.F) {
	for _, s := range []string{goodInfo, infoWithPrice("123456789012345678901234567890"), `{}`, `null`, `[]`,
		`{"price_per_pixel":"-1"}`, `{"price_per_pixel":"1e9"}`, `{"price_per_pixel":1}`, `{"codecs":"h264"}`,
		`{"capacity":-1,"price_per_pixel":"0"}`, `{"protocol":"castnet/2","price_per_pixel":"0"} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseInfo(b)
		if err != nil {
			if !errors.Is(err, ErrBadInfo) {
				t.Fatalf("error %v does not wrap ErrBadInfo", err)
			}
			return
		}
		if info.PricePerPixel == nil || info.PricePerPixel.Sign() < 0 || info.Capacity < 0 || info.Free < 0 ||
			len(info.Codecs) > maxCodecs {
			t.Fatalf("accepted %+v", info)
		}
		judge(&info, nil)
	})
}

func FuzzParseWebhook(f *testing.F) {
	for _, s := range []string{`[{"address":"http://a:1"},{"address":"https://b/"}]`, `[]`, `null`, `{}`,
		`[{"address":"ftp://a"},{"address":""},{"address":"http://a:1"},{"address":"http://a:1/"}]`,
		`[{"address":"http://[::1]:8935"},{"address":"http://a/b/"},{"address":"http://user@a"}]`, `[1,2,3]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseWebhook(b)
		if err != nil {
			if !errors.Is(err, ErrBadWebhook) || len(l.Addresses) != 0 {
				t.Fatalf("error %v with %d addresses", err, len(l.Addresses))
			}
			return
		}
		if len(l.Addresses) > MaxWebhookNodes {
			t.Fatalf("%d addresses", len(l.Addresses))
		}
		seen := map[string]bool{}
		for _, a := range l.Addresses {
			if again, err := parseAddress(a); err != nil || again != a || seen[a] {
				t.Fatalf("address %q: reparsed %q, %v, repeated %v", a, again, err, seen[a])
			}
			seen[a] = true
		}
	})
}

// FuzzReadVideoSpan feeds orchestrator output (outside bytes) to the media
// check.
func FuzzReadVideoSpan(f *testing.F) {
	src := makeTS(srcStart, srcFrames, srcFPS)
	f.Add(src)
	f.Add(src[:len(src)/2+7])
	f.Add(makeTS(ptsWrap-500*time.Millisecond, 10, 10))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := readVideoSpan(bytes.NewReader(b), true)
		if err == nil && (v.span < 0 || v.frames < 0 || v.first < 0 || v.first >= ptsWrap) {
			t.Fatalf("span %+v", v)
		}
		sp, _ := readVideoSpan(bytes.NewReader(src), false)
		_ = compareSpan(v, &sp)
	})
}
