// Package tldb is a client for tldb-server, the timeline database server, speaking its binary
// protocol (docs/protocol.md, version 1) over TCP or TLS.
//
// One Client holds one connection and pipelines every request on it: any number of calls may
// be in flight from any number of goroutines, and a reader goroutine matches each response to
// its request by request id. Every call takes a context.Context for its deadline and
// cancellation. When the connection fails, the client reconnects on the next call, re-sends
// the requests that are safe to repeat (all of them: appends always carry a client_msg_id,
// generated when the caller gives none, and the server answers a repeat with the original
// SeqId), and re-subscribes its subscriptions from the last message each one delivered.
package tldb

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Options configure a Client. Only Addr is required.
type Options struct {
	// Addr is the server's HOST:PORT, e.g. "127.0.0.1:7070".
	Addr string
	// Token is the access token's secret; empty when the server requires none.
	Token string
	// ClientName is sent in HELLO for the server's logs (default "tldb-go").
	ClientName string
	// TLSConfig, when not nil, makes the client speak TLS, to a tldb-server started with
	// --tls-cert (or a TLS-terminating proxy). ServerName defaults to Addr's host.
	// TLSConfigFromFiles builds one from a CA file, a client certificate and key, and a name.
	// A certificate the client rejects, and a TLS refusal from the server (e.g. no client
	// certificate where one is required), fail the dial at once instead of being retried.
	TLSConfig *tls.Config
	// DialTimeout bounds connecting plus the handshake (default 5 s); the call's context
	// bounds it too.
	DialTimeout time.Duration
	// Dial replaces net.Dialer for the TCP connection (for tests, proxies, Unix sockets).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxRetries is how many times a call is re-sent after the connection failed (default 8;
	// negative: never). Each retry first waits RetryBackoff, doubling up to RetryBackoffMax.
	MaxRetries      int
	RetryBackoff    time.Duration // default 50 ms
	RetryBackoffMax time.Duration // default 2 s
}

// ServerInfo is what the server announced in HELLO.
type ServerInfo struct {
	Version             uint8
	ServerName          string
	FrameBodyBytesMax   uint32
	PayloadBytesMax     uint32
	InflightRequestsMax uint32
	FanoutTimelinesMax  uint32
	WaitTimeoutMsMax    uint32
	Grants              []Grant
}

// Grant is a right on a namespace ("*": every namespace).
type Grant struct {
	Namespace string
	Rights    Rights
}

// Client is a connection to tldb-server, safe for concurrent use.
type Client struct {
	opts Options

	mu        sync.Mutex
	cur       *conn
	dialing   chan struct{} // closed when the dial in progress ends
	closed    bool
	closeCh   chan struct{}
	info      ServerInfo
	subs      map[*Subscription]struct{}
	resubbing bool // a goroutine is reconnecting for the subscriptions
}

// Dial connects to the server and performs the handshake. The client reconnects by itself
// later; ctx bounds only this first connection.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if opts.Addr == "" {
		return nil, errors.New("tldb: Options.Addr is empty")
	}
	if opts.ClientName == "" {
		opts.ClientName = "tldb-go"
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 8
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 50 * time.Millisecond
	}
	if opts.RetryBackoffMax <= 0 {
		opts.RetryBackoffMax = 2 * time.Second
	}
	c := &Client{opts: opts, closeCh: make(chan struct{}), subs: map[*Subscription]struct{}{}}
	if _, err := c.getConn(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// ServerInfo returns what the server announced in the newest handshake.
func (c *Client) ServerInfo() ServerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// Close closes the connection. Calls in flight fail with ErrClientClosed, and every
// subscription's channel is closed (Err: ErrSubscriptionClosed).
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closeCh)
	cur := c.cur
	c.cur = nil
	subs := c.subs
	c.subs = map[*Subscription]struct{}{}
	c.mu.Unlock()
	if cur != nil {
		cur.fail(ErrClientClosed)
	}
	for s := range subs {
		s.finish(ErrSubscriptionClosed, false)
	}
	return nil
}

