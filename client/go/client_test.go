package tldb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
)

const ns = "store" // created by tldb-server at start

func appendN(t *testing.T, c *Client, timeline string, n int) []AppendResult {
	t.Helper()
	out := make([]AppendResult, 0, n)
	for i := 1; i <= n; i++ {
		r, err := c.Append(testCtx(t), ns, timeline, []byte(fmt.Sprintf("m%d", i)), nil)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, r)
	}
	return out
}

func seqs(ms []Message) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func eq(a, b []uint64) bool {
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

func TestHandshakePingStats(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	info := c.ServerInfo()
	if info.Version != 1 || info.FrameBodyBytesMax == 0 || info.PayloadBytesMax == 0 || len(info.Grants) == 0 {
		t.Fatalf("HELLO answer: %+v", info)
	}
	if info.Grants[0].Namespace != "*" || info.Grants[0].Rights != RightRead|RightWrite|RightAdmin {
		t.Fatalf("grants without tokens: %+v", info.Grants)
	}
	got, err := c.Ping(testCtx(t), []byte("echo me"))
	if err != nil || string(got) != "echo me" {
		t.Fatalf("Ping: %q, %v", got, err)
	}
	st, err := c.Stats(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.IOBackend == "" || st.Counters["ops_ping"] == 0 || st.Counters["connections_open"] == 0 {
		t.Fatalf("Stats: backend %q, ops_ping %d, connections_open %d", st.IOBackend,
			st.Counters["ops_ping"], st.Counters["connections_open"])
	}
}

func TestAppendGetScan(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	tl := uniqueTimeline("conv")
	res := appendN(t, c, tl, 10)
	for i, r := range res {
		if r.Seq != uint64(i+1) || r.Deduplicated || r.ClientMsgID == "" || r.TimestampMs == 0 {
			t.Fatalf("append %d: %+v", i+1, r)
		}
	}
	m, err := c.Get(testCtx(t), ns, tl, 3)
	if err != nil || string(m.Payload) != "m3" || m.Seq != 3 || m.ClientMsgID != res[2].ClientMsgID {
		t.Fatalf("Get 3: %+v, %v", m, err)
	}
	if m.Time().IsZero() || m.TimestampMs != res[2].TimestampMs {
		t.Fatalf("timestamp %d, append said %d", m.TimestampMs, res[2].TimestampMs)
	}

	// Forward pages of 4: 1-4, 5-8, 9-10.
	var all []uint64
	from := uint64(1)
	for {
		page, err := c.Scan(testCtx(t), ns, tl, ScanOptions{FromSeq: from, Limit: 4})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 4 {
			t.Fatalf("page of %d above the limit", len(page))
		}
		all = append(all, seqs(page)...)
		from = page[len(page)-1].Seq + 1
	}
	if !eq(all, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("forward pages: %v", all)
	}

	latest, err := c.Latest(testCtx(t), ns, tl, 3)
	if err != nil || !eq(seqs(latest), []uint64{10, 9, 8}) {
		t.Fatalf("latest 3: %v, %v", seqs(latest), err)
	}
	prev, err := c.Scan(testCtx(t), ns, tl, ScanOptions{Direction: Backward, ToSeq: latest[2].Seq - 1, Limit: 3})
	if err != nil || !eq(seqs(prev), []uint64{7, 6, 5}) {
		t.Fatalf("the page before: %v, %v", seqs(prev), err)
	}
	bounded, err := c.Scan(testCtx(t), ns, tl, ScanOptions{FromSeq: 4, ToSeq: 6})
	if err != nil || !eq(seqs(bounded), []uint64{4, 5, 6}) {
		t.Fatalf("scan 4..6: %v, %v", seqs(bounded), err)
	}
	empty, err := c.Scan(testCtx(t), ns, uniqueTimeline("none"), ScanOptions{})
	if err != nil || len(empty) != 0 {
		t.Fatalf("scan of a missing timeline: %v, %v", empty, err)
	}

	last, err := c.LastSeq(testCtx(t), ns, []string{tl, uniqueTimeline("none")})
	if err != nil || !eq(last, []uint64{10, 0}) {
		t.Fatalf("LastSeq: %v, %v", last, err)
	}

	// expected_last_seq.
	ten, nine := uint64(10), uint64(9)
	if _, err := c.Append(testCtx(t), ns, tl, []byte("x"), &AppendOptions{ExpectedLastSeq: &nine}); !errors.Is(err, ErrConflict) {
		t.Fatalf("append expecting 9 when 10: %v", err)
	}
	r, err := c.Append(testCtx(t), ns, tl, []byte("m11"), &AppendOptions{ExpectedLastSeq: &ten, Durability: DurabilityBuffered})
	if err != nil || r.Seq != 11 {
		t.Fatalf("append expecting 10: %+v, %v", r, err)
	}
}

func TestErrorsMapToGoErrors(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	tl := uniqueTimeline("err")
	appendN(t, c, tl, 1)

	_, err := c.Get(testCtx(t), ns, tl, 2)
	var te *Error
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &te) || te.Code != CodeNotFound || te.Fatal {
		t.Fatalf("Get of a missing seq: %v", err)
	}
	if errors.Is(err, ErrDeleted) {
		t.Fatal("NOT_FOUND matches ErrDeleted")
	}
	if _, err := c.Get(testCtx(t), ns, tl, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Get of seq 0: %v", err)
	}
	if _, err := c.Get(testCtx(t), "no_such_ns", tl, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get in a missing namespace: %v", err)
	}
	big := make([]byte, c.ServerInfo().PayloadBytesMax+1)
	if _, err := c.Append(testCtx(t), ns, tl, big, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("payload above the limit: %v", err)
	}
	huge := make([]byte, c.ServerInfo().FrameBodyBytesMax+1)
	if _, err := c.Append(testCtx(t), ns, tl, huge, nil); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("frame above the limit: %v", err)
	}
	if _, err := c.Wait(testCtx(t), ns, tl, 0, 61*time.Second); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("WAIT above 60 s: %v", err)
	}
	// None of these closed the connection.
	if _, err := c.Get(testCtx(t), ns, tl, 1); err != nil {
		t.Fatalf("Get after the errors: %v", err)
	}
	if n := c.cur; n == nil || n.isDead() {
		t.Fatal("the connection was closed by a request error")
	}
}

