package tldb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"
)

// NewClientMsgID returns a random client_msg_id (32 hex digits).
func NewClientMsgID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("tldb: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

func checkStrs(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := checkStrLen(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// checkTimelines checks every timeline name of a request's list.
func checkTimelines(timelines []string) error {
	for _, t := range timelines {
		if err := checkStrLen("timeline", t); err != nil {
			return err
		}
	}
	return nil
}

func decodeAppendResult(d *decoder, id string) AppendResult {
	return AppendResult{Seq: d.u64(), TimestampMs: d.i64(), Deduplicated: d.boolean(), ClientMsgID: id}
}

func decodeMessage(d *decoder) Message {
	return Message{Seq: d.u64(), TimestampMs: d.i64(), ClientMsgID: d.str16(), Payload: d.bytes32()}
}

func decodePush(body []byte) (PushMessage, error) {
	d := decoder{b: body}
	p := PushMessage{Namespace: d.str16(), Timeline: d.str16()}
	p.Message = decodeMessage(&d)
	return p, d.done()
}

// Ping sends data and returns the server's echo of it.
func (c *Client) Ping(ctx context.Context, data []byte) ([]byte, error) {
	e := newEncoder()
	e.bytes32(data)
	body, err := c.call(ctx, opPing, e, nil)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	out := d.bytes32()
	return out, d.done()
}

// Stats returns the server's counters (docs/protocol.md STATS).
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	body, err := c.call(ctx, opStats, newEncoder(), nil)
	if err != nil {
		return Stats{}, err
	}
	d := decoder{b: body}
	n := d.count(10)
	s := Stats{Counters: make(map[string]uint64, n)}
	for i := 0; i < n; i++ {
		name := d.str16()
		s.Counters[name] = d.u64()
	}
	s.IOBackend = d.str16()
	return s, d.done()
}

// Append appends payload to a timeline. opts may be nil. The append always carries a
// client_msg_id (generated when opts has none), so it is re-sent safely after a connection
// failure: the server answers the re-send with the original seq and Deduplicated set.
func (c *Client) Append(ctx context.Context, ns, timeline string, payload []byte, opts *AppendOptions) (AppendResult, error) {
	var o AppendOptions
	if opts != nil {
		o = *opts
	}
	if o.ClientMsgID == "" {
		o.ClientMsgID = NewClientMsgID()
	}
	if err := checkStrs("namespace", ns, "timeline", timeline, "client_msg_id", o.ClientMsgID); err != nil {
		return AppendResult{}, err
	}
	e := newEncoder()
	e.str16(ns)
	e.str16(timeline)
	e.str16(o.ClientMsgID)
	e.boolean(o.ExpectedLastSeq != nil)
	if o.ExpectedLastSeq != nil {
		e.u64(*o.ExpectedLastSeq)
	} else {
		e.u64(0)
	}
	e.u8(uint8(o.Durability))
	e.bytes32(payload)
	body, err := c.call(ctx, opAppend, e, nil)
	if err != nil {
		return AppendResult{}, err
	}
	d := decoder{b: body}
	r := decodeAppendResult(&d, o.ClientMsgID)
	return r, d.done()
}

// AppendFanout stores payload once and appends it to every timeline atomically. Results are
// in timelines order. ExpectedLastSeq in opts is not allowed.
func (c *Client) AppendFanout(ctx context.Context, ns string, timelines []string, payload []byte, opts *AppendOptions) ([]AppendResult, error) {
	var o AppendOptions
	if opts != nil {
		o = *opts
	}
	if o.ExpectedLastSeq != nil {
		return nil, &Error{Code: CodeInvalidArgument, Message: "AppendFanout takes no ExpectedLastSeq"}
	}
	if o.ClientMsgID == "" {
		o.ClientMsgID = NewClientMsgID()
	}
	if err := checkStrs("namespace", ns, "client_msg_id", o.ClientMsgID); err != nil {
		return nil, err
	}
	if err := checkTimelines(timelines); err != nil {
		return nil, err
	}
	e := newEncoder()
	e.str16(ns)
	e.strList(timelines)
	e.str16(o.ClientMsgID)
	e.u8(uint8(o.Durability))
	e.bytes32(payload)
	body, err := c.call(ctx, opAppendFanout, e, nil)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	n := d.count(17)
	out := make([]AppendResult, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, decodeAppendResult(&d, o.ClientMsgID))
	}
	return out, d.done()
}

// Get reads one message. Errors: ErrNotFound (never existed), ErrDeleted (recalled, trimmed,
// deleted or expired).
func (c *Client) Get(ctx context.Context, ns, timeline string, seq uint64) (Message, error) {
	if err := checkStrs("namespace", ns, "timeline", timeline); err != nil {
		return Message{}, err
	}
	e := newEncoder()
	e.str16(ns)
	e.str16(timeline)
	e.u64(seq)
	body, err := c.call(ctx, opGet, e, nil)
	if err != nil {
		return Message{}, err
	}
	d := decoder{b: body}
	m := decodeMessage(&d)
	return m, d.done()
}

// Scan reads a range of a timeline, in scan order; deleted messages are skipped. Page forward
// with FromSeq = last.Seq+1 until a page is empty; backward with ToSeq = last.Seq-1 while
// last.Seq > 1 (ToSeq 0 would mean open: a page ending at seq 1, or an empty one, is the end).
// A short page is not the end: BytesMax counts payload bytes and stops after the message
// that crosses it.
func (c *Client) Scan(ctx context.Context, ns, timeline string, opts ScanOptions) ([]Message, error) {
	if err := checkStrs("namespace", ns, "timeline", timeline); err != nil {
		return nil, err
	}
	e := newEncoder()
	e.str16(ns)
	e.str16(timeline)
	e.u64(opts.FromSeq)
	e.u64(opts.ToSeq)
	e.u8(uint8(opts.Direction))
	e.u32(opts.Limit)
	e.u32(opts.BytesMax)
	body, err := c.call(ctx, opScan, e, nil)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	n := d.count(22) // a Message is at least 22 bytes
	out := make([]Message, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, decodeMessage(&d))
	}
	return out, d.done()
}

