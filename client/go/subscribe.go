package tldb

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Subscription delivers a timeline's messages on C, in seq order, without gaps or duplicates,
// across reconnections: after a connection failure the client subscribes again from the last
// message it delivered (reading the missed ones with SCAN first when there are more than the
// server would push as backfill).
//
// The client queues pushes without bound, so a slow reader of C never stalls other calls; C is
// closed when the subscription ends (Err says why).
type Subscription struct {
	// C receives the messages.
	C <-chan PushMessage

	c          *Client
	ns         string
	timeline   string
	fromLatest bool
	out        chan PushMessage
	wake       chan struct{}
	stop       chan struct{}

	mu         sync.Mutex
	cn         *conn  // the connection the server-side subscription lives on
	id         uint64 // its request id there
	last       uint64 // the last seq delivered (or the start)
	startAfter uint64
	started_   bool
	running    bool // a goroutine is (re)subscribing
	queue      []PushMessage
	closed     bool
	err        error
}

// Subscribe subscribes to the messages of a timeline with a seq above afterSeq. It returns once
// the server accepted the subscription. Up to the server's backfill limit (1,000 by default)
// the existing messages are pushed first; beyond that the client reads them with SCAN.
func (c *Client) Subscribe(ctx context.Context, ns, timeline string, afterSeq uint64) (*Subscription, error) {
	return c.subscribe(ctx, ns, timeline, afterSeq, false)
}

// SubscribeLatest subscribes to the messages appended from now on.
func (c *Client) SubscribeLatest(ctx context.Context, ns, timeline string) (*Subscription, error) {
	return c.subscribe(ctx, ns, timeline, 0, true)
}

func (c *Client) subscribe(ctx context.Context, ns, timeline string, afterSeq uint64, fromLatest bool) (*Subscription, error) {
	if err := checkStrs("namespace", ns, "timeline", timeline); err != nil {
		return nil, err
	}
	s := &Subscription{
		c: c, ns: ns, timeline: timeline, fromLatest: fromLatest,
		out: make(chan PushMessage), wake: make(chan struct{}, 1), stop: make(chan struct{}),
		last: afterSeq,
	}
	s.C = s.out
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClientClosed
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	if err := s.ensure(ctx); err != nil {
		c.removeSub(s)
		s.finish(err, false)
		return nil, err
	}
	go s.pump()
	return s, nil
}

func (c *Client) removeSub(s *Subscription) {
	c.mu.Lock()
	delete(c.subs, s)
	c.mu.Unlock()
}

// resubscribe re-creates, on a new connection, the subscriptions that are not live.
func (c *Client) resubscribe(cn *conn, subs []*Subscription) {
	for _, s := range subs {
		go func(s *Subscription) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				select {
				case <-s.stop:
					cancel()
				case <-c.closeCh:
					cancel()
				case <-ctx.Done():
				}
			}()
			if err := s.ensure(ctx); err != nil && ctx.Err() == nil {
				c.removeSub(s)
				s.finish(err, true)
			}
		}(s)
	}
}

// StartAfter is the seq after which the subscription started (for SubscribeLatest: the
// timeline's last seq at that moment).
func (s *Subscription) StartAfter() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startAfter
}

// LastSeq is the seq of the newest message received (or StartAfter).
func (s *Subscription) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Err is why the subscription ended (nil while it runs): ErrSubscriptionClosed after Close or
// Client.Close, or the server's error when it refused to subscribe again after a reconnection.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription (UNSUBSCRIBE) and closes C; messages not yet read are dropped.
func (s *Subscription) Close(ctx context.Context) error {
	s.c.removeSub(s)
	s.mu.Lock()
	cn, id := s.cn, s.id
	s.mu.Unlock()
	if !s.finish(ErrSubscriptionClosed, false) {
		return nil
	}
	if cn == nil || cn.isDead() {
		return nil
	}
	e := newEncoder()
	e.u64(id)
	_, err := cn.roundTrip(ctx, opUnsubscribe, e.b, nil)
	cn.mu.Lock()
	if cn.subs != nil {
		delete(cn.subs, id)
	}
	cn.mu.Unlock()
	if err != nil && (isConnError(err) || errors.Is(err, ErrNotFound)) {
		return nil // the subscription is gone with its connection
	}
	return err
}

