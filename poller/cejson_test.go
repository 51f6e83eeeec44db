package poller

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed/internal/jsonscan"
)

// ceBody is a body of n CloudEvents as eventfeed's publisher writes them.
func ceBody(n int) []byte {
	b := []byte{'['}
	t := time.Date(2026, 12, 3, 1, 2, 3, 456789000, time.UTC)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"specversion":"1.0","id":"urn:uuid:6f1c1e58-0000-4000-8000-%012d","source":"https://orders.example/feeds/orders",`+
			`"type":"order.placed","subject":"order-%d","time":%q,"efseq":"%d","datacontenttype":"application/json",`+
			`"data":{"order":"order-%06d","customer":"customer-4711","items":[{"sku":"sku-1","qty":2,"price":"19.90"}],"total":44.8,"note":"leave at the door \"please\""}}`,
			i, i, t.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i+1, i)
	}
	return append(b, ']')
}

// checkSame fails t unless parseCloudEvents and json.Unmarshal read data
// alike, where the former accepts it. It returns whether it did.
func checkSame(t *testing.T, data []byte) bool {
	t.Helper()
	got, ok := parseCloudEvents(data)
	if !ok {
		return false
	}
	var want []cloudEvent
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("parseCloudEvents accepted %q, which encoding/json refuses: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseCloudEvents(%q)\n = %+v\nencoding/json reads\n   %+v", data, got, want)
	}
	return true
}

func TestParseCloudEvents(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		fast       bool // parseCloudEvents takes it, rather than encoding/json
	}{
		{"publisher", string(ceBody(3)), true},
		{"empty", `[]`, true},
		{"empty with space", " \t\r\n[ \n ] \n", true},
		{"spaced", `[ { "specversion" : "1.0" , "id" : "a" , "data" : [ 1 , -2.5e+3 , true , false , null , "x\u00e9\n" , { } ] } ]`, true},
		{"data_base64", `[{"specversion":"1.0","id":"a","type":"t","data_base64":"AAEC"}]`, true},
		{"extension attributes", `[{"specversion":"1.0","id":"a","traceparent":"00-ab","n":{"deep":[[[{}]]]},"x":0.5,"":1,"type":"t"}]`, true},
		{"a later member wins", `[{"specversion":"1.0","id":"a","id":"b","data":1,"data":{"z":2}}]`, true},
		{"not ASCII", `[{"id":"événement-ü","subject":"日本"}]`, true},
		{"escaped string", `[{"id":"a\u0062"}]`, false},
		{"escaped slash in base64", `[{"data_base64":"a\/b="}]`, false},
		{"escaped name", `[{"\u0069d":"a"}]`, false},
		{"name in another case", `[{"ID":"a"}]`, false},
		{"name folding with U+017F", "[{\"\u017Fubject\":\"a\"}]", false},
		{"name folding with U+212A", "[{\"\u212A\":\"a\"}]", false},
		{"invalid UTF-8", "[{\"id\":\"a\xffb\"}]", false},
		{"null data", `[{"data":null}]`, false},
		{"null seq", `[{"efseq":null}]`, false},
		{"null attribute", `[{"subject":null}]`, false},
		{"null element", `[null]`, false},
		{"number for a string", `[{"id":1}]`, false},
		{"not an array", `{"id":"a"}`, false},
		{"trailing comma", `[{"id":"a"},]`, false},
		{"trailing bytes", `[{"id":"a"}]x`, false},
		{"two arrays", `[][]`, false},
		{"cut off", `[{"id":"a"`, false},
		{"leading zero", `[{"data":01}]`, false},
		{"bare minus", `[{"data":-}]`, false},
		{"bad exponent", `[{"data":1e}]`, false},
		{"bad fraction", `[{"data":1.}]`, false},
		{"control character", "[{\"id\":\"a\tb\"}]", false},
		{"bad escape in data", `[{"data":"\x"}]`, false},
		{"short unicode escape", `[{"data":"\u12"}]`, false},
		{"too deep", `[{"data":` + strings.Repeat("[", jsonscan.MaxDepth+2) + strings.Repeat("]", jsonscan.MaxDepth+2) + `}]`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkSame(t, []byte(tt.body)); got != tt.fast {
				t.Errorf("parseCloudEvents took it: %v, want %v", got, tt.fast)
			}
		})
	}
}

// The events do not keep the body, which the HTTPFeed reuses.
func TestParseCloudEventsCopies(t *testing.T) {
	body := ceBody(2)
	ces, ok := parseCloudEvents(body)
	if !ok || len(ces) != 2 {
		t.Fatalf("parseCloudEvents = %d events, %v", len(ces), ok)
	}
	want := string(ces[1].Data)
	clear(body)
	if string(ces[1].Data) != want || ces[1].ID == "" {
		t.Errorf("events changed with the body: data %q, id %q", ces[1].Data, ces[1].ID)
	}
}

func FuzzCloudEvents(f *testing.F) {
	f.Add(ceBody(2))
	for _, s := range []string{
		`[]`, `[{}]`, `[{"id":"a","data":{"a":[1,2,{"b":null}]}}]`, `[{"data_base64":"AA=="}]`,
		`[{"efseq":"12","method":"DELETE","subject":"s"}]`, `[{"data":"text\u00e9\"\\"}]`, `[{"ID":"x"}]`,
		`[{"data": -0.0e-0 }]`, "[{\"id\":\"\xe2\x82\"}]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSame(t, data)
	})
}

// BenchmarkDecodeCloudEvents reads a body of 500 CloudEvents as the
// publisher writes them with parseCloudEvents and with encoding/json.
func BenchmarkDecodeCloudEvents(b *testing.B) {
	body := ceBody(500)
	for _, tt := range []struct {
		name  string
		parse func([]byte) ([]cloudEvent, error)
	}{
		{"parse", func(data []byte) ([]cloudEvent, error) {
			ces, ok := parseCloudEvents(data)
			if !ok {
				return nil, fmt.Errorf("not taken")
			}
			return ces, nil
		}},
		{"encoding-json", func(data []byte) ([]cloudEvent, error) {
			var ces []cloudEvent
			err := json.Unmarshal(data, &ces)
			return ces, err
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				ces, err := tt.parse(body)
				if err != nil || len(ces) != 500 {
					b.Fatal(len(ces), err)
				}
			}
			b.ReportMetric(500*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
