// Package roundrobin is the cluster demo's front: a reverse proxy that
// sends each request to the next of several authlayer replicas in turn
// and says which one answered in a response header, so a visitor sees
// requests land on every replica. It stands for the load balancer a real
// deployment has in front of its Traefik replicas (a cloud load balancer,
// a Kubernetes Service); it keeps no affinity on purpose: cluster mode is
// what lets a session move between replicas.
package roundrobin

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// Header names the replica that answered: "1" for the first, "2" for the
// second, and so on.
const Header = "X-Demo-Replica"

// New returns a handler sending request n to replicas[n % len(replicas)],
// with the client's Host kept and X-Forwarded-For, -Host and -Proto set
// from the connection (client copies dropped), as a load balancer in front
// of Traefik does. Each answer carries Header; a replica that cannot be
// reached answers 502 with it too.
func New(replicas []*url.URL, logger *log.Logger) (http.Handler, error) {
	if len(replicas) == 0 {
		return nil, errors.New("roundrobin: no replica")
	}
	rr := &roundRobin{}
	for i, target := range replicas {
		if target == nil || target.Scheme == "" || target.Host == "" {
			return nil, fmt.Errorf("roundrobin: replica %d: want an absolute URL", i+1)
		}
		target := target
		name := strconv.Itoa(i + 1)
		rr.proxies = append(rr.proxies, &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Host = pr.In.Host
				pr.SetXForwarded()
			},
			ModifyResponse: func(resp *http.Response) error {
				resp.Header.Set(Header, name)
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				if logger != nil {
					logger.Printf("replica %s (%s) unreachable for %s %s: %v", name, target.Host, r.Method, r.URL.Path, err)
				}
				w.Header().Set(Header, name)
				http.Error(w, "Bad Gateway: replica "+name+" is not answering", http.StatusBadGateway)
			},
		})
	}
	return rr, nil
}

type roundRobin struct {
	next    atomic.Uint64
	proxies []*httputil.ReverseProxy
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := rr.next.Add(1) - 1
	rr.proxies[n%uint64(len(rr.proxies))].ServeHTTP(w, r)
}

// ParseReplicas reads a comma-separated list of replica base URLs
// ("http://traefik-1:8080,http://traefik-2:8080").
func ParseReplicas(list string) ([]*url.URL, error) {
	var out []*url.URL
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("replica %q: want http://host:port", s)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, errors.New("no replica given")
	}
	return out, nil
}