func TestAppendRetryReturnsOriginalSeq(t *testing.T) {
	srv := sharedServer(t)
	c := dial(t, srv.addr)
	tl := uniqueTimeline("dedupe")
	first, err := c.Append(testCtx(t), ns, tl, []byte("once"), &AppendOptions{ClientMsgID: "msg-1"})
	if err != nil || first.Deduplicated {
		t.Fatalf("first append: %+v, %v", first, err)
	}
	appendN(t, c, tl, 2) // seqs 2, 3
	again, err := c.Append(testCtx(t), ns, tl, []byte("once"), &AppendOptions{ClientMsgID: "msg-1"})
	if err != nil || !again.Deduplicated || again.Seq != first.Seq || again.TimestampMs != first.TimestampMs {
		t.Fatalf("re-sent append: %+v (first %+v), %v", again, first, err)
	}
	if _, err := c.Append(testCtx(t), ns, tl, []byte("other"), &AppendOptions{ClientMsgID: "msg-1"}); !errors.Is(err, ErrClientMsgIDReused) {
		t.Fatalf("msg-1 reused with another payload: %v", err)
	}

	// An automatic retry: the proxy delivers the append to the server, then loses the answer
	// with the connection; the client reconnects and re-sends it with the same client_msg_id.
	p := startProxy(t, srv.addr, nil)
	pc := dial(t, p.addr())
	p.dropReplies.Store(true)
	done := make(chan struct{})
	var res AppendResult
	go func() {
		defer close(done)
		res, err = pc.Append(testCtx(t), ns, tl, []byte("retried"), nil)
	}()
	// Once the first attempt's connection is gone, let the next one through.
wait:
	for {
		select {
		case <-done:
			break wait
		case <-time.After(5 * time.Millisecond):
		}
		pc.mu.Lock()
		lost := pc.cur == nil || pc.cur.isDead()
		pc.mu.Unlock()
		if lost {
			p.dropReplies.Store(false)
		}
	}
	if p.accepted.Load() < 2 {
		t.Fatalf("the append was not re-sent on a new connection: %+v, %v", res, err)
	}
	if err != nil || !res.Deduplicated || res.Seq != 4 {
		t.Fatalf("retried append: %+v, %v (want seq 4, deduplicated)", res, err)
	}
	all, err := c.Scan(testCtx(t), ns, tl, ScanOptions{})
	if err != nil || !eq(seqs(all), []uint64{1, 2, 3, 4}) || string(all[3].Payload) != "retried" {
		t.Fatalf("timeline after the retry: %v, %v", seqs(all), err)
	}
}

