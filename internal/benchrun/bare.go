package benchrun

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The bare servers are the baselines of the rows that compare Cobalt with
// the least a server must do for the same work, written the obvious way
// with net/http and the standard library: the row's ratio to its bare server
// is what Cobalt adds, and the bare server's own ratio to the row's target
// baseline is what the machine allows any server.

// Bare server modes (bareBody.Mode).
const (
	// bareStatic answers every request with Body, of ContentType.
	bareStatic = ""
	// bareToken is an OAuth client-credential token endpoint: each POST
	// with grant_type=client_credentials gets a fresh RS256-2048 JWT of
	// Body's claims (a token of Cobalt's, so both sign as many bytes) with
	// new times and a new uti, in Entra's v2 response. No client is checked
	// and nothing is stored: one signature, and HTTP over TLS around it.
	bareToken = "token"
	// bareBlobs stores and serves files in Dir: PUT /blobs/NAME?digest=HEX
	// writes the body to a temporary file while hashing it with SHA-256,
	// refuses a digest that does not match, fsyncs it, renames it to NAME
	// and fsyncs Dir, then answers 201; GET /blobs/NAME serves the file with
	// http.ServeContent. That is a registry's blob upload and download with
	// its digest check and durable commit, without the protocol around them.
	bareBlobs = "blobs"
)

// bareBody is what the bench sends its bare server on stdin.
type bareBody struct {
	Mode        string `json:"mode,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	Body        []byte `json:"body,omitempty"`
	Dir         string `json:"dir,omitempty"`
	// Cert (DER) and Key (PKCS #8 DER), when set, make the server speak
	// TLS with that certificate; it speaks plain HTTP otherwise.
	Cert []byte `json:"cert,omitempty"`
	Key  []byte `json:"key,omitempty"`
}

// benchCert is a fresh self-signed P-256 certificate for 127.0.0.1 (the key
// type of Cobalt's server certificate), with the pool that trusts it.
type benchCert struct {
	der, key []byte
	roots    *x509.CertPool
}

func newBenchCert() (*benchCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return &benchCert{der: der, key: keyDER, roots: roots}, nil
}

// tlsConfig is a server configuration presenting c.
func (c *benchCert) tlsConfig() (*tls.Config, error) {
	key, err := x509.ParsePKCS8PrivateKey(c.key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{c.der}, PrivateKey: key}}}, nil
}

// bareServer is a bare server in this process.
type bareServer struct {
	URL string
	srv *http.Server
}

func (s *bareServer) Close() { s.srv.Close() }

// bareTLS starts a bare static handler over TLS in this process, with a
// fresh certificate, and returns the pool that trusts it.
func bareTLS(body []byte, ctype string) (*bareServer, *x509.CertPool, error) {
	cert, err := newBenchCert()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := cert.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: bareHandler(body, ctype), TLSConfig: cfg, Protocols: http1Only()}
	go srv.ServeTLS(ln, "", "")
	return &bareServer{URL: "https://" + ln.Addr().String(), srv: srv}, cert.roots, nil
}

// http1Only is HTTP/1.1 alone, which every row's clients speak to Cobalt:
// over TLS a server offers HTTP/2 too unless told otherwise, and ggcr's
// transport would take it, where Cobalt's registry offers HTTP/1.1 alone.
func http1Only() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	return p
}

func bareHandler(body []byte, ctype string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Write(body)
	})
}

// bareTokenHandler signs claims (a JSON object) afresh for each request,
// with a new RSA-2048 key of its own.
func bareTokenHandler(claims []byte) (http.Handler, error) {
	var base map[string]any
	if err := json.Unmarshal(claims, &base); err != nil {
		return nil, fmt.Errorf("the token's claims: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "bare"))
	if err != nil {
		return nil, err
	}
	oauthError := func(w http.ResponseWriter, code string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":%q}`, code)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.ParseForm() != nil {
			oauthError(w, "invalid_request")
			return
		}
		if r.PostForm.Get("grant_type") != "client_credentials" {
			oauthError(w, "unsupported_grant_type")
			return
		}
		now := time.Now().Unix()
		c := maps.Clone(base)
		c["iat"], c["nbf"], c["exp"], c["uti"] = now, now, now+3599, rand.Text()[:22]
		payload, err := json.Marshal(c)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		jws, err := signer.Sign(payload)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		tok, err := jws.CompactSerialize()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(tokenResponse{TokenType: "Bearer", ExpiresIn: 3599, ExtExpiresIn: 3599, AccessToken: tok})
	}), nil
}

