package benchrun

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The bare server serves the body it was handed on the address it prints,
// and returns when its input is closed.
func TestServeBare(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveBare(inR, outW, "") }()
	if err := json.NewEncoder(inW).Encode(bareBody{ContentType: "application/json; charset=utf-8", Body: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	addr, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + strings.TrimSpace(addr) + "/metadata/identity/oauth2/token?x=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != `{"a":1}` || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("got %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