func TestFanout(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	a, b, g := uniqueTimeline("inbox:a"), uniqueTimeline("inbox:b"), uniqueTimeline("group")
	appendN(t, c, b, 2)
	res, err := c.AppendFanout(testCtx(t), ns, []string{a, b, g}, []byte("to all"), &AppendOptions{ClientMsgID: "fan-1"})
	if err != nil || len(res) != 3 {
		t.Fatalf("fan-out: %+v, %v", res, err)
	}
	if res[0].Seq != 1 || res[1].Seq != 3 || res[2].Seq != 1 {
		t.Fatalf("fan-out seqs: %+v", res)
	}
	for i, tl := range []string{a, b, g} {
		m, err := c.Get(testCtx(t), ns, tl, res[i].Seq)
		if err != nil || string(m.Payload) != "to all" {
			t.Fatalf("Get %s: %+v, %v", tl, m, err)
		}
	}
	again, err := c.AppendFanout(testCtx(t), ns, []string{a, b, g}, []byte("to all"), &AppendOptions{ClientMsgID: "fan-1"})
	if err != nil || len(again) != 3 || !again[0].Deduplicated || again[1].Seq != 3 {
		t.Fatalf("re-sent fan-out: %+v, %v", again, err)
	}
	// Another order is the same fan-out: results in the retry's order.
	again, err = c.AppendFanout(testCtx(t), ns, []string{g, b, a}, []byte("to all"), &AppendOptions{ClientMsgID: "fan-1"})
	if err != nil || len(again) != 3 || !again[1].Deduplicated || again[0].Seq != 1 || again[1].Seq != 3 || again[2].Seq != 1 {
		t.Fatalf("fan-out re-sent in another order: %+v, %v", again, err)
	}
	// A superset, another payload, or an APPEND under the fan-out's id: refused, nothing written.
	x := uniqueTimeline("inbox:x")
	if _, err := c.AppendFanout(testCtx(t), ns, []string{a, b, g, x}, []byte("to all"), &AppendOptions{ClientMsgID: "fan-1"}); !errors.Is(err, ErrClientMsgIDReused) {
		t.Fatalf("superset fan-out: %v", err)
	}
	if _, err := c.AppendFanout(testCtx(t), ns, []string{a, b, g}, []byte("changed"), &AppendOptions{ClientMsgID: "fan-1"}); !errors.Is(err, ErrClientMsgIDReused) {
		t.Fatalf("fan-out with another payload: %v", err)
	}
	if _, err := c.Append(testCtx(t), ns, b, []byte("to all"), &AppendOptions{ClientMsgID: "fan-1"}); !errors.Is(err, ErrClientMsgIDReused) {
		t.Fatalf("append under a fan-out's id: %v", err)
	}
	last, err := c.LastSeq(testCtx(t), ns, []string{a, b, g, x})
	if err != nil || !eq(last, []uint64{1, 3, 1, 0}) {
		t.Fatalf("last seqs after the refused reuses: %v, %v", last, err)
	}
}

