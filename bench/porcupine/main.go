// Command porcupine checks an edgeproof history (JSONL) for linearizability with Porcupine
// (github.com/anishathalye/porcupine), for bench/linearizability.py.
//
// Register ops of any key: read, write and cas, whose values are integers or null (cas: an
// invoke value [expected, new]). Semantics as edgeproof's (harness/checks/lin/ops.py): an ok
// op took effect between invoke and completion; a fail op is dropped; an info (or never
// completed) write or cas may take effect at any time after its invoke, so it returns at
// +infinity and an info cas whose expected value does not match is a no-op; info reads are
// dropped. One partition per key. Other functions (ingest) are paired and skipped.
//
// It fails loudly (exit 2, the line and why) on any line it cannot parse, a value it cannot
// model, or a pairing error; only a torn last line is dropped, as edgeproof drops it.
// Prints one JSON line: {"verdict","read_s","check_s","ops","keys","lines"}.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
)

type event struct {
	Process json.RawMessage `json:"process"`
	Type    string          `json:"type"`
	F       string          `json:"f"`
	Key     json.RawMessage `json:"key"`
	Value   json.RawMessage `json:"value"`
	TimeNs  json.Number     `json:"time_ns"`
}

type val struct {
	set bool
	v   int64
}

type kind uint8

const (
	kRead kind = iota
	kWrite
	kCas
)

type input struct {
	key     string
	kind    kind
	value   val // write: the value; cas: the new value
	exp     val // cas: the expected value
	unknown bool
}

type pending struct {
	ev   event
	line int
}

func parseVal(raw json.RawMessage) (val, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return val{}, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return val{}, fmt.Errorf("value %s is not an integer or null", raw)
	}
	return val{true, n}, nil
}

func parseCas(raw json.RawMessage) (val, val, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return val{}, val{}, fmt.Errorf("cas value %s is not [expected, new]", raw)
	}
	exp, err := parseVal(pair[0])
	if err != nil {
		return val{}, val{}, err
	}
	nv, err := parseVal(pair[1])
	return exp, nv, err
}

func parseLine(b []byte) (event, error) {
	var ev event
	if err := json.Unmarshal(b, &ev); err != nil {
		return ev, err
	}
	if len(ev.Process) == 0 {
		return ev, errors.New("no 'process'")
	}
	switch ev.Type {
	case "invoke", "ok", "fail", "info":
	default:
		return ev, fmt.Errorf("'type' %q is not invoke, ok, fail or info", ev.Type)
	}
	if _, err := strconv.ParseInt(string(ev.TimeNs), 10, 64); err != nil {
		return ev, fmt.Errorf("'time_ns' %q is not an integer", ev.TimeNs)
	}
	return ev, nil
}

type reader struct {
	open  map[string]pending
	ops   []porcupine.Operation
	lines int
}

func (r *reader) add(ev event, line int) error {
	proc := string(ev.Process)
	if ev.Type == "invoke" {
		if p, ok := r.open[proc]; ok {
			return fmt.Errorf("line %d: process %s invokes again while its invoke on line %d "+
				"has no completion", line, proc, p.line)
		}
		r.open[proc] = pending{ev, line}
		return nil
	}
	inv, ok := r.open[proc]
	if !ok {
		return fmt.Errorf("line %d: process %s completes (%s) without an open invoke",
			line, proc, ev.Type)
	}
	delete(r.open, proc)
	return r.appendOp(inv, &ev)
}

func (r *reader) appendOp(inv pending, comp *event) error {
	f := inv.ev.F
	if f != "read" && f != "write" && f != "cas" {
		return nil
	}
	if comp != nil && comp.Type == "fail" {
		return nil
	}
	info := comp == nil || comp.Type != "ok"
	if info && f == "read" {
		return nil
	}
	if len(inv.ev.Key) == 0 {
		return fmt.Errorf("line %d: a %s needs a 'key'", inv.line, f)
	}
	in := input{key: string(inv.ev.Key), unknown: info}
	var out val
	var err error
	switch f {
	case "read":
		in.kind = kRead
		out, err = parseVal(comp.Value)
	case "write":
		in.kind = kWrite
		in.value, err = parseVal(inv.ev.Value)
	case "cas":
		in.kind = kCas
		in.exp, in.value, err = parseCas(inv.ev.Value)
	}
	if err != nil {
		return fmt.Errorf("line %d: %v", inv.line, err)
	}
	call, _ := strconv.ParseInt(string(inv.ev.TimeNs), 10, 64)
	ret := int64(math.MaxInt64)
	if !info {
		ret, _ = strconv.ParseInt(string(comp.TimeNs), 10, 64)
	}
	r.ops = append(r.ops, porcupine.Operation{ClientId: len(r.ops), Input: in, Call: call,
		Output: out, Return: ret})
	return nil
}

func readOps(path string) ([]porcupine.Operation, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := &reader{open: map[string]pending{}}
	br := bufio.NewReaderSize(f, 1<<20)
	var torn error
	tornLine := 0
	for {
		b, rerr := br.ReadBytes('\n')
		if len(b) > 0 {
			r.lines++
			if torn != nil { // a bad line followed by more lines: not a torn tail
				return nil, 0, fmt.Errorf("%s: line %d: %v", path, tornLine, torn)
			}
			if len(bytes.TrimSpace(b)) > 0 {
				ev, perr := parseLine(b)
				var syn *json.SyntaxError
				if perr != nil && errors.As(perr, &syn) {
					torn, tornLine = perr, r.lines
				} else if perr != nil {
					return nil, 0, fmt.Errorf("%s: line %d: %v", path, r.lines, perr)
				} else if err := r.add(ev, r.lines); err != nil {
					return nil, 0, fmt.Errorf("%s: %v", path, err)
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, 0, rerr
		}
	}
	if torn != nil {
		fmt.Fprintf(os.Stderr, "porcupine: %s: line %d torn (dropped): %v\n", path, tornLine, torn)
	}
	for _, inv := range r.open {
		if err := r.appendOp(inv, nil); err != nil {
			return nil, 0, fmt.Errorf("%s: %v", path, err)
		}
	}
	return r.ops, r.lines, nil
}

func step(state, in, out interface{}) (bool, interface{}) {
	i, s := in.(input), state.(val)
	switch i.kind {
	case kWrite:
		return true, i.value
	case kCas:
		if s == i.exp {
			return true, i.value
		}
		return i.unknown, s // an info cas that did not match: no effect
	default:
		return out.(val) == s, s
	}
}

var model = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(input).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, p := range byKey {
			out = append(out, p)
		}
		return out
	},
	Init: func() interface{} { return val{} },
	Step: step,
}

func keys(ops []porcupine.Operation) int {
	seen := map[string]bool{}
	for _, op := range ops {
		seen[op.Input.(input).key] = true
	}
	return len(seen)
}

func main() {
	timeout := flag.Duration("timeout", 30*time.Minute, "give up (verdict unknown) after this")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: porcupine [-timeout 30m] HISTORY.jsonl")
		os.Exit(2)
	}
	t0 := time.Now()
	ops, lines, err := readOps(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "porcupine:", err)
		os.Exit(2)
	}
	readS := time.Since(t0).Seconds()
	t := time.Now()
	res := porcupine.CheckOperationsTimeout(model, ops, *timeout)
	el := time.Since(t).Seconds()
	fmt.Printf("{\"verdict\": %q, \"read_s\": %.6f, \"check_s\": %.6f, \"ops\": %d, "+
		"\"keys\": %d, \"lines\": %d}\n", res, readS, el, len(ops), keys(ops), lines)
}
