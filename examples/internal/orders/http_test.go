package orders_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed/examples/internal/orders"
	"github.com/eventfeed/eventfeed/examples/internal/problem"
)

// TestIndex checks that GET / lists the endpoints, and that the curl line
// it offers places an order.
func TestIndex(t *testing.T) {
	svc, _ := open(t)
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /: %d %s, want 200 text/plain", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"POST /orders ", "GET  /orders/{id}", "POST /orders/{id}/cancel", "GET  /feeds/orders", "curl -i " + srv.URL + "/orders"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("GET / lacks %q:\n%s", want, body)
		}
	}
	m := regexp.MustCompile(`-d '([^']*)'`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("GET / shows no curl -d line:\n%s", body)
	}
	resp, err = http.Post(srv.URL+"/orders", "application/json", bytes.NewReader(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("the order GET / shows: POST /orders answered %d, want 201", resp.StatusCode)
	}
	if resp, _ := http.Get(srv.URL + "/nothing"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing: %d, want 404", resp.StatusCode)
	}
}

func TestHTTP(t *testing.T) {
	svc, log := open(t)
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)

	const order = `{"customer":"Ada","address":"1 Loop Road","items":[{"sku":"book-42","quantity":1}]}`
	// The steps run in order, on one service.
	for _, tc := range []struct {
		name, method, path, contentType, body string
		want                                  int
		wantType                              string // of the answer
		wantIn                                string // in its body
	}{
		{"place", "POST", "/orders", "application/json", order, 201, "application/json", `"status":"placed"`},
		{"place without content type", "POST", "/orders", "", order, 201, "application/json", `"id":2`},
		{"get", "GET", "/orders/1", "", "", 200, "application/json", `"customer":"Ada"`},
		{"get unknown", "GET", "/orders/99", "", "", 404, problem.MediaType, "no order 99"},
		{"get bad id", "GET", "/orders/abc", "", "", 404, problem.MediaType, `"status":404`},
		{"bad JSON", "POST", "/orders", "application/json", `{"customer":`, 400, problem.MediaType, "not an order"},
		{"unknown field", "POST", "/orders", "application/json", `{"customer":"Ada","colour":"red"}`, 400, problem.MediaType, "colour"},
		{"two orders in one body", "POST", "/orders", "application/json", order + order, 400, problem.MediaType, "data after the order"},
		{"invalid order", "POST", "/orders", "application/json", `{"customer":"Ada","address":"x","items":[]}`, 400, problem.MediaType, "1 to 100 items"},
		{"not JSON", "POST", "/orders", "text/plain", order, 415, problem.MediaType, "application/json"},
		{"too large", "POST", "/orders", "application/json", `{"customer":"` + strings.Repeat("a", orders.MaxBodyBytes) + `"}`, 413, problem.MediaType, "at most"},
		{"cancel", "POST", "/orders/1/cancel", "", "", 200, "application/json", `"status":"cancelled"`},
		{"cancel twice", "POST", "/orders/1/cancel", "", "", 409, problem.MediaType, "already cancelled"},
		{"cancel unknown", "POST", "/orders/99/cancel", "", "", 404, problem.MediaType, "no order 99"},
		{"get cancelled", "GET", "/orders/1", "", "", 200, "application/json", `"cancelled_at"`},
		{"feed", "GET", "/feeds/orders", "", "", 200, "application/atom+xml", "order.cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Errorf("got %d %s, want %d", resp.StatusCode, body, tc.want)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
				t.Errorf("got Content-Type %q, want %s", ct, tc.wantType)
			}
			if !strings.Contains(string(body), tc.wantIn) {
				t.Errorf("got body %s, want it to contain %s", body, tc.wantIn)
			}
			if tc.wantType == problem.MediaType {
				var p problem.Details
				if err := json.Unmarshal(body, &p); err != nil || p.Status != tc.want || p.Title == "" {
					t.Errorf("got problem %s (%v), want status %d and a title", body, err, tc.want)
				}
			}
			if tc.want == 201 && resp.Header.Get("Location") == "" {
				t.Error("got no Location for a new order")
			}
		})
	}
	// Refused requests stored nothing: two orders placed, one cancelled.
	if evs := events(t, log); len(evs) != 3 {
		t.Errorf("got %d events, want 3", len(evs))
	}
}