func TestMutations(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	ctx := testCtx(t)
	tl := uniqueTimeline("mut")
	appendN(t, c, tl, 6)

	r, err := c.Recall(ctx, ns, tl, 2)
	if err != nil || r.Seq != 2 || r.Noop {
		t.Fatalf("recall: %+v, %v", r, err)
	}
	if _, err := c.Get(ctx, ns, tl, 2); !errors.Is(err, ErrDeleted) {
		t.Fatalf("Get of a recalled message: %v", err)
	}
	if r, err := c.Recall(ctx, ns, tl, 2); err != nil || !r.Noop {
		t.Fatalf("recall again: %+v, %v", r, err)
	}
	if _, err := c.Recall(ctx, ns, tl, 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("recall of a seq the timeline never had: %v", err)
	}

	if r, err := c.Edit(ctx, ns, tl, 3, []byte("edited")); err != nil || r.Seq != 3 {
		t.Fatalf("edit: %+v, %v", r, err)
	}
	m, err := c.Get(ctx, ns, tl, 3)
	if err != nil || string(m.Payload) != "edited" || m.Seq != 3 {
		t.Fatalf("Get after edit: %+v, %v", m, err)
	}
	if _, err := c.Edit(ctx, ns, tl, 2, []byte("x")); !errors.Is(err, ErrDeleted) {
		t.Fatalf("edit of a recalled message: %v", err)
	}

	if r, err := c.Trim(ctx, ns, tl, 4); err != nil || r.Seq != 4 {
		t.Fatalf("trim: %+v, %v", r, err)
	}
	all, err := c.Scan(ctx, ns, tl, ScanOptions{})
	if err != nil || !eq(seqs(all), []uint64{4, 5, 6}) {
		t.Fatalf("after trim: %v, %v", seqs(all), err)
	}
	if _, err := c.Get(ctx, ns, tl, 3); !errors.Is(err, ErrDeleted) {
		t.Fatalf("Get of a trimmed message: %v", err)
	}

	if r, err := c.DeleteTimeline(ctx, ns, tl, 0); err != nil || r.Seq != 6 || r.Noop {
		t.Fatalf("delete-timeline: %+v, %v", r, err)
	}
	if all, err := c.Scan(ctx, ns, tl, ScanOptions{}); err != nil || len(all) != 0 {
		t.Fatalf("after delete-timeline: %v, %v", seqs(all), err)
	}
	if r, err := c.DeleteTimeline(ctx, ns, tl, 0); err != nil || !r.Noop || r.Seq != 6 {
		t.Fatalf("delete-timeline again: %+v, %v", r, err)
	}
	a, err := c.Append(ctx, ns, tl, []byte("after"), nil)
	if err != nil || a.Seq != 7 {
		t.Fatalf("append after delete-timeline: %+v, %v (seqs are never reused)", a, err)
	}
	if r, err := c.DeleteTimeline(ctx, ns, uniqueTimeline("never"), 0); err != nil || !r.Noop || r.Seq != 0 {
		t.Fatalf("delete-timeline of a timeline that never existed: %+v, %v", r, err)
	}
	if _, err := c.Trim(ctx, ns, tl, 100); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("trim past the last seq: %v", err)
	}
}

func TestCursors(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	ctx := testCtx(t)
	tl, other := uniqueTimeline("cur"), uniqueTimeline("cur-other")
	appendN(t, c, tl, 5)
	dev := "phone-" + tl[len(tl)-6:]
	r, err := c.SetCursor(ctx, dev, ns, tl, 3)
	if err != nil || r.Cursor != 3 || !r.Moved {
		t.Fatalf("SetCursor 3: %+v, %v", r, err)
	}
	if r, err := c.SetCursor(ctx, dev, ns, tl, 2); err != nil || r.Cursor != 3 || r.Moved {
		t.Fatalf("SetCursor backwards: %+v, %v", r, err)
	}
	if _, err := c.SetCursor(ctx, dev, ns, tl, 6); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("SetCursor past the last seq: %v", err)
	}
	cur, err := c.GetCursors(ctx, dev, ns, []string{tl, other})
	if err != nil || len(cur) != 2 || cur[0] != (CursorInfo{Cursor: 3, LastSeq: 5, Unread: 2}) || cur[1] != (CursorInfo{}) {
		t.Fatalf("GetCursors: %+v, %v", cur, err)
	}
	if r, err := c.ResetCursor(ctx, dev, ns, tl, 1); err != nil || r.Cursor != 1 || !r.Moved {
		t.Fatalf("ResetCursor 1: %+v, %v", r, err)
	}
}

