package distribution

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
)

// repository talks to one repository of one registry endpoint, with the
// credentials of one request.
type repository struct {
	ep    endpoint
	name  string // "library/busybox"
	creds *Credentials
	hc    *http.Client
	auth  *authState
	tries int // attempts of a request on network errors and 5xx
}

// authState remembers what the registry asked for: the last bearer token by
// scope, or that it wants basic auth.
type authState struct {
	mu     sync.Mutex
	basic  bool
	bearer map[string]string // scope -> token
	chal   map[string]string // realm, service of the last Bearer challenge
}

func (r *repository) scope(push bool) string {
	if push {
		return "repository:" + r.name + ":pull,push"
	}
	return "repository:" + r.name + ":pull"
}

// httpError is a registry's answer that is not what was asked.
func httpError(op string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.TrimSpace(string(body))
	var er struct {
		Errors []struct{ Code, Message string }
	}
	if json.Unmarshal(body, &er) == nil && len(er.Errors) > 0 {
		msg = er.Errors[0].Code + ": " + er.Errors[0].Message
	}
	class := errdefs.ErrUnavailable
	switch {
	case resp.StatusCode == http.StatusNotFound:
		class = errdefs.ErrNotFound
	case resp.StatusCode == http.StatusUnauthorized:
		class = errdefs.ErrUnauthenticated
		msg = "authentication required or denied (" + msg + ")"
	case resp.StatusCode == http.StatusForbidden:
		class = errdefs.ErrPermissionDenied
		msg = "authentication required or denied (" + msg + ")"
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		class = errdefs.ErrInvalidArgument
	}
	return fmt.Errorf("%s: %s %s: %s: %w", op, resp.Request.Method, resp.Request.URL.Redacted(), http.StatusText(resp.StatusCode)+" "+msg, class)
}

// do sends the request mk builds (again for each retry and after an auth
// challenge). Network errors and 5xx answers are retried with backoff when
// the method is idempotent. The caller closes the response body.
func (r *repository) do(ctx context.Context, push bool, mk func() (*http.Request, error)) (*http.Response, error) {
	var lastErr error
	backoff := 200 * time.Millisecond
	tries := r.tries
	if tries <= 0 {
		tries = 4
	}
	for attempt := 0; attempt < tries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			backoff *= 2
		}
		req, err := mk()
		if err != nil {
			return nil, err
		}
		idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodPut
		resp, err := r.send(ctx, req, push)
		if err == nil && resp.StatusCode == http.StatusUnauthorized {
			if aerr := r.authorize(ctx, resp, push, resp.Request.Header.Get("Authorization")); aerr != nil {
				resp.Body.Close()
				return nil, aerr
			}
			resp.Body.Close()
			if req, err = mk(); err != nil {
				return nil, err
			}
			resp, err = r.send(ctx, req, push)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var cve *tls.CertificateVerificationError
			if errors.As(err, &cve) {
				// Retrying cannot help; the CA dir or insecure list can.
				return nil, fmt.Errorf("%s %s: %v (add the registry's CA as %s/ca.crt under the certs dir): %w", req.Method, req.URL.Redacted(), err, r.ep.host, errdefs.ErrFailedPrecondition)
			}
			lastErr = fmt.Errorf("%s %s: %v: %w", req.Method, req.URL.Redacted(), err, errdefs.ErrUnavailable)
			if idempotent {
				continue
			}
			return nil, lastErr
		}
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented && idempotent {
			lastErr = httpError("registry", resp)
			resp.Body.Close()
			continue
		}
		return resp, nil
	}
	return nil, lastErr
}

func (r *repository) send(ctx context.Context, req *http.Request, push bool) (*http.Response, error) {
	req = req.WithContext(ctx)
	req.Header.Set("User-Agent", "berth/0.1")
	r.auth.mu.Lock()
	switch {
	case r.creds != nil && r.creds.RegistryToken != "":
		req.Header.Set("Authorization", "Bearer "+r.creds.RegistryToken)
	case r.auth.bearer[r.scope(push)] != "":
		req.Header.Set("Authorization", "Bearer "+r.auth.bearer[r.scope(push)])
	case r.auth.basic && !r.creds.empty():
		req.SetBasicAuth(r.creds.Username, r.creds.Password)
	}
	r.auth.mu.Unlock()
	return r.hc.Do(req)
}