// getConn returns the live connection, dialing one if there is none.
func (c *Client) getConn(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClientClosed
		}
		if c.cur != nil && !c.cur.isDead() {
			cn := c.cur
			c.mu.Unlock()
			return cn, nil
		}
		if c.dialing != nil {
			ch := c.dialing
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		ch := make(chan struct{})
		c.dialing = ch
		c.mu.Unlock()

		cn, info, err := c.dial(ctx)
		c.mu.Lock()
		c.dialing = nil
		close(ch)
		if err == nil && c.closed {
			err = ErrClientClosed
		}
		if err != nil {
			c.mu.Unlock()
			if cn != nil {
				cn.fail(err)
			}
			return nil, err
		}
		c.cur = cn
		c.info = info
		var subs []*Subscription
		for s := range c.subs {
			subs = append(subs, s)
		}
		c.mu.Unlock()
		if len(subs) > 0 {
			go c.resubscribe(cn, subs)
		}
		return cn, nil
	}
}

// dial opens a connection and performs HELLO. Failures to reach the server come back as
// connection errors (retryable); a refused handshake as the server's *Error.
func (c *Client) dial(ctx context.Context) (*conn, ServerInfo, error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	if c.opts.Dial != nil {
		nc, err = c.opts.Dial(dctx, "tcp", c.opts.Addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(dctx, "tcp", c.opts.Addr)
	}
	if err != nil {
		return nil, ServerInfo{}, c.dialErr(ctx, err)
	}
	if c.opts.TLSConfig != nil {
		cfg := c.opts.TLSConfig.Clone()
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
			if host, _, herr := net.SplitHostPort(c.opts.Addr); herr == nil {
				cfg.ServerName = host
			}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			nc.Close()
			if isTLSRefusal(err) {
				return nil, ServerInfo{}, fmt.Errorf("tldb: TLS handshake with %s: %w%s", c.opts.Addr, err, plainHint(err))
			}
			return nil, ServerInfo{}, c.dialErr(ctx, fmt.Errorf("TLS handshake: %w", err))
		}
		nc = tc
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}

	// HELLO, synchronously, before the reader and writer start.
	if err := checkStrLen("client name", c.opts.ClientName); err != nil {
		nc.Close()
		return nil, ServerInfo{}, err
	}
	e := newEncoder()
	e.u8(protocolVersion)
	e.str16(c.opts.ClientName)
	e.str16(c.opts.Token)
	if dl, ok := dctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if _, err := nc.Write(e.finish(opHello, 0)); err != nil {
		nc.Close()
		return nil, ServerInfo{}, c.dialErr(ctx, err)
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	var hdr [headerSize]byte
	h, body, err := readFrame(br, hdr[:], 1<<20)
	if err != nil {
		nc.Close()
		if c.opts.TLSConfig != nil && isTLSRefusal(err) {
			// TLS 1.3: the server refuses a client certificate after the handshake.
			return nil, ServerInfo{}, fmt.Errorf("tldb: TLS with %s: %w", c.opts.Addr, err)
		}
		return nil, ServerInfo{}, c.dialErr(ctx, err)
	}
	if h.flags&flagError != 0 {
		nc.Close()
		serr := decodeError(body, h.flags)
		var te *Error
		if errors.As(serr, &te) && (te.Code == CodeTooManyConns || te.Code == CodeShuttingDown) {
			return nil, ServerInfo{}, &connError{serr} // another attempt may succeed
		}
		return nil, ServerInfo{}, serr
	}
	if h.opcode != opHello || h.flags&flagResponse == 0 {
		nc.Close()
		return nil, ServerInfo{}, &connError{fmt.Errorf("unexpected frame (opcode %#x) instead of HELLO's answer", h.opcode)}
	}
	info, err := decodeHello(body)
	if err != nil {
		nc.Close()
		return nil, ServerInfo{}, err
	}
	_ = nc.SetDeadline(time.Time{})
	cn := newConn(c, nc, br, info)
	return cn, info, nil
}

func (c *Client) dialErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &connError{err}
}

func decodeHello(body []byte) (ServerInfo, error) {
	d := decoder{b: body}
	var s ServerInfo
	s.Version = d.u8()
	s.ServerName = d.str16()
	s.FrameBodyBytesMax = d.u32()
	s.PayloadBytesMax = d.u32()
	s.InflightRequestsMax = d.u32()
	s.FanoutTimelinesMax = d.u32()
	s.WaitTimeoutMsMax = d.u32()
	n := d.count(3)
	for i := 0; i < n; i++ {
		s.Grants = append(s.Grants, Grant{Namespace: d.str16(), Rights: Rights(d.u8())})
	}
	return s, d.done()
}

