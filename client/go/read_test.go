package tldb

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func payloads(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Payload)
	}
	return out
}

func eqStr(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// READ_MULTI and WAIT with messages against the worked examples of docs/protocol.md §8 (no
// server needed): the request bytes, and every field of the decoded answers.
func TestReadMultiWireMatchesProtocolExamples(t *testing.T) {
	e := newEncoder()
	e.str16("store")
	e.u32(1) // timeline_limit
	e.u32(0) // limit
	e.u32(0) // bytes_max
	e.u32(2)
	e.str16("g:1")
	e.u64(1)
	e.str16("g:2")
	e.u64(0)
	if got, want := e.finish(opReadMulti, 18), unhex(t, `
0000: 54 4c 01 23 00 00 00 00 12 00 00 00 00 00 00 00
0010: 31 00 00 00 05 00 73 74 6f 72 65 01 00 00 00 00
0020: 00 00 00 00 00 00 00 02 00 00 00 03 00 67 3a 31
0030: 01 00 00 00 00 00 00 00 03 00 67 3a 32 00 00 00
0040: 00 00 00 00 00`); !bytes.Equal(got, want) {
		t.Fatalf("READ_MULTI:\n%x\nwant\n%x", got, want)
	}
	resp := unhex(t, `
0000: 54 4c 01 23 01 00 00 00 12 00 00 00 00 00 00 00
0010: 36 00 00 00 02 00 00 00 03 00 00 00 00 00 00 00
0020: 01 01 00 00 00 02 00 00 00 00 00 00 00 09 3e b5
0030: 27 a2 01 00 00 00 00 02 00 00 00 68 69 00 00 00
0040: 00 00 00 00 00 00 00 00 00 00`)
	d := decoder{b: resp[headerSize:]}
	n := d.count(13)
	var got []TimelineRead
	for i := 0; i < n; i++ {
		got = append(got, decodeTimelineRead(&d))
	}
	if err := d.done(); err != nil || len(got) != 2 {
		t.Fatalf("READ_MULTI answer: %v, %d entries", err, len(got))
	}
	if got[0].LastSeq != 3 || !got[0].More || len(got[0].Messages) != 1 ||
		got[0].Messages[0].Seq != 2 || got[0].Messages[0].TimestampMs != 1795962519049 ||
		string(got[0].Messages[0].Payload) != "hi" || got[0].Messages[0].ClientMsgID != "" {
		t.Fatalf("entry 0: %+v", got[0])
	}
	if got[1].LastSeq != 0 || got[1].More || len(got[1].Messages) != 0 {
		t.Fatalf("entry 1: %+v", got[1])
	}

	e = newEncoder()
	e.str16("store")
	e.str16("c")
	e.u64(3)
	e.u32(30000)
	e.u32(100)
	e.u32(0)
	if got, want := e.finish(opWait, 19), unhex(t, `
0000: 54 4c 01 30 00 00 00 00 13 00 00 00 00 00 00 00
0010: 1e 00 00 00 05 00 73 74 6f 72 65 01 00 63 03 00
0020: 00 00 00 00 00 00 30 75 00 00 64 00 00 00 00 00
0030: 00 00`); !bytes.Equal(got, want) {
		t.Fatalf("WAIT with messages:\n%x\nwant\n%x", got, want)
	}
	wresp := unhex(t, `
0000: 54 4c 01 30 01 00 00 00 13 00 00 00 00 00 00 00
0010: 26 00 00 00 01 04 00 00 00 00 00 00 00 00 01 00
0020: 00 00 04 00 00 00 00 00 00 00 0a 3e b5 27 a2 01
0030: 00 00 00 00 02 00 00 00 79 6f`)
	d = decoder{b: wresp[headerSize:]}
	w := WaitReadResult{Ready: d.boolean()}
	w.Read = decodeTimelineRead(&d)
	if err := d.done(); err != nil || !w.Ready || w.Read.LastSeq != 4 || w.Read.More ||
		len(w.Read.Messages) != 1 || w.Read.Messages[0].Seq != 4 ||
		string(w.Read.Messages[0].Payload) != "yo" {
		t.Fatalf("WAIT with messages answer: %+v, %v", w, err)
	}
}

func TestReadMulti(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	a, b, none := uniqueTimeline("rm-a"), uniqueTimeline("rm-b"), uniqueTimeline("rm-none")
	appendN(t, c, a, 5)
	appendN(t, c, b, 3)
	r, err := c.ReadMulti(testCtx(t), ns, []TimelineAfter{{a, 2}, {b, 0}, {none, 0}, {a, 5}}, ReadLimits{})
	if err != nil || len(r) != 4 {
		t.Fatalf("ReadMulti: %v, %d entries", err, len(r))
	}
	if !eq(seqs(r[0].Messages), []uint64{3, 4, 5}) || !eqStr(payloads(r[0].Messages), []string{"m3", "m4", "m5"}) ||
		r[0].LastSeq != 5 || r[0].More {
		t.Fatalf("after 2: %+v", r[0])
	}
	if !eq(seqs(r[1].Messages), []uint64{1, 2, 3}) || r[1].LastSeq != 3 {
		t.Fatalf("after 0: %+v", r[1])
	}
	if len(r[2].Messages) != 0 || r[2].LastSeq != 0 || r[2].More {
		t.Fatalf("unknown timeline: %+v", r[2])
	}
	if len(r[3].Messages) != 0 || r[3].LastSeq != 5 {
		t.Fatalf("nothing after 5: %+v", r[3])
	}
	// Limits: 2 per timeline, 3 in all; More says which were cut short.
	r, err = c.ReadMulti(testCtx(t), ns, []TimelineAfter{{a, 0}, {b, 0}, {b, 2}}, ReadLimits{TimelineLimit: 2, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !eq(seqs(r[0].Messages), []uint64{1, 2}) || !r[0].More {
		t.Fatalf("per-timeline limit: %+v", r[0])
	}
	if !eq(seqs(r[1].Messages), []uint64{1}) || !r[1].More {
		t.Fatalf("total limit: %+v", r[1])
	}
	if len(r[2].Messages) != 0 || !r[2].More {
		t.Fatalf("past the total limit: %+v", r[2])
	}
	r, err = c.ReadMulti(testCtx(t), ns, []TimelineAfter{{a, 0}}, ReadLimits{BytesMax: 4})
	if err != nil || !eq(seqs(r[0].Messages), []uint64{1, 2}) || !r[0].More {
		t.Fatalf("bytes_max 4 over 2-byte payloads: %+v, %v", r, err)
	}
	// Bad input: an empty timeline key, more timelines than the server allows.
	if _, err := c.ReadMulti(testCtx(t), ns, []TimelineAfter{{"", 0}}, ReadLimits{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty timeline key: %v", err)
	}
	many := make([]TimelineAfter, c.ServerInfo().FanoutTimelinesMax+1)
	for i := range many {
		many[i] = TimelineAfter{a, 0}
	}
	if _, err := c.ReadMulti(testCtx(t), ns, many, ReadLimits{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("%d timelines: %v", len(many), err)
	}
	if _, err := c.ReadMulti(testCtx(t), "no_such_ns", []TimelineAfter{{a, 0}}, ReadLimits{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing namespace: %v", err)
	}
}

func TestWaitRead(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	w := dial(t, sharedServer(t).addr) // another client writes
	tl := uniqueTimeline("waitread")
	type res struct {
		r   WaitReadResult
		err error
	}
	ch := make(chan res, 1)
	go func() {
		r, err := c.WaitRead(testCtx(t), ns, tl, 0, 30*time.Second, ReadLimits{})
		ch <- res{r, err}
	}()
	if _, err := w.Append(testCtx(t), ns, tl, []byte("hi"), nil); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.err != nil || !r.r.Ready || r.r.Read.LastSeq != 1 ||
		!eqStr(payloads(r.r.Read.Messages), []string{"hi"}) {
		t.Fatalf("WAIT with messages woken by an append: %+v, %v", r.r, r.err)
	}
	r, err := c.WaitRead(testCtx(t), ns, tl, 1, 50*time.Millisecond, ReadLimits{})
	if err != nil || r.Ready || r.Read.LastSeq != 1 || len(r.Read.Messages) != 0 {
		t.Fatalf("WAIT with messages that times out: %+v, %v", r, err)
	}
	appendN(t, w, tl, 3) // seqs 2..4, payloads m1..m3
	r, err = c.WaitRead(testCtx(t), ns, tl, 1, time.Second, ReadLimits{Limit: 2})
	if err != nil || !r.Ready || !eq(seqs(r.Read.Messages), []uint64{2, 3}) || !r.Read.More || r.Read.LastSeq != 4 {
		t.Fatalf("WAIT with messages, limit 2: %+v, %v", r, err)
	}
	// The old form still answers without messages.
	if o, err := c.Wait(testCtx(t), ns, tl, 1, time.Second); err != nil || !o.Ready || o.LastSeq != 4 {
		t.Fatalf("WAIT: %+v, %v", o, err)
	}
}
