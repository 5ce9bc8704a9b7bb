// Command robfig-oracle answers schedule questions with the real
// github.com/robfig/cron/v3 (v3.0.1, the version Kubernetes uses), for
// kronjob's differential test (tests/schedule_differential.rs).
//
// It reads one JSON object per line on stdin and writes one JSON object per
// line on stdout, in the same order:
//
//	in:  {"spec": "TZ=Europe/London 30 1 * * *", "at": 1700000000, "at_nanos": 0,
//	      "next": 3,
//	      "window": {"anchor": 1699990000, "after": 1699990000, "now": 1700090000}}
//	out: {"err": "parse error text"}                      on a parse error
//	     {"panic": "..."}                                 if Go panicked
//	     {"hang": true}                                   if Go did not answer in 5 s
//	     {"next": [1700011800, ...], "window": {...}}     otherwise
//
// "next" holds up to N results of iterating Next from "at"; a zero time ends
// the list with a null. "window" reports the slots in (after, now] of the
// sequence Next(anchor), Next(Next(anchor)), ... for @every schedules and of
// the sequence from "after" for cron specs (what Kubernetes iterates):
// {"never": true} when the first Next is zero, else {"latest": s|null,
// "count": min(count, 101)}; {"too_many": true} past "max_steps" iterations.
//
// Run it with TZ="" (Local = UTC, the controller's contract) and ZONEINFO
// pointing at the same TZif files the Rust side uses; time/tzdata is
// embedded only as a last resort.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

type windowQuery struct {
	Anchor   int64 `json:"anchor"`
	After    int64 `json:"after"`
	Now      int64 `json:"now"`
	MaxSteps int   `json:"max_steps"`
}

type query struct {
	Spec    string       `json:"spec"`
	At      int64        `json:"at"`
	AtNanos int64        `json:"at_nanos"`
	Next    int          `json:"next"`
	Window  *windowQuery `json:"window"`
}

type windowAnswer struct {
	Never   bool   `json:"never,omitempty"`
	TooMany bool   `json:"too_many,omitempty"`
	Latest  *int64 `json:"latest"`
	Count   int    `json:"count"`
}

type answer struct {
	Err    *string       `json:"err,omitempty"`
	Panic  *string       `json:"panic,omitempty"`
	Hang   *bool         `json:"hang,omitempty"`
	Next   []*int64      `json:"next,omitempty"`
	Window *windowAnswer `json:"window,omitempty"`
}

func answerQuery(q query) (a answer) {
	defer func() {
		if r := recover(); r != nil {
			s := fmt.Sprint(r)
			a = answer{Panic: &s}
		}
	}()
	sched, err := cron.ParseStandard(q.Spec)
	if err != nil {
		s := err.Error()
		return answer{Err: &s}
	}
	_, every := sched.(cron.ConstantDelaySchedule)
	t := time.Unix(q.At, q.AtNanos).In(time.Local)
	for i := 0; i < q.Next; i++ {
		t = sched.Next(t)
		if t.IsZero() {
			a.Next = append(a.Next, nil)
			break
		}
		u := t.Unix()
		a.Next = append(a.Next, &u)
	}
	if w := q.Window; w != nil {
		a.Window = window(sched, every, *w)
	}
	return a
}

// answerWithTimeout reports {"hang": true} for a query robfig does not
// answer within a few seconds: around some zone transitions SpecSchedule.Next
// loops forever. The spinning goroutine is abandoned.
func answerWithTimeout(q query) answer {
	done := make(chan answer, 1)
	go func() { done <- answerQuery(q) }()
	select {
	case a := <-done:
		return a
	case <-time.After(hangTimeout):
		t := true
		return answer{Hang: &t}
	}
}

const hangTimeout = 5 * time.Second

func window(sched cron.Schedule, every bool, w windowQuery) *windowAnswer {
	after := time.Unix(w.After, 0).In(time.Local)
	now := time.Unix(w.Now, 0).In(time.Local)
	start := after
	if every {
		start = time.Unix(w.Anchor, 0).In(time.Local)
	}
	maxSteps := w.MaxSteps
	if maxSteps <= 0 {
		maxSteps = 1_000_000
	}
	out := &windowAnswer{}
	t := start
	for steps := 0; ; steps++ {
		if steps >= maxSteps {
			return &windowAnswer{TooMany: true}
		}
		t = sched.Next(t)
		if t.IsZero() {
			if steps == 0 {
				return &windowAnswer{Never: true}
			}
			return out
		}
		if t.After(now) {
			return out
		}
		if t.After(after) {
			u := t.Unix()
			out.Latest = &u
			if out.Count < 101 {
				out.Count++
			}
		}
	}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for in.Scan() {
		var q query
		if err := json.Unmarshal(in.Bytes(), &q); err != nil {
			fmt.Fprintln(os.Stderr, "robfig-oracle: bad input line:", err)
			os.Exit(2)
		}
		if err := enc.Encode(answerWithTimeout(q)); err != nil {
			fmt.Fprintln(os.Stderr, "robfig-oracle:", err)
			os.Exit(2)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "robfig-oracle:", err)
		os.Exit(2)
	}
}