// Latest returns the newest n messages, newest first.
func (c *Client) Latest(ctx context.Context, ns, timeline string, n uint32) ([]Message, error) {
	return c.Scan(ctx, ns, timeline, ScanOptions{Direction: Backward, Limit: n})
}

// LastSeq returns the last seq of each timeline (0: none), in request order.
func (c *Client) LastSeq(ctx context.Context, ns string, timelines []string) ([]uint64, error) {
	if err := checkStrLen("namespace", ns); err != nil {
		return nil, err
	}
	if err := checkTimelines(timelines); err != nil {
		return nil, err
	}
	e := newEncoder()
	e.str16(ns)
	e.strList(timelines)
	body, err := c.call(ctx, opLastSeq, e, nil)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	n := d.count(8)
	out := make([]uint64, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, d.u64())
	}
	return out, d.done()
}

// waitRequest encodes WAIT's fields shared by Wait and WaitRead; the timeout is clamped to
// the u32 of milliseconds the wire carries.
func waitRequest(ns, timeline string, afterSeq uint64, timeout time.Duration) (*encoder, error) {
	if err := checkStrs("namespace", ns, "timeline", timeline); err != nil {
		return nil, err
	}
	ms := timeout.Milliseconds()
	if ms < 0 {
		ms = 0
	}
	if ms > 0xFFFFFFFF {
		ms = 0xFFFFFFFF
	}
	e := newEncoder()
	e.str16(ns)
	e.str16(timeline)
	e.u64(afterSeq)
	e.u32(uint32(ms))
	return e, nil
}

// Wait long-polls: it returns as soon as the timeline's last seq is above afterSeq (Ready), or
// with Ready false once timeout passes (at most the server's WaitTimeoutMsMax, 60 s by
// default). ctx can end it earlier.
func (c *Client) Wait(ctx context.Context, ns, timeline string, afterSeq uint64, timeout time.Duration) (WaitResult, error) {
	e, err := waitRequest(ns, timeline, afterSeq, timeout)
	if err != nil {
		return WaitResult{}, err
	}
	body, err := c.call(ctx, opWait, e, nil)
	if err != nil {
		return WaitResult{}, err
	}
	d := decoder{b: body}
	r := WaitResult{Ready: d.boolean(), LastSeq: d.u64()}
	return r, d.done()
}

func decodeTimelineRead(d *decoder) TimelineRead {
	t := TimelineRead{LastSeq: d.u64(), More: d.boolean()}
	n := d.count(22) // a Message is at least 22 bytes
	t.Messages = make([]Message, 0, n)
	for i := 0; i < n; i++ {
		t.Messages = append(t.Messages, decodeMessage(d))
	}
	return t
}