// ensure makes the server-side subscription exist on a live connection.
func (s *Subscription) ensure(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.running || (s.cn != nil && !s.cn.isDead()) {
		s.mu.Unlock()
		return nil
	}
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()

	backoff := s.c.opts.RetryBackoff
	catchUps := 0
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil
		}
		if s.cn != nil && !s.cn.isDead() {
			s.mu.Unlock()
			return nil
		}
		resume := s.started_ || !s.fromLatest
		after := s.last
		s.mu.Unlock()

		e := newEncoder()
		e.str16(s.ns)
		e.str16(s.timeline)
		e.u64(after)
		if resume {
			e.u8(0)
		} else {
			e.u8(1) // FROM_LATEST
		}
		cn, err := s.c.getConn(ctx)
		if err == nil {
			_, err = cn.roundTrip(ctx, opSubscribe, e.b, s)
			if err == nil {
				s.mu.Lock()
				closedMeanwhile, id := s.closed && s.cn == cn, s.id
				s.mu.Unlock()
				if closedMeanwhile {
					cn.forget(id, true) // Close ran during the SUBSCRIBE: cancel it on the server
				}
				continue // the loop's check returns once the binding is live
			}
			s.mu.Lock()
			if s.cn == cn {
				s.cn = nil // refused or lost: not live on cn
			}
			s.mu.Unlock()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case resume && errors.Is(err, ErrInvalidArgument) && catchUps < 3:
			// Probably more missed messages than the server's backfill limit: read them.
			catchUps++
			if cerr := s.catchUp(ctx); cerr != nil {
				return cerr
			}
			continue
		case retryable(err):
		default:
			return err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		if backoff *= 2; backoff > s.c.opts.RetryBackoffMax {
			backoff = s.c.opts.RetryBackoffMax
		}
	}
}

// catchUp delivers the messages after the last one with SCAN, up to the timeline's end.
func (s *Subscription) catchUp(ctx context.Context) error {
	for {
		from := s.LastSeq() + 1
		page, err := s.c.Scan(ctx, s.ns, s.timeline, ScanOptions{FromSeq: from, Limit: 1000})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for _, m := range page {
			s.deliver(PushMessage{Namespace: s.ns, Timeline: s.timeline, Message: m})
		}
	}
}

// bind records the connection and request id of a SUBSCRIBE being sent (under cn.mu).
func (s *Subscription) bind(cn *conn, id uint64) {
	s.mu.Lock()
	s.cn, s.id = cn, id
	s.mu.Unlock()
}

// started is called by the reader goroutine with the SUBSCRIBE's start_after.
func (s *Subscription) started(startAfter uint64) {
	s.mu.Lock()
	if !s.started_ {
		s.started_ = true
		s.startAfter = startAfter
	}
	if startAfter > s.last {
		s.last = startAfter
	}
	s.mu.Unlock()
}

// deliver queues a message unless it was delivered already.
func (s *Subscription) deliver(m PushMessage) {
	s.mu.Lock()
	if s.closed || m.Seq <= s.last {
		s.mu.Unlock()
		return
	}
	s.last = m.Seq
	s.queue = append(s.queue, m)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// finish ends the subscription once; drain: deliver what is queued before closing C.
// It reports whether this call ended it.
func (s *Subscription) finish(err error, drain bool) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.closed = true
	s.err = err
	s.mu.Unlock()
	if drain {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	} else {
		close(s.stop)
	}
	return true
}

func (s *Subscription) pump() {
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			closed := s.closed
			s.mu.Unlock()
			if closed {
				close(s.out)
				return
			}
			select {
			case <-s.wake:
			case <-s.stop:
				close(s.out)
				return
			}
			continue
		}
		m := s.queue[0]
		s.queue[0] = PushMessage{}
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.out <- m:
		case <-s.stop:
			close(s.out)
			return
		}
	}
}