// parseChallenge reads `Bearer realm="...",service="...",scope="..."`.
func parseChallenge(h string) (scheme string, params map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params = map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if strings.HasPrefix(v, `"`) {
			end := strings.Index(v[1:], `"`)
			if end < 0 {
				params[k] = v[1:]
				break
			}
			params[k], rest = v[1:1+end], v[2+end:]
		} else {
			val, next, _ := strings.Cut(v, ",")
			params[k], rest = strings.TrimSpace(val), next
		}
	}
	return strings.ToLower(scheme), params
}

// authorize answers a 401: a Basic challenge needs credentials, a Bearer
// challenge is answered by fetching a token from the realm (anonymously, or
// with the credentials).
func (r *repository) authorize(ctx context.Context, resp *http.Response, push bool, sent string) error {
	scheme, params := parseChallenge(resp.Header.Get("WWW-Authenticate"))
	switch scheme {
	case "basic":
		if r.creds.empty() || r.creds.Username == "" {
			return fmt.Errorf("registry %s requires authentication (basic) and no credentials were given: %w", r.ep.host, errdefs.ErrUnauthenticated)
		}
		r.auth.mu.Lock()
		r.auth.basic = true
		r.auth.mu.Unlock()
		if strings.HasPrefix(sent, "Basic ") {
			return fmt.Errorf("registry %s: credentials for %q refused: %w", r.ep.host, r.creds.Username, errdefs.ErrUnauthenticated)
		}
		return nil
	case "bearer":
		tok, err := r.fetchToken(ctx, params, push)
		if err != nil {
			return err
		}
		r.auth.mu.Lock()
		if r.auth.bearer == nil {
			r.auth.bearer = map[string]string{}
		}
		r.auth.bearer[r.scope(push)] = tok
		r.auth.mu.Unlock()
		if sent == "Bearer "+tok {
			return fmt.Errorf("registry %s: token refused: %w", r.ep.host, errdefs.ErrUnauthenticated)
		}
		return nil
	}
	return fmt.Errorf("registry %s: unsupported authentication %q: %w", r.ep.host, resp.Header.Get("WWW-Authenticate"), errdefs.ErrFailedPrecondition)
}

func (r *repository) fetchToken(ctx context.Context, params map[string]string, push bool) (string, error) {
	realm := params["realm"]
	u, err := url.Parse(realm)
	if err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLocal(u.Host))) && u.Host != r.ep.host {
		return "", fmt.Errorf("registry %s: token realm %q refused: %w", r.ep.host, realm, errdefs.ErrUnauthenticated)
	}
	q := u.Query()
	if params["service"] != "" {
		q.Set("service", params["service"])
	}
	q.Set("scope", r.scope(push))
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	if !r.creds.empty() && r.creds.Username != "" {
		req.SetBasicAuth(r.creds.Username, r.creds.Password)
	}
	if r.creds != nil && r.creds.IdentityToken != "" {
		// An OAuth2 refresh token: exchange it at the realm.
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.creds.IdentityToken},
			"service": {params["service"]}, "scope": {r.scope(push)}, "client_id": {"berth"}}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, realm, strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("registry %s: token: %v: %w", r.ep.host, err, errdefs.ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", httpError("registry token", resp)
	}
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr); err != nil {
		return "", fmt.Errorf("registry %s: token answer: %v: %w", r.ep.host, err, errdefs.ErrInvalidArgument)
	}
	if tr.Token == "" {
		tr.Token = tr.AccessToken
	}
	if tr.Token == "" {
		return "", fmt.Errorf("registry %s: empty token: %w", r.ep.host, errdefs.ErrFailedPrecondition)
	}
	return tr.Token, nil
}

var errNoResume = errors.New("range not honoured")