// ReadMulti is pull mode in one round trip (READ_MULTI): for each entry, the messages of its
// timeline with seq > AfterSeq, oldest first, in request order. At most the server's
// FanoutTimelinesMax entries (10,000 by default). An entry with More set was cut short by a
// limit: ask again from its last message.
func (c *Client) ReadMulti(ctx context.Context, ns string, reads []TimelineAfter, limits ReadLimits) ([]TimelineRead, error) {
	if err := checkStrLen("namespace", ns); err != nil {
		return nil, err
	}
	e := newEncoder()
	e.str16(ns)
	e.u32(limits.TimelineLimit)
	e.u32(limits.Limit)
	e.u32(limits.BytesMax)
	e.u32(uint32(len(reads)))
	for _, r := range reads {
		if err := checkStrLen("timeline", r.Timeline); err != nil {
			return nil, err
		}
		e.str16(r.Timeline)
		e.u64(r.AfterSeq)
	}
	body, err := c.call(ctx, opReadMulti, e, nil)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	n := d.count(13) // a TimelineRead is at least 13 bytes
	out := make([]TimelineRead, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, decodeTimelineRead(&d))
	}
	return out, d.done()
}

// WaitRead is Wait answered with the messages it waited for (WAIT with its optional limit and
// bytes_max fields): one round trip. limits.Limit and limits.BytesMax bound the messages.
func (c *Client) WaitRead(ctx context.Context, ns, timeline string, afterSeq uint64, timeout time.Duration, limits ReadLimits) (WaitReadResult, error) {
	e, err := waitRequest(ns, timeline, afterSeq, timeout)
	if err != nil {
		return WaitReadResult{}, err
	}
	e.u32(limits.Limit)
	e.u32(limits.BytesMax)
	body, err := c.call(ctx, opWait, e, nil)
	if err != nil {
		return WaitReadResult{}, err
	}
	d := decoder{b: body}
	r := WaitReadResult{Ready: d.boolean()}
	r.Read = decodeTimelineRead(&d)
	return r, d.done()
}

// WaitChan is Wait delivered on a channel: it receives exactly one WaitResult (Err set on
// failure) and is then closed.
func (c *Client) WaitChan(ctx context.Context, ns, timeline string, afterSeq uint64, timeout time.Duration) <-chan WaitResult {
	ch := make(chan WaitResult, 1)
	go func() {
		r, err := c.Wait(ctx, ns, timeline, afterSeq, timeout)
		r.Err = err
		ch <- r
		close(ch)
	}()
	return ch
}

func encodeNamespaceOptions(e *encoder, o NamespaceOptions) {
	e.u64(o.TTLMs)
	e.u64(o.SegmentBytesMax)
	e.u8(uint8(o.Durability))
	e.u64(o.MessagesPerTimelineMax)
	e.u32(o.CompactLivePct)
	e.u32(o.CompressBlockBytes)
	e.i32(o.CompressLevel)
}

func decodeNamespaceOptions(d *decoder) NamespaceOptions {
	return NamespaceOptions{
		TTLMs:                  d.u64(),
		SegmentBytesMax:        d.u64(),
		Durability:             Durability(d.u8()),
		MessagesPerTimelineMax: d.u64(),
		CompactLivePct:         d.u32(),
		CompressBlockBytes:     d.u32(),
		CompressLevel:          d.i32(),
	}
}

func decodeNamespaceInfo(d *decoder) NamespaceInfo {
	return NamespaceInfo{
		Name:        d.str16(),
		ID:          d.u32(),
		Options:     decodeNamespaceOptions(d),
		Timelines:   d.u64(),
		Segments:    d.u64(),
		BytesOnDisk: d.u64(),
	}
}

// CreateNamespace creates a namespace (1..64 bytes of a-z 0-9 _ -). Creating an existing one
// with the same options succeeds; with other options: ErrAlreadyExists.
func (c *Client) CreateNamespace(ctx context.Context, name string, opts NamespaceOptions) error {
	if err := checkStrLen("namespace", name); err != nil {
		return err
	}
	e := newEncoder()
	e.str16(name)
	encodeNamespaceOptions(e, opts)
	body, err := c.call(ctx, opNsCreate, e, nil)
	if err != nil {
		return err
	}
	d := decoder{b: body}
	return d.done()
}