// connLost is called once per failed connection.
func (c *Client) connLost(cn *conn) {
	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil
	}
	start := !c.closed && len(c.subs) > 0 && !c.resubbing
	if start {
		c.resubbing = true
	}
	c.mu.Unlock()
	if start {
		go c.reconnectForSubscriptions()
	}
}

// reconnectForSubscriptions dials again (with backoff) while subscriptions are open; getConn
// re-subscribes them.
func (c *Client) reconnectForSubscriptions() {
	defer func() {
		c.mu.Lock()
		c.resubbing = false
		c.mu.Unlock()
	}()
	backoff := c.opts.RetryBackoff
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.closeCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		c.mu.Lock()
		n := len(c.subs)
		c.mu.Unlock()
		if n == 0 {
			return
		}
		_, err := c.getConn(ctx)
		if err == nil {
			return
		}
		if !isConnError(err) {
			// The server refuses this client now (e.g. AUTH_FAILED): end the subscriptions.
			c.mu.Lock()
			subs := c.subs
			c.subs = map[*Subscription]struct{}{}
			c.mu.Unlock()
			for s := range subs {
				s.finish(err, true)
			}
			return
		}
		select {
		case <-time.After(backoff):
		case <-c.closeCh:
			return
		}
		if backoff *= 2; backoff > c.opts.RetryBackoffMax {
			backoff = c.opts.RetryBackoffMax
		}
	}
}

// retryable says whether a failed attempt may be re-sent.
func retryable(err error) bool {
	return isConnError(err) || errors.Is(err, ErrShuttingDown)
}

