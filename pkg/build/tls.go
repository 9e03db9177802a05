package build

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"github.com/moby/buildkit/client"
)

// The file names of a TLS directory: a Kubernetes TLS Secret's keys
// (kubernetes.io/tls plus ca.crt), so the Secret mounts as it is.
const (
	TLSCAFile   = "ca.crt"
	TLSCertFile = "tls.crt"
	TLSKeyFile  = "tls.key"
)

// TLS is the client side of a buildkitd that requires mutual TLS: the CA
// that signed the daemon's certificate, and this client's certificate and
// key, which the daemon checks against its own CA.
type TLS struct {
	CA, Cert, Key string
	// ServerName is the name the daemon's certificate must carry; default
	// the address's host (a DNS name or an IP SAN).
	ServerName string
}

// TLSFromDir reads the client files of dir (TLSCAFile, TLSCertFile,
// TLSKeyFile) for the daemon at addr, and checks that they load as a key
// pair and a CA, so a broken Secret fails here with its reason rather
// than as a handshake error from the daemon. Only tcp:// addresses take
// TLS: a unix socket is guarded by its file permissions.
func TLSFromDir(dir, addr string) (*TLS, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("buildkit address %q: %w", addr, err)
	}
	if u.Scheme != "tcp" {
		return nil, fmt.Errorf("buildkit address %q: TLS needs a tcp:// address", addr)
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return nil, fmt.Errorf("buildkit address %q: want tcp://HOST:PORT", addr)
	}
	t := &TLS{
		CA:         filepath.Join(dir, TLSCAFile),
		Cert:       filepath.Join(dir, TLSCertFile),
		Key:        filepath.Join(dir, TLSKeyFile),
		ServerName: host,
	}
	if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
		return nil, fmt.Errorf("buildkit client certificate in %s: %w", dir, err)
	}
	ca, err := os.ReadFile(t.CA)
	if err != nil {
		return nil, fmt.Errorf("buildkit CA: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("buildkit CA %s: no PEM certificate in it", t.CA)
	}
	return t, nil
}

// WithTLS connects with mutual TLS (New only). Default: plain, for a unix
// socket or a daemon on loopback.
func WithTLS(t *TLS) Option {
	return func(b *Builder) { b.tls = t }
}

func (t *TLS) clientOpts() ([]client.ClientOpt, error) {
	if t == nil {
		return nil, nil
	}
	if t.CA == "" || t.Cert == "" || t.Key == "" || t.ServerName == "" {
		return nil, errors.New("buildkit TLS: CA, certificate, key and server name are all required")
	}
	return []client.ClientOpt{client.WithServerConfig(t.ServerName, t.CA), client.WithCredentials(t.Cert, t.Key)}, nil
}