// ListNamespaces lists the namespaces the token can read.
func (c *Client) ListNamespaces(ctx context.Context) ([]NamespaceInfo, error) {
	body, err := c.call(ctx, opNsList, newEncoder(), nil)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	n := d.count(67)
	out := make([]NamespaceInfo, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, decodeNamespaceInfo(&d))
	}
	return out, d.done()
}

// DescribeNamespace describes one namespace.
func (c *Client) DescribeNamespace(ctx context.Context, name string) (NamespaceInfo, error) {
	if err := checkStrLen("namespace", name); err != nil {
		return NamespaceInfo{}, err
	}
	e := newEncoder()
	e.str16(name)
	body, err := c.call(ctx, opNsDescribe, e, nil)
	if err != nil {
		return NamespaceInfo{}, err
	}
	d := decoder{b: body}
	info := decodeNamespaceInfo(&d)
	return info, d.done()
}

// SetNamespaceOptions changes the fields of opts selected by mask and returns the namespace
// as it is after the change.
func (c *Client) SetNamespaceOptions(ctx context.Context, name string, mask OptionMask, opts NamespaceOptions) (NamespaceInfo, error) {
	if err := checkStrLen("namespace", name); err != nil {
		return NamespaceInfo{}, err
	}
	e := newEncoder()
	e.str16(name)
	e.u16(uint16(mask))
	encodeNamespaceOptions(e, opts)
	body, err := c.call(ctx, opNsSetOptions, e, nil)
	if err != nil {
		return NamespaceInfo{}, err
	}
	d := decoder{b: body}
	info := decodeNamespaceInfo(&d)
	return info, d.done()
}

// SetCursor moves a device's cursor in a timeline forward to seq (a lower seq changes
// nothing).
func (c *Client) SetCursor(ctx context.Context, device, ns, timeline string, seq uint64) (CursorResult, error) {
	return c.setCursor(ctx, device, ns, timeline, seq, false)
}

// ResetCursor stores seq as the device's cursor even when it is lower.
func (c *Client) ResetCursor(ctx context.Context, device, ns, timeline string, seq uint64) (CursorResult, error) {
	return c.setCursor(ctx, device, ns, timeline, seq, true)
}

func (c *Client) setCursor(ctx context.Context, device, ns, timeline string, seq uint64, reset bool) (CursorResult, error) {
	if err := checkStrs("device", device, "namespace", ns, "timeline", timeline); err != nil {
		return CursorResult{}, err
	}
	e := newEncoder()
	e.str16(device)
	e.str16(ns)
	e.str16(timeline)
	e.u64(seq)
	e.boolean(reset)
	body, err := c.call(ctx, opCursorSet, e, nil)
	if err != nil {
		return CursorResult{}, err
	}
	d := decoder{b: body}
	r := CursorResult{Cursor: d.u64(), Moved: d.boolean()}
	return r, d.done()
}

// GetCursors returns the device's cursor, the last seq and the unread count of each
// timeline, in request order.
func (c *Client) GetCursors(ctx context.Context, device, ns string, timelines []string) ([]CursorInfo, error) {
	if err := checkStrs("device", device, "namespace", ns); err != nil {
		return nil, err
	}
	if err := checkTimelines(timelines); err != nil {
		return nil, err
	}
	e := newEncoder()
	e.str16(device)
	e.str16(ns)
	e.strList(timelines)
	body, err := c.call(ctx, opCursorGet, e, nil)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	n := d.count(24)
	out := make([]CursorInfo, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, CursorInfo{Cursor: d.u64(), LastSeq: d.u64(), Unread: d.u64()})
	}
	return out, d.done()
}