// call sends one request (body: an encoder whose header is not written yet) and returns the
// response body. Requests are re-sent after a connection failure, up to MaxRetries times.
func (c *Client) call(ctx context.Context, op uint8, e *encoder, sub *Subscription) ([]byte, error) {
	backoff := c.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		cn, err := c.getConn(ctx)
		var body []byte
		if err == nil {
			body, err = cn.roundTrip(ctx, op, e.b, sub)
			if err == nil {
				return body, nil
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !retryable(err) || attempt >= c.opts.MaxRetries {
			return nil, err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.closeCh:
			return nil, ErrClientClosed
		}
		if backoff *= 2; backoff > c.opts.RetryBackoffMax {
			backoff = c.opts.RetryBackoffMax
		}
	}
}

// conn is one network connection: a writer goroutine batches frames into few writes, a reader
// goroutine routes responses to their callers and pushes to their subscriptions.
type conn struct {
	client *Client
	nc     net.Conn
	info   ServerInfo
	out    chan []byte
	dead   chan struct{}

	mu      sync.Mutex
	pending map[uint64]chan response
	subs    map[uint64]*Subscription
	nextID  uint64
	maxPend int // the most requests in flight at once (for tests)
	err     error
	once    sync.Once
}

type response struct {
	body []byte
	err  error
}

func newConn(c *Client, nc net.Conn, br *bufio.Reader, info ServerInfo) *conn {
	cn := &conn{
		client:  c,
		nc:      nc,
		info:    info,
		out:     make(chan []byte, 1024),
		dead:    make(chan struct{}),
		pending: map[uint64]chan response{},
		subs:    map[uint64]*Subscription{},
		nextID:  1,
	}
	go cn.writeLoop()
	go cn.readLoop(br)
	return cn
}

func (cn *conn) isDead() bool {
	select {
	case <-cn.dead:
		return true
	default:
		return false
	}
}

// fail closes the connection once; every request in flight gets a connection error.
func (cn *conn) fail(cause error) {
	cn.once.Do(func() {
		cn.mu.Lock()
		if errors.Is(cause, ErrClientClosed) {
			cn.err = ErrClientClosed
		} else {
			cn.err = &connError{cause}
		}
		pending := cn.pending
		cn.pending = nil
		cn.subs = nil
		close(cn.dead)
		cn.mu.Unlock()
		cn.nc.Close()
		for _, ch := range pending {
			ch <- response{err: cn.err}
		}
		cn.client.connLost(cn)
	})
}

func (cn *conn) writeLoop() {
	bw := bufio.NewWriterSize(cn.nc, 64<<10)
	for {
		select {
		case f := <-cn.out:
			// This frame and every one already queued go out in one flush.
		more:
			for {
				if _, err := bw.Write(f); err != nil {
					cn.fail(err)
					return
				}
				select {
				case f = <-cn.out:
				default:
					break more
				}
			}
			if err := bw.Flush(); err != nil {
				cn.fail(err)
				return
			}
		case <-cn.dead:
			return
		}
	}
}

func (cn *conn) readLoop(br *bufio.Reader) {
	var hdr [headerSize]byte
	for {
		h, body, err := readFrame(br, hdr[:], 0)
		if err != nil {
			cn.fail(err)
			return
		}
		if h.flags&flagPush != 0 {
			if h.opcode != opPushMessage {
				continue
			}
			cn.mu.Lock()
			s := cn.subs[h.requestID]
			cn.mu.Unlock()
			if s != nil {
				m, err := decodePush(body)
				if err != nil {
					cn.fail(err)
					return
				}
				s.deliver(m)
			}
			continue
		}
		var rerr error
		if h.flags&flagError != 0 {
			rerr = decodeError(body, h.flags)
		}
		cn.mu.Lock()
		ch, ok := cn.pending[h.requestID]
		delete(cn.pending, h.requestID)
		s := cn.subs[h.requestID]
		if h.opcode == opSubscribe && s != nil && rerr != nil {
			delete(cn.subs, h.requestID)
		}
		cn.mu.Unlock()
		if h.opcode == opSubscribe && s != nil && rerr == nil {
			// Set the starting point here, before this goroutine routes the first push.
			d := decoder{b: body}
			s.started(d.u64())
		}
		if ok {
			ch <- response{body: body, err: rerr}
		}
		if h.flags&flagFatal != 0 {
			if rerr == nil {
				rerr = errors.New("fatal frame from server")
			}
			cn.fail(rerr)
			return
		}
	}
}

// roundTrip sends one request on this connection and waits for its answer.
func (cn *conn) roundTrip(ctx context.Context, op uint8, body []byte, sub *Subscription) ([]byte, error) {
	if cn.info.FrameBodyBytesMax != 0 && len(body)-headerSize > int(cn.info.FrameBodyBytesMax) {
		return nil, &Error{Code: CodeFrameTooLarge, Message: fmt.Sprintf(
			"request body of %d bytes above the server's %d", len(body)-headerSize, cn.info.FrameBodyBytesMax)}
	}
	ch := make(chan response, 1)
	cn.mu.Lock()
	if cn.pending == nil {
		err := cn.err
		cn.mu.Unlock()
		return nil, err
	}
	id := cn.nextID
	cn.nextID++
	cn.pending[id] = ch
	if len(cn.pending) > cn.maxPend {
		cn.maxPend = len(cn.pending)
	}
	if sub != nil {
		cn.subs[id] = sub
		sub.bind(cn, id)
	}
	cn.mu.Unlock()

	frame := make([]byte, len(body))
	copy(frame, body)
	e := encoder{b: frame}
	e.finish(op, id)
	select {
	case cn.out <- frame:
	case <-cn.dead:
		// fail() answers every pending request, this one included.
	case <-ctx.Done():
		cn.forget(id, sub != nil)
		return nil, ctx.Err()
	}
	select {
	case r := <-ch:
		return r.body, r.err
	case <-ctx.Done():
		cn.forget(id, sub != nil)
		return nil, ctx.Err()
	}
}

// forget drops a request whose caller gave up; a late answer is discarded.
func (cn *conn) forget(id uint64, sub bool) {
	cn.mu.Lock()
	if cn.pending != nil {
		delete(cn.pending, id)
	}
	cn.mu.Unlock()
	if sub {
		// The SUBSCRIBE may still take effect on the server: cancel it there.
		go func() {
			e := newEncoder()
			e.u64(id)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = cn.roundTrip(ctx, opUnsubscribe, e.b, nil)
			cn.mu.Lock()
			if cn.subs != nil {
				delete(cn.subs, id)
			}
			cn.mu.Unlock()
		}()
	}
}