func TestNamespacesAndCompaction(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	ctx := testCtx(t)
	name := fmt.Sprintf("gons_%d", time.Now().UnixNano()%1000000)
	opts := NamespaceOptions{TTLMs: 0, MessagesPerTimelineMax: 1000}
	if err := c.CreateNamespace(ctx, name, opts); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateNamespace(ctx, name, opts); err != nil {
		t.Fatalf("creating it again with the same options: %v", err)
	}
	if err := c.CreateNamespace(ctx, name, NamespaceOptions{MessagesPerTimelineMax: 5}); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("creating it with other options: %v", err)
	}
	info, err := c.DescribeNamespace(ctx, name)
	// The zero fields asked for the defaults.
	if err != nil || info.Name != name || info.Options.MessagesPerTimelineMax != 1000 || info.Options.Durability != DurabilitySync ||
		info.Options.CompactLivePct != 50 || info.Options.SegmentBytesMax != 64<<20 || info.Options.CompressLevel != 1 {
		t.Fatalf("describe: %+v, %v", info, err)
	}
	list, err := c.ListNamespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range list {
		found = found || n.Name == name
		if len(n.Name) >= 2 && n.Name[:2] == "__" {
			t.Fatalf("system namespace listed: %s", n.Name)
		}
	}
	if !found {
		t.Fatalf("%s not in NS_LIST: %+v", name, list)
	}
	if _, err := c.DescribeNamespace(ctx, "no_such_ns"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("describe of a missing namespace: %v", err)
	}

	tl := "t"
	for i := 0; i < 5; i++ {
		if _, err := c.Append(ctx, name, tl, []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	info, err = c.SetNamespaceOptions(ctx, name, SetMessagesPerTimelineMax|SetTTL, NamespaceOptions{MessagesPerTimelineMax: 2, TTLMs: 86_400_000})
	if err != nil || info.Options.MessagesPerTimelineMax != 2 || info.Options.TTLMs != 86_400_000 || info.Timelines != 1 {
		t.Fatalf("set options: %+v, %v", info, err)
	}
	if _, err := c.Get(ctx, name, tl, 1); !errors.Is(err, ErrDeleted) {
		t.Fatalf("Get beyond messages_per_timeline_max: %v", err)
	}
	if all, err := c.Scan(ctx, name, tl, ScanOptions{}); err != nil || !eq(seqs(all), []uint64{4, 5}) {
		t.Fatalf("scan after the limit: %v, %v", seqs(all), err)
	}

	job, err := c.Compact(ctx, name, true)
	if err != nil || job == 0 {
		t.Fatalf("compact: %d, %v", job, err)
	}
	st, err := c.WaitCompaction(ctx, job, 20*time.Millisecond)
	if err != nil || st.State != CompactionDone || st.Namespace != name || !st.Full || st.JobID != job {
		t.Fatalf("compaction: %+v, %v", st, err)
	}
	if _, err := c.Compact(ctx, "no_such_ns", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("compact of a missing namespace: %v", err)
	}
	if all, err := c.Scan(ctx, name, tl, ScanOptions{}); err != nil || !eq(seqs(all), []uint64{4, 5}) {
		t.Fatalf("scan after compaction: %v, %v", seqs(all), err)
	}
}

// TestPipelining keeps 1,000 WAITs in flight on one connection, all answered by one append.
func TestPipelining(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	tl := uniqueTimeline("pipe")
	const n = 1000
	if max := c.ServerInfo().InflightRequestsMax; max < n+1 {
		t.Fatalf("server allows %d requests in flight", max)
	}
	chans := make([]<-chan WaitResult, n)
	for i := range chans {
		chans[i] = c.WaitChan(testCtx(t), ns, tl, 0, 60*time.Second)
	}
	// Every WAIT is in flight (sent, unanswered) before the append that wakes them.
	for {
		c.cur.mu.Lock()
		inflight := len(c.cur.pending)
		c.cur.mu.Unlock()
		if inflight == n {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := c.Append(testCtx(t), ns, tl, []byte("wake"), nil); err != nil {
		t.Fatal(err)
	}
	for i, ch := range chans {
		r := <-ch
		if r.Err != nil || !r.Ready || r.LastSeq != 1 {
			t.Fatalf("WAIT %d: %+v", i, r)
		}
	}

	// 1,000 appends from 1,000 goroutines on the same connection: every seq once.
	var wg sync.WaitGroup
	got := make([]uint64, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := c.Append(testCtx(t), ns, tl, []byte(fmt.Sprint(i)), nil)
			got[i], errs[i] = r.Seq, err
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	for i, s := range got {
		if s != uint64(i+2) {
			t.Fatalf("seqs: %v ...", got[:i+1])
		}
	}
	c.cur.mu.Lock()
	peak := c.cur.maxPend
	c.cur.mu.Unlock()
	if peak < n {
		t.Fatalf("at most %d requests were in flight", peak)
	}
}

func TestContextTimeoutAndCancel(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	tl := uniqueTimeline("ctx")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Wait(ctx, ns, tl, 0, 30*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WAIT past the context's deadline: %v", err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	ch := c.WaitChan(ctx2, ns, tl, 0, 30*time.Second)
	cancel2()
	if r := <-ch; !errors.Is(r.Err, context.Canceled) {
		t.Fatalf("cancelled WAIT: %+v", r)
	}
	if _, ok := <-ch; ok {
		t.Fatal("WaitChan's channel not closed after its result")
	}
	// The connection is still usable, and late answers are discarded.
	if _, err := c.Ping(testCtx(t), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Append(testCtx(t), ns, tl, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Wait(testCtx(t), ns, tl, 0, 30*time.Second); err != nil || !r.Ready {
		t.Fatalf("WAIT after: %+v, %v", r, err)
	}
}

func TestWaitOnChannel(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	tl := uniqueTimeline("wait")
	ch := c.WaitChan(testCtx(t), ns, tl, 0, 30*time.Second)
	w := dial(t, sharedServer(t).addr) // another client writes
	if _, err := w.Append(testCtx(t), ns, tl, []byte("hi"), nil); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.Err != nil || !r.Ready || r.LastSeq != 1 {
		t.Fatalf("WAIT woken by an append: %+v", r)
	}
	r, err := c.Wait(testCtx(t), ns, tl, 1, 50*time.Millisecond)
	if err != nil || r.Ready || r.LastSeq != 1 {
		t.Fatalf("WAIT that times out: %+v, %v", r, err)
	}
	if r, err := c.Wait(testCtx(t), ns, tl, 0, time.Second); err != nil || !r.Ready {
		t.Fatalf("WAIT for an existing message: %+v, %v", r, err)
	}
}

func receive(t *testing.T, s *Subscription, n int) []PushMessage {
	t.Helper()
	var out []PushMessage
	deadline := time.After(60 * time.Second)
	for len(out) < n {
		select {
		case m, ok := <-s.C:
			if !ok {
				t.Fatalf("subscription closed after %d of %d messages: %v", len(out), n, s.Err())
			}
			out = append(out, m)
		case <-deadline:
			t.Fatalf("received %d of %d messages in 60 s", len(out), n)
		}
	}
	return out
}

func pushSeqs(ms []PushMessage) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func TestSubscribe(t *testing.T) {
	srv := sharedServer(t)
	c := dial(t, srv.addr)
	w := dial(t, srv.addr)
	tl := uniqueTimeline("sub")
	appendN(t, w, tl, 3)

	all, err := c.Subscribe(testCtx(t), ns, tl, 1)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := c.SubscribeLatest(testCtx(t), ns, tl)
	if err != nil || latest.StartAfter() != 3 {
		t.Fatalf("SubscribeLatest: start %d, %v", latest.StartAfter(), err)
	}
	got := receive(t, all, 2) // the backfill: 2, 3
	if !eq(pushSeqs(got), []uint64{2, 3}) || got[0].Namespace != ns || got[0].Timeline != tl || string(got[1].Payload) != "m3" {
		t.Fatalf("backfill: %+v", got)
	}
	appendN(t, w, tl, 2) // payloads m1, m2 again; seqs 4, 5
	if got := receive(t, all, 2); !eq(pushSeqs(got), []uint64{4, 5}) {
		t.Fatalf("live pushes: %v", pushSeqs(got))
	}
	if got := receive(t, latest, 2); !eq(pushSeqs(got), []uint64{4, 5}) {
		t.Fatalf("pushes from the latest: %v", pushSeqs(got))
	}
	if err := latest.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	for range latest.C {
	}
	if !errors.Is(latest.Err(), ErrSubscriptionClosed) {
		t.Fatalf("Err after Close: %v", latest.Err())
	}
	if _, err := c.Subscribe(testCtx(t), "no_such_ns", tl, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("subscribing in a missing namespace: %v", err)
	}
	if _, err := w.Append(testCtx(t), ns, tl, []byte("six"), nil); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, all, 1); got[0].Seq != 6 {
		t.Fatalf("after another subscription closed: %v", pushSeqs(got))
	}
}

// TestSubscribeBeyondBackfill subscribes further back than the server pushes (1,000 messages):
// the client reads the rest with SCAN, without a gap.
func TestSubscribeBeyondBackfill(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	tl := uniqueTimeline("backfill")
	const n = 1500
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Append(ctx, ns, tl, []byte("b"), &AppendOptions{Durability: DurabilityBuffered}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s, err := c.Subscribe(ctx, ns, tl, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	got := receive(t, s, n)
	for i, m := range got {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	srv := startServer(t, filepath.Join(t.TempDir(), "data"))
	defer srv.stop()
	c := dial(t, srv.addr)
	tl := uniqueTimeline("restart")
	first, err := c.Append(testCtx(t), ns, tl, []byte("before"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.Subscribe(testCtx(t), ns, tl, first.Seq)
	if err != nil {
		t.Fatal(err)
	}

	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if err := srv.start(); err != nil { // same port, same data
		t.Fatal(err)
	}

	m, err := c.Get(testCtx(t), ns, tl, first.Seq)
	if err != nil || string(m.Payload) != "before" {
		t.Fatalf("Get after the restart: %+v, %v", m, err)
	}
	w := dial(t, srv.addr)
	second, err := w.Append(testCtx(t), ns, tl, []byte("after"), nil)
	if err != nil || second.Seq != first.Seq+1 {
		t.Fatalf("append after the restart: %+v, %v", second, err)
	}
	got := receive(t, sub, 1) // the subscription was re-established from the last seq
	if got[0].Seq != second.Seq || string(got[0].Payload) != "after" {
		t.Fatalf("push after the restart: %+v", got[0])
	}
	// A retry of the first append (same client_msg_id) on the new connection.
	again, err := c.Append(testCtx(t), ns, tl, []byte("before"), &AppendOptions{ClientMsgID: first.ClientMsgID})
	if err != nil || !again.Deduplicated || again.Seq != first.Seq {
		t.Fatalf("re-sent append after the restart: %+v, %v", again, err)
	}
}

func TestTokens(t *testing.T) {
	srv := startServer(t, filepath.Join(t.TempDir(), "data"),
		"--token", "reader:r-secret:r=store", "--token", "admin:a-secret:admin=*")
	defer srv.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Dial(ctx, Options{Addr: srv.addr, Token: "wrong"}); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("Dial with a wrong token: %v", err)
	}
	r := dial(t, srv.addr, func(o *Options) { o.Token = "r-secret" })
	if g := r.ServerInfo().Grants; len(g) != 1 || g[0].Namespace != "store" || g[0].Rights != RightRead {
		t.Fatalf("reader's grants: %+v", g)
	}
	if _, err := r.Append(testCtx(t), ns, "t", []byte("x"), nil); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("append with a read-only token: %v", err)
	}
	a := dial(t, srv.addr, func(o *Options) { o.Token = "a-secret" })
	if _, err := a.Append(testCtx(t), ns, "t", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if m, err := r.Get(testCtx(t), ns, "t", 1); err != nil || !bytes.Equal(m.Payload, []byte("x")) {
		t.Fatalf("Get with a read token: %+v, %v", m, err)
	}
}

func TestCloseEndsCallsAndSubscriptions(t *testing.T) {
	c := dial(t, sharedServer(t).addr)
	tl := uniqueTimeline("close")
	s, err := c.SubscribeLatest(testCtx(t), ns, tl)
	if err != nil {
		t.Fatal(err)
	}
	ch := c.WaitChan(testCtx(t), ns, tl, 0, 30*time.Second)
	for {
		c.cur.mu.Lock()
		n := len(c.cur.pending)
		c.cur.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Close()
	if r := <-ch; !errors.Is(r.Err, ErrClientClosed) {
		t.Fatalf("WAIT in flight at Close: %+v", r)
	}
	for range s.C {
	}
	if !errors.Is(s.Err(), ErrSubscriptionClosed) {
		t.Fatalf("subscription after Close: %v", s.Err())
	}
	if _, err := c.Ping(testCtx(t), nil); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}