// Mutate recalls, edits, trims or deletes (docs/protocol.md MUTATE). A delete-timeline with
// Seq 0 is resolved to the timeline's last seq first (LastSeq), so that a re-send cannot
// delete messages appended after the first attempt; a timeline that never had a message
// answers {0, Noop} without a request.
func (c *Client) Mutate(ctx context.Context, ns string, m Mutation) (MutationResult, error) {
	if err := checkStrs("namespace", ns, "timeline", m.Timeline); err != nil {
		return MutationResult{}, err
	}
	if m.Kind == MutationDeleteTimeline && m.Seq == 0 {
		last, err := c.LastSeq(ctx, ns, []string{m.Timeline})
		if err != nil {
			return MutationResult{}, err
		}
		if len(last) != 1 {
			return MutationResult{}, errMalformed
		}
		if last[0] == 0 {
			return MutationResult{Seq: 0, Noop: true}, nil
		}
		m.Seq = last[0]
	}
	e := newEncoder()
	e.u8(uint8(m.Kind))
	e.str16(ns)
	e.str16(m.Timeline)
	e.u64(m.Seq)
	e.u8(uint8(m.Durability))
	e.bytes32(m.Payload)
	body, err := c.call(ctx, opMutate, e, nil)
	if err != nil {
		return MutationResult{}, err
	}
	d := decoder{b: body}
	r := MutationResult{Seq: d.u64(), Noop: d.boolean()}
	return r, d.done()
}

// Recall deletes one message; Get then answers ErrDeleted.
func (c *Client) Recall(ctx context.Context, ns, timeline string, seq uint64) (MutationResult, error) {
	return c.Mutate(ctx, ns, Mutation{Kind: MutationRecall, Timeline: timeline, Seq: seq})
}

// Edit replaces a message's payload (its seq and timestamp stay).
func (c *Client) Edit(ctx context.Context, ns, timeline string, seq uint64, payload []byte) (MutationResult, error) {
	return c.Mutate(ctx, ns, Mutation{Kind: MutationEdit, Timeline: timeline, Seq: seq, Payload: payload})
}

// Trim deletes every message with a seq below keepFrom.
func (c *Client) Trim(ctx context.Context, ns, timeline string, keepFrom uint64) (MutationResult, error) {
	return c.Mutate(ctx, ns, Mutation{Kind: MutationTrim, Timeline: timeline, Seq: keepFrom})
}

// DeleteTimeline deletes every message with a seq up to throughSeq (0: through the last).
// Seqs are never reused: later appends continue after the old last seq.
func (c *Client) DeleteTimeline(ctx context.Context, ns, timeline string, throughSeq uint64) (MutationResult, error) {
	return c.Mutate(ctx, ns, Mutation{Kind: MutationDeleteTimeline, Timeline: timeline, Seq: throughSeq})
}

// Compact queues a compaction job of ns ("" = every namespace; full: also the newest
// messages) and returns its id; poll it with CompactStatus.
func (c *Client) Compact(ctx context.Context, ns string, full bool) (uint64, error) {
	if err := checkStrLen("namespace", ns); err != nil {
		return 0, err
	}
	e := newEncoder()
	e.str16(ns)
	e.boolean(full)
	body, err := c.call(ctx, opCompact, e, nil)
	if err != nil {
		return 0, err
	}
	d := decoder{b: body}
	id := d.u64()
	return id, d.done()
}

// CompactStatus reports a compaction job (jobID 0: the newest).
func (c *Client) CompactStatus(ctx context.Context, jobID uint64) (CompactionStatus, error) {
	e := newEncoder()
	e.u64(jobID)
	body, err := c.call(ctx, opCompactStatus, e, nil)
	if err != nil {
		return CompactionStatus{}, err
	}
	d := decoder{b: body}
	s := CompactionStatus{JobID: d.u64(), Namespace: d.str16(), Full: d.boolean(), State: CompactionState(d.u8())}
	code := Code(d.u16())
	msg := d.str16()
	if code != 0 {
		s.Err = &Error{Code: code, Message: msg}
	}
	s.Progress = CompactionProgress{
		SegmentsTotal: d.u64(), SegmentsDone: d.u64(), BytesRead: d.u64(), BytesWritten: d.u64(),
		RecordsKept: d.u64(), RecordsDropped: d.u64(), SegmentsExpired: d.u64(),
	}
	return s, d.done()
}

// WaitCompaction polls a job every interval until it is done or failed (the job's error).
func (c *Client) WaitCompaction(ctx context.Context, jobID uint64, interval time.Duration) (CompactionStatus, error) {
	for {
		s, err := c.CompactStatus(ctx, jobID)
		if err != nil {
			return s, err
		}
		switch s.State {
		case CompactionDone:
			return s, nil
		case CompactionFailed:
			if s.Err == nil {
				s.Err = errors.New("tldb: compaction failed")
			}
			return s, s.Err
		}
		select {
		case <-time.After(interval):
		case <-ctx.Done():
			return s, ctx.Err()
		}
	}
}
