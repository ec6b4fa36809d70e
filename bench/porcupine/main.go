// Command porcupine checks an edgeproof history (JSONL) for linearizability with Porcupine
// (github.com/anishathalye/porcupine), for bench/linearizability.py. Register ops only
// (read/write with integer or null values): ok ops took effect between invoke and completion,
// fail ops are dropped, info (or never completed) writes return at +infinity, info reads are
// dropped. One partition per key. Prints one JSON line: {"verdict","check_s","ops"}.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

type event struct {
	Process int      `json:"process"`
	Type    string   `json:"type"`
	F       string   `json:"f"`
	Key     string   `json:"key"`
	Value   *float64 `json:"value"`
	TimeNs  int64    `json:"time_ns"`
}

type val struct {
	set bool
	v   int64
}

type input struct {
	key   string
	write bool
	value val
}

func toVal(p *float64) val {
	if p == nil {
		return val{}
	}
	return val{true, int64(*p)}
}

func readOps(path string) ([]porcupine.Operation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	open := map[int]event{}
	var ops []porcupine.Operation
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			continue // torn tail
		}
		if ev.Type == "invoke" {
			open[ev.Process] = ev
			continue
		}
		inv, ok := open[ev.Process]
		if !ok {
			continue
		}
		delete(open, ev.Process)
		ops = appendOp(ops, inv, &ev)
	}
	for _, inv := range open {
		ops = appendOp(ops, inv, nil)
	}
	return ops, sc.Err()
}

func appendOp(ops []porcupine.Operation, inv event, comp *event) []porcupine.Operation {
	if (inv.F != "read" && inv.F != "write") || (comp != nil && comp.Type == "fail") {
		return ops
	}
	info := comp == nil || comp.Type != "ok"
	if info && inv.F == "read" {
		return ops
	}
	ret := int64(math.MaxInt64)
	if !info {
		ret = comp.TimeNs
	}
	in := input{key: inv.Key, write: inv.F == "write", value: toVal(inv.Value)}
	var out val
	if inv.F == "read" {
		out = toVal(comp.Value)
	}
	return append(ops, porcupine.Operation{ClientId: inv.Process, Input: in, Call: inv.TimeNs,
		Output: out, Return: ret})
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
	Step: func(state, in, out interface{}) (bool, interface{}) {
		i := in.(input)
		if i.write {
			return true, i.value
		}
		return out.(val) == state.(val), state
	},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: porcupine HISTORY.jsonl")
		os.Exit(2)
	}
	ops, err := readOps(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	t := time.Now()
	res := porcupine.CheckOperationsTimeout(model, ops, 30*time.Minute)
	el := time.Since(t).Seconds()
	fmt.Printf("{\"verdict\": %q, \"check_s\": %.6f, \"ops\": %d}\n", res, el, len(ops))
}