// tokenResponse is Entra's v2 token response.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
}

var bareBlobName = regexp.MustCompile(`^[a-z0-9]{1,64}$`)

// bareBlobHandler stores and serves blobs in dir (see bareBlobs).
func bareBlobHandler(dir string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /blobs/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if !bareBlobName.MatchString(name) {
			http.Error(w, "bad blob name", http.StatusBadRequest)
			return
		}
		if err := putBlob(dir, name, r.URL.Query().Get("digest"), r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /blobs/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if !bareBlobName.MatchString(name) {
			http.Error(w, "bad blob name", http.StatusBadRequest)
			return
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			http.Error(w, "no such blob", http.StatusNotFound)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, name, fi.ModTime(), f)
	})
	return mux
}

// putBlob writes body to dir/name durably if its SHA-256 is digest (hex).
func putBlob(dir, name, digest string, body io.Reader) (err error) {
	f, err := os.CreateTemp(dir, "upload-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), body); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		return fmt.Errorf("digest %s, want %q", got, digest)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// bareProcess is a bare server the bench started as a process of its own.
type bareProcess struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	pid  int
	addr string
}

// startBare starts this executable as a bare server, hands it the body on
// its stdin and reads the address it listens on.
func startBare(ctx context.Context, body bareBody, profile string) (*bareProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cfg, _ := json.Marshal(imdsHelperConfig{Bare: true, Profile: profile})
	cmd := exec.CommandContext(ctx, exe, "bench", "--imds-helper", string(cfg))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &bareProcess{cmd: cmd, in: in, pid: cmd.Process.Pid}
	if err := json.NewEncoder(in).Encode(body); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("bare server: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("bare server's address: %w", err)
	}
	p.addr = strings.TrimSpace(line)
	return p, nil
}

// stop closes the server's stdin, which ends it, and waits for it.
func (p *bareProcess) stop() error {
	p.in.Close()
	return p.cmd.Wait()
}

// serveBare is a bare server (the bench's child): it reads its bareBody from
// in, serves it on a loopback port it prints to out, until in is closed.
// With profile set it writes its CPU profile there.
func serveBare(in io.Reader, out io.Writer, profile string) error {
	dec := json.NewDecoder(in)
	var body bareBody
	if err := dec.Decode(&body); err != nil {
		return err
	}
	var h http.Handler
	switch body.Mode {
	case bareStatic:
		h = bareHandler(body.Body, body.ContentType)
	case bareToken:
		var err error
		if h, err = bareTokenHandler(body.Body); err != nil {
			return err
		}
	case bareBlobs:
		if body.Dir == "" {
			return errors.New("a blobs server needs a directory")
		}
		h = bareBlobHandler(body.Dir)
	default:
		return fmt.Errorf("no bare server mode %q", body.Mode)
	}
	srv := &http.Server{Handler: h, Protocols: http1Only()}
	if body.Cert != nil {
		var err error
		if srv.TLSConfig, err = (&benchCert{der: body.Cert, key: body.Key}).tlsConfig(); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if srv.TLSConfig != nil {
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	defer srv.Close()
	if _, err := fmt.Fprintln(out, ln.Addr().String()); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.MultiReader(dec.Buffered(), in))
	return nil
}
