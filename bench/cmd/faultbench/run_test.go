package main

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseDefaults(t *testing.T) {
	o, err := parse(nil, env(map[string]string{"KUBECONFIG": "/k"}))
	if err != nil {
		t.Fatal(err)
	}
	if o.events != 10000 || o.rate != 25 || o.replicas != 3 || o.apiDown != 30*time.Second || !o.faults || !o.restore || o.keep ||
		o.namespace != "bench-faults" || o.kubeconfig != "/k" || !strings.HasSuffix(o.socket, ".cache/stack/run/containerd/containerd.sock") {
		t.Errorf("defaults: %+v", o)
	}
	o, err = parse([]string{"--events", "1000", "--rate", "8", "--faults=false", "--containerd-socket", "/s"}, env(map[string]string{"KUBECONFIG": "/k"}))
	if err != nil {
		t.Fatal(err)
	}
	if o.events != 1000 || o.rate != 8 || o.faults || o.socket != "/s" {
		t.Errorf("flags: %+v", o)
	}
}

func TestParseRejects(t *testing.T) {
	for name, args := range map[string][]string{
		"few events":          {"--events", "10"},
		"redeliver all":       {"--redeliver", "0.5"},
		"negative redeliver":  {"--redeliver", "-0.1"},
		"redeliver at once":   {"--redeliver-after", "0"},
		"no rate":             {"--rate", "0"},
		"one replica":         {"--replicas", "1"},
		"no repos":            {"--repos", "0"},
		"too many repos":      {"--repos", "65"},
		"negative retries":    {"--retries", "-1"},
		"no downtime":         {"--apiserver-down", "0s"},
		"no settle":           {"--settle", "0s"},
		"the builds ns":       {"--namespace", "slipway-builds"},
		"slipway's ns":        {"--namespace", "slipway"},
		"stray argument":      {"extra"},
		"unknown flag":        {"--nope"},
		"negative fault gap":  {"--fault-gap", "-1s"},
		"no drain timeout":    {"--drain-timeout", "0s"},
		"empty namespace":     {"--namespace", ""},
		"not a number events": {"--events", "many"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parse(args, env(map[string]string{"KUBECONFIG": "/k"})); err == nil {
				t.Errorf("parse(%q) accepted", args)
			}
		})
	}
	if _, err := parse(nil, env(nil)); err == nil || !strings.Contains(err.Error(), "kubeconfig") {
		t.Errorf("no kubeconfig: %v", err)
	}
}
